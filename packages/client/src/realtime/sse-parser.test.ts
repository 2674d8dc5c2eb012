import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../scheduler/seeded-random.js';
import { createSseParser, type SseItem } from './sse-parser.js';

/** Every feature in one stream: BOM, all three line ends, comments, multi-line data, ids,
 * retry, an unknown field, a field without a colon, non-ASCII text, an event without data. */
const FIXTURE =
  '\uFEFF: heartbeat\r\n' +
  '\r\n' +
  'event: poke\r\n' +
  'data: {"bundleSeq": 58}\r\n' +
  '\r\n' +
  'retry: 2500\n' +
  'id: 7\n' +
  'data: first line\n' +
  'data:second line without space\n' +
  'data\n' +
  'unknown: field\n' +
  '\n' +
  ':no-space comment\r' +
  'event: poke\r' +
  'data: ünïcødé ✓ 日本 🚀\r' +
  '\r' +
  'event: lonely\n' +
  '\n' +
  'id: bad\0id\n' +
  'data:  two spaces\n' +
  '\n' +
  'data: unterminated';

const EXPECTED: SseItem[] = [
  { type: 'comment', text: 'heartbeat' },
  { type: 'event', event: 'poke', data: '{"bundleSeq": 58}', lastEventId: '' },
  { type: 'retry', ms: 2_500 },
  {
    type: 'event',
    event: 'message',
    data: 'first line\nsecond line without space\n',
    lastEventId: '7',
  },
  { type: 'comment', text: 'no-space comment' },
  { type: 'event', event: 'poke', data: 'ünïcødé ✓ 日本 🚀', lastEventId: '7' },
  { type: 'event', event: 'message', data: ' two spaces', lastEventId: '7' },
];

const BYTES = new TextEncoder().encode(FIXTURE);

function parseChunks(chunks: ReadonlyArray<Uint8Array | string>): SseItem[] {
  const parser = createSseParser();
  const items = chunks.flatMap((chunk) => parser.push(chunk));
  return [...items, ...parser.end()];
}

describe('the SSE parser', () => {
  it('parses the whole fixture in one chunk', () => {
    expect(parseChunks([BYTES])).toEqual(EXPECTED);
    expect(parseChunks([FIXTURE])).toEqual(EXPECTED);
  });

  it('gives the same items with a chunk boundary at every byte position', () => {
    for (let cut = 0; cut <= BYTES.length; cut++) {
      expect(parseChunks([BYTES.subarray(0, cut), BYTES.subarray(cut)]), `cut at ${cut}`).toEqual(
        EXPECTED,
      );
    }
  });

  it('gives the same items with every pair of boundaries', () => {
    for (let a = 0; a <= BYTES.length; a++) {
      for (let b = a; b <= BYTES.length; b++) {
        const chunks = [BYTES.subarray(0, a), BYTES.subarray(a, b), BYTES.subarray(b)];
        const items = parseChunks(chunks);
        if (JSON.stringify(items) !== JSON.stringify(EXPECTED)) {
          expect(items, `cuts at ${a} and ${b}`).toEqual(EXPECTED);
        }
      }
    }
  });

  it('gives the same items fed one byte, or one character, at a time', () => {
    expect(parseChunks(Array.from(BYTES, (byte) => Uint8Array.of(byte)))).toEqual(EXPECTED);
    expect(parseChunks([...FIXTURE])).toEqual(EXPECTED);
  });

  it('gives the same items for random chunkings', () => {
    const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`SSE parser random chunking: SEED=${seed}`);
    const random = createSeededRandom(seed);
    for (let round = 0; round < 500; round++) {
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < BYTES.length;) {
        const size = 1 + Math.floor(random() * 12);
        chunks.push(BYTES.subarray(at, at + size));
        at += size;
      }
      expect(parseChunks(chunks), `seed ${seed}, round ${round}`).toEqual(EXPECTED);
    }
  });

  it('treats \\r\\n split across chunks as one line end, not two', () => {
    const parser = createSseParser();
    expect(parser.push('data: a\r')).toEqual([]);
    expect(parser.push('\n')).toEqual([]);
    expect(parser.push('\r\n')).toEqual([
      { type: 'event', event: 'message', data: 'a', lastEventId: '' },
    ]);
  });

  it('keeps parsing after end() as a fresh stream', () => {
    const parser = createSseParser();
    parser.push('event: poke\ndata: 1');
    expect(parser.end()).toEqual([]);
    expect(parser.push('\uFEFFdata: 2\n\n')).toEqual([
      { type: 'event', event: 'message', data: '2', lastEventId: '' },
    ]);
  });

  it('ignores a retry that is not all digits', () => {
    expect(parseChunks(['retry: 10s\nretry: -5\nretry:\n'])).toEqual([]);
  });
});
