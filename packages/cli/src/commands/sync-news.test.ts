import { describe, expect, it } from 'vitest';
import type { ClientStatus } from '@ferry/client';
import { syncNews } from './client.js';

/** The fields of the status that `watch` reads about sync; the rest does not matter here. */
type SyncFacts = Pick<
  ClientStatus,
  'state' | 'consecutiveFailures' | 'nextRetryAt' | 'auth' | 'lastFailure' | 'inSyncSince'
>;

const DOWN: ClientStatus['lastFailure'] = {
  class: 'transient',
  code: 'network',
  status: null,
  message: 'connect ECONNREFUSED 127.0.0.1:8787',
  retryAfterMs: null,
  correlationId: null,
  at: 1_000,
};

const FINE: SyncFacts = {
  state: 'idle',
  consecutiveFailures: 0,
  nextRetryAt: null,
  auth: 'ok',
  lastFailure: null,
  inSyncSince: 500,
};

/** Feeds `watch`'s decision a sequence of statuses; returns the lines it prints. */
function watchLines(statuses: readonly Partial<SyncFacts>[]): string[] {
  const lines: string[] = [];
  let shown: string | null = null;
  for (const facts of statuses) {
    const news = syncNews(shown, { ...FINE, ...facts } as ClientStatus);
    if (news.line !== null) lines.push(news.line);
    shown = news.shown;
  }
  return lines;
}

const failing = (n: number, state: SyncFacts['state'], nextRetryAt: number | null = 9_000) => ({
  state,
  consecutiveFailures: n,
  nextRetryAt,
  lastFailure: DOWN,
  inSyncSince: null,
});

describe('what watch says about sync', () => {
  it('never says back in sync while the retries and trials of a server that is down run', () => {
    const lines = watchLines([
      FINE,
      failing(1, 'backoff'),
      failing(1, 'pushing', null), // the retry starts: no news, and certainly not "in sync"
      failing(5, 'paused'),
      failing(5, 'pushing', null), // a half-open trial
      failing(6, 'paused', 20_000),
      failing(6, 'idle', null),
    ]);
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).not.toContain('back in sync');
    expect(lines[0]).toMatch(/^sync: retry 1 at .* \(network: connect ECONNREFUSED/);
    expect(lines[1]).toMatch(/^sync: paused after 5 failed attempts, next try at /);
    expect(lines[2]).toMatch(/^sync: paused after 6 failed attempts, next try at /);
  });

  it('says back in sync once a successful exchange followed the problem', () => {
    expect(
      watchLines([
        failing(5, 'paused'),
        failing(5, 'pushing', null),
        { ...FINE, state: 'pulling', inSyncSince: null },
        { ...FINE, inSyncSince: 30_000 },
        { ...FINE, inSyncSince: 30_000 },
      ]).slice(1),
    ).toEqual(['sync: back in sync']);
  });

  it('does not call coming back online "in sync" before an exchange succeeded', () => {
    expect(
      watchLines([
        { state: 'offline', inSyncSince: null },
        { state: 'pushing', inSyncSince: null },
        { state: 'idle', inSyncSince: null },
      ]),
    ).toEqual(['sync: offline: changes wait in the file']);
  });

  it('says nothing about sync while it works', () => {
    expect(watchLines([FINE, { state: 'pushing' }, FINE, { state: 'pulling' }, FINE])).toEqual([]);
  });
});
