import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('a run that stalls its process', () => {
  it('ends as a value, gives the Date back, and the process runs the next seed', async () => {
    const script = fileURLToPath(new URL('./test-support/stall-then-run.ts', import.meta.url));
    const { code, stdout, stderr } = await new Promise<{
      code: number;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--conditions=@ferry/source', script],
        { timeout: 120_000 },
        (error, out, err) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out, stderr: err }),
      );
    });
    const stages = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // Without the guard Node ends the process at the stall: exit code 13, no later stage.
    expect({ code, stages, stderr: stderr.slice(0, 400) }).toEqual({
      code: 0,
      stages: [
        { stage: 'waiting' },
        { stage: 'stalled', realDate: true },
        { stage: 'ran', seeds: 1 },
      ],
      stderr: '',
    });
  }, 120_000);
});
