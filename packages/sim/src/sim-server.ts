import { copyFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import {
  DEFAULT_LIMITS,
  PullResponseSchema,
  PushRequestSchema,
  PushResponseSchema,
  SyncRequestSchema,
  SyncResponseSchema,
  committedPushRows,
  schemaHistory,
  type Conflict,
  type PullResponse,
  type PushResult,
  type RowEffect,
  type Schema,
} from '@ferry/protocol';
import { createFerryServer, createSqliteStore, type FerryServer } from '@ferry/server';
import { faultyPushRules, type UnsafeServerFaults } from './faulty-push-rules.js';
import {
  projectRow,
  type ActualError,
  type ActualPull,
  type ActualPush,
  type BackendOp,
  type ModelBundle,
  type PushCall,
  type PushPrediction,
  type ServerModel,
} from './server-model.js';
import { jsonEqual } from './stable-json.js';
import type { FrozenBase } from './local-inspector.js';
import { createSeededRandom, type SeededRandom } from './seeded-random.js';
import type { WriteLedger } from './write-ledger.js';

/** A request as it travels the simulated network. */
export interface WireRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

/** The server's answer, read completely. */
export interface WireAnswer {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly bytes: Uint8Array;
  /** One line for the trace. */
  readonly summary: string;
}

/** Thrown by {@link SimServer.exchange} while the server is unreachable. */
export class ServerUnreachable extends Error {
  constructor() {
    super('connect ECONNREFUSED (the simulated server is down)');
  }
}

/** What the server harness reports back to the simulation. */
export interface ServerHooks {
  step(): number;
  now(): number;
  violation(message: string): void;
  /** Whether the device still follows a history the server lost to a restore. */
  diverged?(device: string): boolean;
  /** The device's bundle in flight as its file holds it, when it is that bundle. */
  frozenBases?(
    device: string,
    sourceId: string,
    sourceBundleId: number,
  ): ReadonlyMap<string, FrozenBase> | undefined;
}

const DENY_HEADER = 'x-sim-deny';

/**
 * The real Ferry server with the real SQLite store on a file, reached only through
 * {@link exchange}: every request is answered in full by the real handler, then the answer is
 * checked against the oracle before the network decides what the client gets to see.
 */
export class SimServer {
  readonly #schema: Schema;
  readonly #path: string;
  readonly #model: ServerModel;
  readonly #ledger: WriteLedger;
  readonly #hooks: ServerHooks;
  readonly #retention: number;
  readonly #unsafe: UnsafeServerFaults | undefined;
  /** Draws the identity of each database the store creates: seeded, so a seed replays. */
  readonly #ids: SeededRandom;
  readonly #upgrade: Schema | undefined;
  /** The server runs `#upgrade` (it migrated its database to it). */
  #migrated = false;
  #server: FerryServer | undefined;
  down = false;
  restarts = 0;

  constructor(init: {
    schema: Schema;
    path: string;
    model: ServerModel;
    ledger: WriteLedger;
    hooks: ServerHooks;
    retentionBundles: number;
    unsafe?: UnsafeServerFaults | undefined;
    /** The run's random (forked for the server); default a fixed seed, still deterministic. */
    random?: SeededRandom | undefined;
    /** The next version of `schema`, which {@link migrate} moves the server to. */
    upgrade?: Schema | undefined;
  }) {
    this.#schema = init.schema;
    this.#upgrade = init.upgrade;
    this.#path = init.path;
    this.#model = init.model;
    this.#ledger = init.ledger;
    this.#hooks = init.hooks;
    this.#retention = init.retentionBundles;
    this.#unsafe = init.unsafe;
    this.#ids = init.random ?? createSeededRandom(0).fork('server-id');
  }

  /** The schema version the server runs. */
  get version(): number {
    return this.#migrated ? this.#upgrade!.version : this.#schema.version;
  }

  async start(): Promise<void> {
    this.#server = await createFerryServer({
      schema: this.#migrated ? schemaHistory(this.#schema, this.#upgrade!) : this.#schema,
      store: createSqliteStore({
        path: this.#path,
        // Called only when the file is new: nothing random from the real world in a run.
        createServerId: () => this.#ids.uuid(),
        ...(this.#unsafe ? { __pushRules: faultyPushRules(this.#unsafe) } : {}),
      }),
      auth: { authenticate: (request) => authenticate(request) },
      logger: false,
      externalPollMs: 0,
      limits: { rateLimit: false },
      retention: { maxBundlesPerUser: this.#retention, maxAgeMs: undefined, intervalMs: 0 },
    });
  }

  /** A consistent copy of the store file at `path` (`VACUUM INTO`, as a backup tool would take). */
  copyTo(path: string): void {
    const db = new Database(this.#path, { readonly: true, fileMustExist: true });
    try {
      db.prepare('VACUUM INTO ?').run(path);
    } finally {
      db.close();
    }
  }

  /** Stops the server, puts the file at `path` in place of its store file, and starts it again. */
  async restoreFrom(path: string): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${this.#path}${suffix}`, { force: true });
    copyFileSync(path, this.#path);
    this.restarts++;
    await this.start();
  }

  /**
   * A deploy of the next version: the server stops, and starts again on the same file with the
   * history of both versions, migrating its database on start; the oracle follows.
   */
  async migrate(): Promise<void> {
    if (this.#upgrade === undefined || this.#migrated) return;
    await this.#server?.close();
    this.#migrated = true;
    this.restarts++;
    await this.start();
    this.#model.migrate(this.#upgrade);
  }

  /** Closes the server and opens the same store file again. */
  async restart(): Promise<void> {
    await this.#server?.close();
    this.restarts++;
    await this.start();
  }

  async close(): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
  }

  /**
   * Delivers one request to the real handler and reads the whole answer (so the server has
   * finished with it before anything else happens), then checks it against the oracle.
   */
  async exchange(
    request: WireRequest,
    options: { deny?: boolean; device?: string } = {},
  ): Promise<WireAnswer> {
    if (this.down || !this.#server) throw new ServerUnreachable();
    const headers: Record<string, string> = { ...request.headers };
    if (options.deny) headers[DENY_HEADER] = '1';
    const response = await this.#server.handler(
      new Request(request.url, {
        method: request.method,
        headers,
        ...(request.body !== undefined ? { body: request.body } : {}),
      }),
    );
    const bytes = new Uint8Array(await response.arrayBuffer());
    const text = new TextDecoder().decode(bytes);
    const summary = this.#observe(
      request,
      options.device ?? '?',
      options.deny === true,
      response.status,
      text,
    );
    return { status: response.status, headers: [...response.headers], bytes, summary };
  }

  /** A backend write through `server.write`, checked against the oracle. */
  async backendWrite(userId: string, ops: readonly BackendOp[]): Promise<string> {
    const server = this.#live();
    const predicted = this.#model.predictBackendWrite(userId, ops);
    const before = this.#model.lastSeq(userId);
    const outcome = await server.write(userId, async (tx) => {
      for (const op of ops) {
        if (op.op === 'upsert') await tx.upsert(op.table, op.row);
        else await tx.delete(op.table, op.pk);
      }
    });
    const step = this.#hooks.step();
    for (const op of ops) {
      if (op.op === 'upsert') {
        const table = this.#schema.requireTable(op.table);
        this.#ledger.recordBackendUpsert(op.table, op.row[table.primaryKey] as string, step);
      }
    }
    const mine = outcome.bundles.find((b) => b.userId === userId);
    let bundle: ModelBundle | undefined;
    if (mine) {
      const answer = await server.handler(
        new Request(
          `http://ferry.sim/v1/pull?after=${before}&limit=${DEFAULT_LIMITS.maxPullLimit}`,
          {
            // In the server's own version: the oracle keeps rows whole.
            headers: {
              authorization: `Bearer ${tokenFor(userId)}`,
              'x-ferry-schema': String(this.version),
            },
          },
        ),
      );
      const page = PullResponseSchema.parse(await answer.json());
      bundle = page.bundles.find((b) => b.bundleSeq === mine.bundleSeq);
    }
    for (const problem of this.#model.settleBackendWrite(userId, predicted, bundle, {
      step,
      now: this.#hooks.now(),
    })) {
      this.#hooks.violation(problem);
    }
    return bundle ? `bundle ${bundle.bundleSeq} (${bundle.rows.length} rows)` : 'no bundle';
  }

  /** Prunes pull history by the count policy, in the oracle too. */
  async prune(): Promise<number> {
    this.#model.prune(this.#retention);
    const outcome = await this.#live().prune(new Date(this.#hooks.now()));
    return outcome.bundlesDeleted;
  }

  #live(): FerryServer {
    if (!this.#server) throw new Error('the simulated server is not running');
    return this.#server;
  }

  /** Checks one answer against the oracle; returns its trace summary. */
  #observe(
    request: WireRequest,
    device: string,
    denied: boolean,
    status: number,
    text: string,
  ): string {
    const url = new URL(request.url);
    const userId = userOf(request.headers['authorization']);
    const at = { step: this.#hooks.step(), now: this.#hooks.now() };
    const fail = (message: string) => this.#hooks.violation(message);
    if (denied || userId === null) {
      if (status !== 401)
        fail(`${request.method} ${url.pathname} with a refused token answered ${status}, not 401`);
      return `${status}`;
    }
    const json = () => JSON.parse(text) as unknown;
    const clientVersion = Number(request.headers['x-ferry-schema'] ?? '1');
    if (clientVersion > this.version) return this.#ahead(request, device, userId, status, json());
    // A client of an older version gets every answer in its version's shape.
    const view = clientVersion < this.version ? this.#schema : undefined;
    switch (`${request.method} ${url.pathname}`) {
      case 'POST /v1/push': {
        const body = PushRequestSchema.parse(JSON.parse(request.body ?? ''));
        const call: PushCall = {
          userId,
          sourceId: body.sourceId.toLowerCase(),
          sourceBundleId: body.sourceBundleId,
          changes: body.changes,
          pullAfter: body.after,
          pullToken: body.afterToken,
          basesAt: body.basesAt,
          diverged: this.#hooks.diverged?.(device) ?? false,
          view,
        };
        const prediction = this.#model.predictPush(call);
        this.#checkBases(device, call, prediction).forEach(fail);
        const actual = this.#asStored(
          call,
          pushAnswer(status, status === 200 ? PushResponseSchema.parse(json()) : json()),
          fail,
        );
        this.#recordPush(device, call, actual, at.step);
        this.#model.settlePush(call, prediction, actual, at).forEach(fail);
        return `push #${call.sourceBundleId} (${call.changes.length}) → ${describePush(actual)}`;
      }
      case 'POST /v1/sync': {
        const body = SyncRequestSchema.parse(JSON.parse(request.body ?? ''));
        const limit = Math.min(body.limit ?? DEFAULT_LIMITS.pullLimit, DEFAULT_LIMITS.maxPullLimit);
        const answer = status === 200 ? SyncResponseSchema.parse(json()) : null;
        let summary = '';
        if (body.push) {
          const call: PushCall = {
            userId,
            sourceId: body.sourceId.toLowerCase(),
            sourceBundleId: body.push.sourceBundleId,
            changes: body.push.changes,
            pullAfter: body.after,
            pullToken: body.afterToken,
            basesAt: body.basesAt,
            diverged: this.#hooks.diverged?.(device) ?? false,
            view,
          };
          const prediction = this.#model.predictPush(call);
          this.#checkBases(device, call, prediction).forEach(fail);
          const actual: ActualPush = this.#asStored(
            call,
            answer
              ? answer.push === null
                ? { kind: 'error', status, code: 'missing_push_result', details: undefined }
                : answer.push.status === 'committed'
                  ? committedOf(answer.push, answer.pull)
                  : { kind: 'conflict', conflicts: answer.push.conflicts, head: answer.push.head }
              : errorOf(status, json()),
            fail,
          );
          this.#recordPush(device, call, actual, at.step);
          this.#model.settlePush(call, prediction, actual, at).forEach(fail);
          summary = `push #${call.sourceBundleId} (${call.changes.length}) → ${describePush(actual)}; `;
          if (!answer) return summary.slice(0, -2);
        }
        const pull: ActualPull = answer
          ? { kind: 'page', ...answer.pull }
          : errorOf(status, json());
        this.#model.checkPull(userId, body.after, limit, pull, body.afterToken, view).forEach(fail);
        return `${summary}pull after ${body.after} → ${describePull(pull)}`;
      }
      case 'GET /v1/pull': {
        const after = Number(url.searchParams.get('after') ?? '0');
        const limit = Math.min(
          Number(url.searchParams.get('limit') ?? DEFAULT_LIMITS.pullLimit),
          DEFAULT_LIMITS.maxPullLimit,
        );
        const pull: ActualPull =
          status === 200
            ? { kind: 'page', ...PullResponseSchema.parse(json()) }
            : errorOf(status, json());
        const token = url.searchParams.get('token') ?? undefined;
        this.#model.checkPull(userId, after, limit, pull, token, view).forEach(fail);
        return `pull after ${after} → ${describePull(pull)}`;
      }
      case 'GET /v1/snapshot': {
        if (status !== 200) {
          fail(`snapshot of ${userId} answered ${status}`);
          return `snapshot → ${status}`;
        }
        const lines = text
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as unknown);
        const after = url.searchParams.get('after');
        const cursor =
          after === null
            ? undefined
            : { after: Number(after), token: url.searchParams.get('token') ?? undefined };
        this.#model.checkSnapshot(userId, lines, cursor, view).forEach(fail);
        return `snapshot → ${Math.max(0, lines.length - 2)} rows at seq ${this.#model.lastSeq(userId)}`;
      }
      default:
        fail(`unexpected request ${request.method} ${url.pathname}`);
        return `${status}`;
    }
  }

  /**
   * A request of a client newer than the server: every route answers 409 `schema_ahead` and
   * nothing is decided (a push is recorded as not taken).
   */
  #ahead(
    request: WireRequest,
    device: string,
    userId: string,
    status: number,
    body: unknown,
  ): string {
    const error = errorOf(status, body);
    if (error.code !== 'schema_ahead' || status !== 409) {
      this.#hooks.violation(
        `${request.method} ${new URL(request.url).pathname} of a client newer than the server (v${this.version}) answered ${status} ${error.code}, not 409 schema_ahead`,
      );
    }
    const parsed = request.body === undefined ? undefined : (JSON.parse(request.body) as unknown);
    const push = PushRequestSchema.safeParse(parsed);
    const sync = SyncRequestSchema.safeParse(parsed);
    const sent = push.success
      ? {
          ...push.data,
          push: { sourceBundleId: push.data.sourceBundleId, changes: push.data.changes },
        }
      : sync.success
        ? sync.data
        : undefined;
    if (sent?.push) {
      const call: PushCall = {
        userId,
        sourceId: sent.sourceId.toLowerCase(),
        sourceBundleId: sent.push.sourceBundleId,
        changes: sent.push.changes,
      };
      this.#recordPush(device, call, error, this.#hooks.step());
    }
    return `${status} ${error.code}`;
  }

  /**
   * The server's own rows of a commit answered to an older client, whose answer holds them in
   * its version's shape (checked: that shape of the stored rows): the oracle keeps rows whole.
   */
  #asStored(call: PushCall, actual: ActualPush, fail: (message: string) => void): ActualPush {
    if (call.view === undefined || actual.kind !== 'committed') return actual;
    const db = new Database(this.#path, { readonly: true, fileMustExist: true });
    let stored: RowEffect[];
    try {
      const found = db
        .prepare('SELECT rows FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?')
        .get(call.userId, actual.bundleSeq) as { rows: string } | undefined;
      if (found === undefined) return actual;
      stored = JSON.parse(found.rows) as RowEffect[];
    } finally {
      db.close();
    }
    const shown = stored.map((e) =>
      e.op === 'upsert' ? { ...e, row: projectRow(call.view, e.table, e.row) } : e,
    );
    if (!jsonEqual(shown, actual.rows)) {
      fail(
        `push ${call.sourceId.slice(0, 8)}#${call.sourceBundleId} of ${call.userId}: the answer to a client of version ${call.view.version} is not the committed rows in its shape`,
      );
    }
    return { ...actual, rows: stored };
  }

  /** Invariant k on a push the server judges (its cursor and bundle id accepted). */
  #checkBases(device: string, call: PushCall, prediction: PushPrediction): string[] {
    if (prediction.kind !== 'commit' && prediction.kind !== 'conflict') return [];
    const bases = this.#hooks.frozenBases?.(device, call.sourceId, call.sourceBundleId);
    if (bases === undefined) return [];
    const what = `push ${call.sourceId.slice(0, 8)}#${call.sourceBundleId} of ${call.userId} from ${device}`;
    // Bases of columns an upgrade added may be the defaults a file's migration gave them.
    return this.#model.foreignBases(what, call, bases, this.#schema);
  }

  #recordPush(device: string, call: PushCall, actual: ActualPush, step: number): void {
    const named = new Set<number>();
    let outcome: 'committed' | 'conflict' | 'refused' | 'other' = 'other';
    if (actual.kind === 'committed') outcome = 'committed';
    else if (actual.kind === 'conflict') {
      outcome = 'conflict';
      for (const c of actual.conflicts) named.add(c.index);
    } else if (actual.code === 'validation_failed' || actual.code === 'forbidden') {
      outcome = 'refused';
      const details = actual.details as {
        errors?: { index: number }[];
        changes?: { index: number }[];
      };
      for (const e of details?.errors ?? details?.changes ?? []) named.add(e.index);
    }
    this.#ledger.recordPush(device, call, step, outcome, named, actual, this.#model.epoch);
  }
}

