import { describe, expect, it } from 'vitest';
import type { SyncStatusView } from '@ferry/react';
import { statusWords } from './status-words.js';

const base = {
  state: 'idle',
  pending: 0,
  inFlight: null,
  autoSync: true,
  online: true,
  cycle: null,
} as unknown as SyncStatusView;

const words = (patch: Record<string, unknown>) => statusWords({ ...base, ...patch });

describe('the sync indicator’s words', () => {
  it('say Synced when nothing waits and nothing runs', () => {
    expect(words({})).toBe('Synced');
  });

  it('say Syncing… while a cycle runs or changes wait for one', () => {
    expect(words({ state: 'pushing', cycle: { id: 1, kind: 'push', startedAt: 0 } })).toBe(
      'Syncing…',
    );
    expect(words({ pending: 2 })).toBe('Syncing…');
  });

  it('count the changes waiting when offline, in flight included', () => {
    expect(words({ autoSync: false, pending: 2, inFlight: { changes: 1 } })).toBe(
      'Offline — 3 changes waiting',
    );
    expect(words({ online: false, pending: 1 })).toBe('Offline — 1 change waiting');
    expect(words({ autoSync: false })).toBe('Offline');
  });

  it('ask to check the connection when sync keeps failing', () => {
    for (const state of ['backoff', 'paused', 'blocked-auth', 'error']) {
      expect(words({ state })).toBe('Sync paused — check connection');
    }
    expect(words({ state: 'blocked-conflict' })).toBe('Sync paused — resolve conflicts');
  });
});
