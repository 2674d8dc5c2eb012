import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { todoSchema } from '@ferry/example-todo';
import {
  FerryError,
  asSchemaHistory,
  isSchemaHistory,
  type Schema,
  type SchemaHistory,
} from '@ferry/protocol';
import {
  createFerryServer,
  createSqliteStore,
  signToken,
  type AuthOptions,
  type FerryLogger,
  type FerryServer,
  type ServerHooks,
  type ServerStore,
} from '@ferry/server';
import type { AdoptProgress } from '@ferry/server/postgres';
import type { CliIo } from '../cli-command.js';
import { loadOrCreateDevSecret } from './dev-secret.js';
import { importDefault, unwrapDefault } from './load-module.js';
import { defaultWebAppDir, webAppHandler } from './web-app.js';

/** Options of `ferry serve`. */
export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  /** Directory of the embedded SQLite store. */
  readonly data: string;
  /** PostgreSQL connection URL: use the PostgreSQL store instead of SQLite. */
  readonly postgres: string | undefined;
  /** Schema of the sync metadata with --postgres (default `ferry`). */
  readonly pgSchema?: string | undefined;
  /** With --postgres: adopt business tables that other code made (see docs/postgres.md). */
  readonly adopt?: boolean;
  /** Origins allowed to call from a browser (`*` for any), or undefined for none. */
  readonly cors?: readonly string[] | '*' | undefined;
  /** Module whose default export is the schema; undefined for the example schema. */
  readonly schema: string | undefined;
  /** Module whose default export is the server's hooks (`ServerHooks`); undefined for none. */
  readonly hooks?: string | undefined;
  /** False to print no token for the user "demo" (default true). */
  readonly demoToken?: boolean;
  /**
   * The built web app to serve at `/`: a directory, `false` for none, undefined for the todo web
   * app (with the example schema, when it is built).
   */
  readonly app?: string | false;
}

const HELP = `Usage: ferry serve [options]

Runs the Ferry sync server.

Options:
  --host HOST       interface to listen on (default 127.0.0.1)
  --port PORT       port to listen on (default 8787; 0 picks a free one)
  --data DIR        directory of the embedded SQLite store (default ./ferry-data)
  --postgres URL    use the PostgreSQL store instead, e.g.
                    postgres://user:password@127.0.0.1:5432/app (business
                    tables in the connection's schema, usually public; sync
                    metadata in the schema "ferry"); any number of servers
                    may share one database
  --pg-schema NAME  schema of the sync metadata with --postgres (default ferry)
  --adopt           with --postgres: sync business tables that already exist
                    and hold rows (made by plain SQL or other code). They are
                    checked against the schema first: on any mismatch every one
                    is printed, nothing is changed and the server exits 1. Then
                    the capture is installed and the existing rows get their
                    sync state in batches of 10,000 while other writers go on;
                    an interrupted adoption is finished by starting again with
                    --adopt. Harmless on a database Ferry already manages
  --cors ORIGINS    let browser apps of these origins call the server
                    (comma-separated, e.g. https://app.example.com; * for any)
  --schema FILE     module (.ts or .js) whose default export is the schema, or the
                    history of its versions (schemaHistory: the database is
                    migrated to the newest on start; see "ferry migrate")
                    (default: the example todo schema)
  --hooks FILE      module (.ts or .js, ESM) whose default export is the server's
                    rules, { tables: { <table>: { validate, authorize } },
                    beforeCommit } (ServerHooks of @ferry/server): refuse pushed
                    rows with your own code and message, or write more rows in
                    the push's transaction (see docs/server.md, "Server hooks")
  --no-demo-token   print no ready token for the user "demo" (one is printed,
                    valid 24 hours, whenever the server knows an HS256 secret)
  --app DIR         serve this built web app at / (default: the todo web app,
                    with the example schema); in development mode the app may
                    sign in any user name with POST /dev/token
  --no-app          serve no web app
  -h, --help        show this help

Environment:
  FERRY_JWT_SECRET  HS256 secret that signs client tokens; without it (and without
                    FERRY_JWKS_URL) the server runs in development mode: it makes a
                    secret once, keeps it in DIR/dev-jwt-secret (mode 0600, for
                    development only) so that tokens stay valid across restarts,
                    and prints it with a ready token for the user "demo".
  FERRY_JWKS_URL    verify RS256/ES256 tokens of an identity provider against its
                    published key set instead (e.g. https://…/.well-known/jwks.json)
  FERRY_JWT_ISSUER  with FERRY_JWKS_URL: the required "iss" claim
  FERRY_JWT_AUDIENCE with FERRY_JWKS_URL: the required "aud" claim
  FERRY_LOG_LEVEL   pino log level (default info)`;