/** A bearer token the simulated server accepts: an unsigned JWT whose `sub` is the user. */
export function tokenFor(userId: string, generation = 0): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: userId, gen: generation })}.sim`;
}

function userOf(authorization: string | undefined): string | null {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
  const payload = token?.split('.')[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      sub?: unknown;
    };
    return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : null;
  } catch {
    return null;
  }
}

function authenticate(request: Request): { userId: string } | null {
  if (request.headers.get(DENY_HEADER) !== null) return null;
  const userId = userOf(request.headers.get('authorization') ?? undefined);
  return userId === null ? null : { userId };
}

function errorOf(status: number, body: unknown): ActualError {
  const error = (body as { error?: { code?: unknown; details?: unknown } } | null)?.error;
  return {
    kind: 'error',
    status,
    code: typeof error?.code === 'string' ? error.code : `http_${status}`,
    details: error?.details,
  };
}

function pushAnswer(status: number, body: unknown): ActualPush {
  if (status === 200) {
    const ok = body as { bundleSeq: number; rows: RowEffect[]; token?: string };
    return { kind: 'committed', bundleSeq: ok.bundleSeq, rows: ok.rows, token: ok.token };
  }
  const { conflicts, head } =
    (body as { conflicts?: Conflict[]; head?: { bundleSeq: number; token: string } } | null) ?? {};
  if (status === 409 && Array.isArray(conflicts)) return { kind: 'conflict', conflicts, head };
  return errorOf(status, body);
}

function describePush(actual: ActualPush): string {
  switch (actual.kind) {
    case 'committed':
      return `seq ${actual.bundleSeq} (${actual.rows.length} rows)`;
    case 'conflict':
      return `conflict on ${actual.conflicts.map((c) => c.index).join(',')}`;
    case 'error':
      return `${actual.status} ${actual.code}`;
  }
}

function describePull(pull: ActualPull): string {
  if (pull.kind === 'error') return `${pull.status} ${pull.code}`;
  if (pull.bundles.length === 0) return `nothing (stable ${pull.stableBundleSeq})`;
  const first = pull.bundles[0]!.bundleSeq;
  const last = pull.bundles[pull.bundles.length - 1]!.bundleSeq;
  return `seq ${first}..${last}${pull.hasMore ? ' +more' : ''}`;
}

/**
 * The actual outcome of a committed push in a sync answer: its rows are its own or, with
 * `rowsInPull`, the page's bundle of that seq; an answer with neither is a protocol error.
 */
function committedOf(
  push: Extract<PushResult, { status: 'committed' }>,
  pull: PullResponse,
): ActualPush {
  const rows = committedPushRows(push, pull);
  if (rows === undefined) {
    return { kind: 'error', status: 200, code: 'push_rows_missing', details: push };
  }
  return { kind: 'committed', bundleSeq: push.bundleSeq, rows, token: push.token };
}
