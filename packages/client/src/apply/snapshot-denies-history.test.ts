import { describe, expect, it } from 'vitest';
import { snapshotDeniesHistory } from './hydrate.js';

const file = (checkpoint: number, checkpointToken: string | null = null) => ({
  checkpoint,
  checkpointToken,
});
const snapshot = (snapshotBundleSeq: number, token: string | null = null) => ({
  snapshotBundleSeq,
  token,
});

describe('snapshotDeniesHistory', () => {
  it('takes a snapshot that ends before the checkpoint for a lost history', () => {
    expect(snapshotDeniesHistory(file(25, 't25'), snapshot(2, 't2'))).toBe(true);
    expect(snapshotDeniesHistory(file(25), snapshot(24))).toBe(true);
  });

  it('takes a snapshot at the checkpoint under another token for a lost history', () => {
    expect(snapshotDeniesHistory(file(7, 'ours'), snapshot(7, 'theirs'))).toBe(true);
  });

  it('finds nothing wrong with a snapshot at or past the checkpoint on the same history', () => {
    expect(snapshotDeniesHistory(file(7, 'ours'), snapshot(7, 'ours'))).toBe(false);
    expect(snapshotDeniesHistory(file(7, 'ours'), snapshot(9, 'later'))).toBe(false);
    expect(snapshotDeniesHistory(file(0), snapshot(0))).toBe(false);
  });

  it('cannot compare tokens one side lacks (an older server), and does not guess', () => {
    expect(snapshotDeniesHistory(file(7), snapshot(7, 'theirs'))).toBe(false);
    expect(snapshotDeniesHistory(file(7, 'ours'), snapshot(7))).toBe(false);
  });

  it('takes the server’s word that the checkpoint it was asked about is not on its history, even past it', () => {
    const lost = { ...snapshot(9, 'later'), after: { seq: 7, history: 'lost' as const } };
    expect(snapshotDeniesHistory(file(7, 'ours'), lost)).toBe(true);
  });

  it('finds nothing wrong when the server kept or pruned the checkpoint, or judged another one', () => {
    for (const history of ['kept', 'pruned'] as const) {
      const judged = { ...snapshot(9, 'later'), after: { seq: 7, history } };
      expect(snapshotDeniesHistory(file(7, 'ours'), judged), history).toBe(false);
    }
    const other = { ...snapshot(9, 'later'), after: { seq: 6, history: 'lost' as const } };
    expect(snapshotDeniesHistory(file(7, 'ours'), other)).toBe(false);
  });

  it('takes the server’s word that the bases point it was asked about is not on its history', () => {
    const lost = { ...snapshot(12, 'new'), after: { seq: 9, history: 'lost' as const } };
    expect(snapshotDeniesHistory({ ...file(7, 'ours'), basesPoint: 9 }, lost)).toBe(true);
    const kept = { ...snapshot(12, 'new'), after: { seq: 9, history: 'kept' as const } };
    expect(snapshotDeniesHistory({ ...file(7, 'ours'), basesPoint: 9 }, kept)).toBe(false);
  });
});