/** Parses the arguments of `ferry serve`. */
export function parseServeArgs(
  args: readonly string[],
): { ok: true; options: ServeOptions; help: boolean } | { ok: false; message: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: false,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8787' },
        data: { type: 'string', default: './ferry-data' },
        postgres: { type: 'string' },
        'pg-schema': { type: 'string' },
        adopt: { type: 'boolean', default: false },
        cors: { type: 'string' },
        schema: { type: 'string' },
        hooks: { type: 'string' },
        'no-demo-token': { type: 'boolean', default: false },
        app: { type: 'string' },
        'no-app': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  const { values } = parsed;
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65_535) {
    return { ok: false, message: `--port must be a number from 0 to 65535, not "${values.port}"` };
  }
  if (values.adopt && values.postgres === undefined) {
    return { ok: false, message: '--adopt needs --postgres (it adopts PostgreSQL tables)' };
  }
  return {
    ok: true,
    help: values.help,
    options: {
      host: values.host,
      port,
      data: values.data,
      postgres: values.postgres,
      ...(values['pg-schema'] !== undefined ? { pgSchema: values['pg-schema'] } : {}),
      ...(values.adopt ? { adopt: true } : {}),
      ...(values.cors !== undefined ? { cors: parseOrigins(values.cors) } : {}),
      schema: values.schema,
      ...(values.hooks !== undefined ? { hooks: values.hooks } : {}),
      ...(values['no-demo-token'] ? { demoToken: false } : {}),
      ...(values['no-app']
        ? { app: false as const }
        : values.app !== undefined
          ? { app: values.app }
          : {}),
    },
  };
}

/**
 * Loads the schema module: `.ts`/`.mts`/`.cts` files through tsx's ESM API, anything else with
 * a plain `import()`. Its default export must be a Schema made by `defineSchema()` or a history
 * of versions made by `schemaHistory()`.
 */
export async function loadSchema(file: string | undefined): Promise<SchemaHistory> {
  if (file === undefined) return asSchemaHistory(todoSchema);
  const schema = unwrapDefault(await importDefault(file, 'schema'), isSchema);
  if (!isSchema(schema)) {
    throw new FerryError(
      'invalid_argument',
      `${file} must default-export a schema made by defineSchema(), or a history made by schemaHistory(), from @ferry/protocol`,
    );
  }
  return asSchemaHistory(schema);
}

/**
 * Loads the hooks module of `--hooks` (`.ts` through tsx, anything else with `import()`): its
 * default export must be the server's hooks, an object `{ tables?, beforeCommit? }`
 * (`ServerHooks` of `@ferry/server`). The server checks them against the schema when it starts.
 */
export async function loadHooks(file: string | undefined): Promise<ServerHooks | undefined> {
  if (file === undefined) return undefined;
  const hooks = unwrapDefault(await importDefault(file, 'hooks'), isHooksObject);
  if (!isHooksObject(hooks)) {
    throw new FerryError(
      'invalid_argument',
      `${file} must default-export the server's hooks, an object { tables?, beforeCommit? } (ServerHooks of @ferry/server)`,
    );
  }
  return hooks;
}

/** The store `ferry serve` and `ferry migrate` use, and a line that says where it is. */
export async function storeFor(
  options: Pick<ServeOptions, 'data' | 'postgres' | 'pgSchema' | 'adopt'>,
  say: (line: string) => void = () => undefined,
): Promise<{ store: ServerStore; line: string }> {
  if (options.postgres !== undefined) {
    const { createPostgresStore } = await import('@ferry/server/postgres');
    const metadataSchema = options.pgSchema ?? 'ferry';
    const progress = adoptionProgressPrinter(say);
    return {
      store: createPostgresStore({
        connectionString: options.postgres,
        schemaName: metadataSchema,
        ...(options.adopt === true
          ? {
              adopt: true,
              onEvent: (event) => {
                if (event.kind === 'adopting') progress(event.progress);
              },
            }
          : {}),
      }),
      line: `PostgreSQL at ${redactUrl(options.postgres)} (sync metadata in schema "${metadataSchema}")`,
    };
  }
  const dbPath = resolve(options.data, 'ferry.db');
  return { store: createSqliteStore({ path: dbPath }), line: `SQLite at ${dbPath}` };
}

/**
 * Says how an adoption goes: each index built, each table's rows (at most every 2 s while a
 * table's batches run, and when the next step begins), and the users' first bundles.
 */
