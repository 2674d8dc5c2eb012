import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bundleDigest } from '@ferry/protocol';
import { genesisToken, nextHistoryToken, pushDigest, type TokenedBundle } from './history-token.js';

const SERVER = '0f3c7a8e-5b1d-4c2a-9e6f-1a2b3c4d5e6f';
const bundle: TokenedBundle = {
  bundleSeq: 7,
  sourceId: '7d3c2a1b-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  sourceBundleId: 3,
  rowsJson: '[{"table":"lists","pk":"x","op":"delete","rowVersion":7,"row":null}]',
};

describe('history tokens', () => {
  it('are the documented sha-256 over the previous token, the seq and the content', () => {
    const previous = genesisToken(SERVER, 'alice');
    expect(previous).toBe(
      createHash('sha256').update(`ferry-history\n${SERVER}\nalice`).digest('hex'),
    );
    expect(nextHistoryToken(previous, bundle)).toBe(
      createHash('sha256')
        .update(`${previous}\n7\n${bundle.sourceId}\n3\n${bundle.rowsJson}`)
        .digest('hex'),
    );
    expect(nextHistoryToken(previous, { ...bundle, sourceId: null, sourceBundleId: null })).toBe(
      createHash('sha256').update(`${previous}\n7\n\n\n${bundle.rowsJson}`).digest('hex'),
    );
  });

  it('start from the server and the user, so no two databases or users share a history', () => {
    const tokens = new Set([
      genesisToken(SERVER, 'alice'),
      genesisToken(SERVER, 'bob'),
      genesisToken('another-server', 'alice'),
    ]);
    expect(tokens.size).toBe(3);
  });

  it('differ when anything before or in the bundle differs', () => {
    const previous = genesisToken(SERVER, 'alice');
    const token = nextHistoryToken(previous, bundle);
    const variants = [
      nextHistoryToken(genesisToken(SERVER, 'bob'), bundle),
      nextHistoryToken(previous, { ...bundle, bundleSeq: 8 }),
      nextHistoryToken(previous, { ...bundle, sourceId: null }),
      nextHistoryToken(previous, { ...bundle, sourceBundleId: 4 }),
      nextHistoryToken(previous, { ...bundle, rowsJson: '[]' }),
    ];
    for (const variant of variants) expect(variant).not.toBe(token);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(nextHistoryToken(previous, { ...bundle })).toBe(token);
  });
});

describe('pushDigest', () => {
  it('is the protocol’s bundle digest, hashed natively', () => {
    const changes = [
      { table: 'todos', pk: 'é😀', op: 'upsert', baseVersion: null, row: { title: 'naïve', n: 1 } },
      { table: 'todos', pk: 7, op: 'delete', baseVersion: 3 },
    ];
    expect(pushDigest(changes)).toBe(bundleDigest(changes));
    expect(pushDigest([])).toBe(bundleDigest([]));
  });
});