function adoptionProgressPrinter(say: (line: string) => void): (progress: AdoptProgress) => void {
  let pending: string | undefined;
  let lastSaid = 0;
  let lastTable: string | undefined;
  return (progress) => {
    if (progress.step === 'rows') {
      if (lastTable !== undefined && lastTable !== progress.table && pending !== undefined) {
        say(pending);
      }
      lastTable = progress.table;
      pending = `adopting: ${progress.table}, ${progress.rows.toLocaleString('en-US')} rows given their sync state`;
      if (Date.now() - lastSaid < 2_000) return;
      lastSaid = Date.now();
      say(pending);
      pending = undefined;
      return;
    }
    if (pending !== undefined) say(pending);
    pending = undefined;
    say(
      progress.step === 'index'
        ? `adopting: built index ${progress.index} on ${progress.table}`
        : `adopting: ${progress.users.toLocaleString('en-US')} users given their first bundle`,
    );
  };
}

/** A running `ferry serve`. */
export interface RunningServe {
  readonly server: FerryServer;
  readonly url: string;
  /** The development secret (kept in the data directory) in development mode, else undefined. */
  readonly devSecret: string | undefined;
  /** The printed token for the user "demo", or undefined when none was printed. */
  readonly devToken: string | undefined;
  stop(): Promise<void>;
}

/** Starts the server as `ferry serve` does and prints how to reach it. */
export async function startServe(
  options: ServeOptions,
  io: CliIo,
  logger?: FerryLogger | false,
): Promise<RunningServe> {
  const history = await loadSchema(options.schema);
  const schema = history.latest;
  const hooks = await loadHooks(options.hooks);
  // Set but empty is a mistake the server refuses, not a reason for development mode.
  const configured = io.env.FERRY_JWT_SECRET;
  const jwksUrl = io.env.FERRY_JWKS_URL;
  let devSecret: string | undefined;
  let devSecretPath: string | undefined;
  if (configured === undefined && !jwksUrl) {
    const found = loadOrCreateDevSecret(resolve(options.data));
    if (!found.ok) throw new FerryError('invalid_argument', found.message);
    if (found.warning) io.err(`ferry serve: ${found.warning}`);
    devSecret = found.secret;
    const fromHere = relative(process.cwd(), found.path);
    devSecretPath = fromHere.startsWith('..') || isAbsolute(fromHere) ? found.path : fromHere;
  }
  const secret = configured ?? devSecret;
  const auth: AuthOptions =
    jwksUrl && configured === undefined
      ? {
          jwks: {
            url: jwksUrl,
            ...(io.env.FERRY_JWT_ISSUER ? { issuer: io.env.FERRY_JWT_ISSUER } : {}),
            ...(io.env.FERRY_JWT_AUDIENCE ? { audience: io.env.FERRY_JWT_AUDIENCE } : {}),
          },
        }
      : { jwtSecret: secret! };
  const { store, line: storeLine } = await storeFor(options, (line) =>
    io.err(`ferry serve: ${line}`),
  );
  const appDir =
    options.app === false
      ? undefined
      : options.app !== undefined
        ? resolve(options.app)
        : options.schema === undefined
          ? defaultWebAppDir()
          : undefined;
  if (appDir !== undefined && !existsSync(join(appDir, 'index.html'))) {
    await store.close();
    throw new FerryError(
      'invalid_argument',
      `--app ${appDir} has no index.html (build the app first)`,
    );
  }
  const server = await createFerryServer({
    schema: history,
    store,
    auth,
    app: webAppHandler({ dir: appDir, devSecret: 'jwks' in auth ? undefined : devSecret }),
    ...(options.cors !== undefined ? { cors: { origins: options.cors } } : {}),
    ...(logger !== undefined ? { logger } : {}),
    ...(hooks !== undefined ? { hooks } : {}),
  });
  let url: string;
  try {
    ({ url } = await server.listen({ host: options.host, port: options.port }));
  } catch (error) {
    await server.close();
    throw error;
  }
  io.out(`Ferry sync server (protocol 1) listening on ${url}`);
  if (appDir !== undefined) io.out(`  app:    ${url}/ (${appDir})`);
  io.out(`  store:  ${storeLine}`);
  io.out(
    `  auth:   ${'jwks' in auth ? `tokens of the identity provider at ${auth.jwks.url}` : `HS256 tokens signed with ${devSecret === undefined ? 'FERRY_JWT_SECRET' : 'the development secret'}`}`,
  );
  io.out(
    `  schema: ${options.schema ?? 'the example todo schema'} (version ${schema.version}: ${schema.tables.map((t) => t.name).join(', ')})`,
  );
  if (hooks !== undefined) io.out(`  hooks:  ${options.hooks!} (${hooksSummary(hooks)})`);
  let devToken: string | undefined;
  if (secret !== undefined && options.demoToken !== false) {
    devToken = await signToken({ secret, userId: 'demo', expiresInSeconds: 24 * 60 * 60 });
  }
  for (const line of tokenLines({ url, devSecret, devSecretPath, devToken })) io.out(line);
  io.out('');
  return {
    server,
    url,
    devSecret,
    devToken,
    stop: () => server.close(),
  };
}

/** `ferry serve`: runs until SIGINT or SIGTERM, then shuts down gracefully; resolves with the exit status. */
export async function runServe(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseServeArgs(args);
  if (!parsed.ok) {
    io.err(`ferry serve: ${parsed.message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.help) {
    io.out(HELP);
    return 0;
  }
  let running: RunningServe;
  try {
    running = await startServe(parsed.options, io);
  } catch (error) {
    io.err(`ferry serve: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof FerryError && error.code === 'not_supported' ? 3 : 1;
  }
  await new Promise<void>((done) => {
    const stop = (signal: NodeJS.Signals) => {
      io.err(`ferry serve: ${signal}, shutting down`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await running.stop();
  return 0;
}

/**
 * What `ferry serve` prints about tokens: in development mode, where the secret is kept, the
 * secret and the token; with a configured secret, the token alone. Pure.
 */
export function tokenLines(shown: {
  readonly url: string;
  readonly devSecret: string | undefined;
  readonly devSecretPath: string | undefined;
  readonly devToken: string | undefined;
}): string[] {
  const { url, devSecret, devSecretPath, devToken } = shown;
  const lines: string[] = [];
  if (devSecret !== undefined) {
    lines.push(
      '',
      'DEVELOPMENT MODE: FERRY_JWT_SECRET is not set, so tokens are signed with a development-only',
      `secret kept in ${devSecretPath ?? 'the data directory'}`,
      '(made on the first start and reused, so tokens stay valid across restarts). Set',
      'FERRY_JWT_SECRET (or FERRY_JWKS_URL) in production.',
    );
  }
  if (devToken === undefined) {
    if (devSecret !== undefined) lines.push('', `  export FERRY_JWT_SECRET=${devSecret}`);
    return lines;
  }
  lines.push(
    '',
    devSecret !== undefined
      ? 'The secret, and a token for the user "demo" (valid 24 hours):'
      : 'A token for the user "demo", signed with FERRY_JWT_SECRET (valid 24 hours):',
    '',
  );
  if (devSecret !== undefined) lines.push(`  export FERRY_JWT_SECRET=${devSecret}`);
  lines.push(
    `  export TOKEN=${devToken}`,
    '',
    `Try: curl -H "Authorization: Bearer $TOKEN" "${url}/v1/pull?after=0"`,
  );
  return lines;
}

/** What a hooks module holds, in a few words: `validate todos, authorize lists, beforeCommit`. */
export function hooksSummary(hooks: ServerHooks): string {
  const parts: string[] = [];
  for (const [table, tableHooks] of Object.entries(hooks.tables ?? {})) {
    for (const name of ['validate', 'authorize'] as const) {
      if (tableHooks?.[name] !== undefined) parts.push(`${name} ${table}`);
    }
  }
  if (hooks.beforeCommit !== undefined) parts.push('beforeCommit');
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** A connection URL fit to print: the password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const key of ['password', 'sslpassword']) {
      if (parsed.searchParams.has(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return '(a connection string that is not a URL)';
  }
}

function isHooksObject(value: unknown): value is ServerHooks {
  if (typeof value !== 'object' || value === null) return false;
  const { tables, beforeCommit } = value as { tables?: unknown; beforeCommit?: unknown };
  return (
    (tables !== undefined || beforeCommit !== undefined) &&
    Object.keys(value).every((key) => key === 'tables' || key === 'beforeCommit')
  );
}

function isSchema(value: unknown): value is Schema | SchemaHistory {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Schema | SchemaHistory;
  if (isSchemaHistory(candidate)) return isSchema(candidate.latest);
  return (
    Array.isArray(candidate.tables) &&
    typeof candidate.table === 'function' &&
    typeof candidate.fingerprint === 'string'
  );
}

function parseOrigins(value: string): readonly string[] | '*' {
  if (value.trim() === '*') return '*';
  return value
    .split(',')
    .map((origin) => origin.trim().replace(/\/+$/, ''))
    .filter((origin) => origin.length > 0);
}
