/** Server-assigned keys end to end over HTTP on the PostgreSQL store. */
import { afterEach, it } from 'vitest';
import { createPostgresStore } from '@ferry/server/postgres';
import {
  DATABASE_URL,
  describePg,
  testSchemas,
} from '../../packages/server/src/store/postgres/test-support/pg-test-database.js';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import {
  backendInsertsShareTheSequence,
  editsInFlightFollowTheKey,
  lostAnswerGivesTheSameKeys,
  offlineDevicesNeverCollide,
  offlineTreeTakesServerKeys,
  positiveTemporaryKeyIsRefused,
  deadLettersKeepTemporaryKeys,
  loggingHooks,
  projectHooks,
  projectSchema,
  type ProjectSchema,
} from '../support/server-keys-scenario.js';

let h: Harness<ProjectSchema> | undefined;
let schemas = testSchemas();
afterEach(async () => {
  await h?.close();
  await schemas.drop();
  schemas = testSchemas();
});

const onPostgres = async (server: Parameters<typeof startHarness>[0] = {}) => {
  h = await startHarness<ProjectSchema>({
    ...server,
    schema: projectSchema,
    store: () =>
      createPostgresStore({
        connectionString: DATABASE_URL,
        schemaName: schemas.meta,
        businessSchema: schemas.business,
        pool: { max: 4 },
      }),
  });
  return h;
};

describePg('server-assigned keys on PostgreSQL', () => {
  it('rows created offline under temporary keys, with children, take keys from the identity sequence in one sync', async () => {
    await offlineTreeTakesServerKeys(await onPostgres());
  });

  it('edits made while the insert is in flight follow the row to its server key', async () => {
    await editsInFlightFollowTheKey(await onPostgres());
  });

  it('a lost answer is replayed with the same keys and inserts nothing twice', async () => {
    await lostAnswerGivesTheSameKeys(await onPostgres());
  });

  it('devices that create rows offline never collide', async () => {
    await offlineDevicesNeverCollide(await onPostgres());
  });

  it('a row the server refuses stays a dead letter under its temporary key, its child waits with it, and both take server keys when it is retried', async () => {
    await deadLettersKeepTemporaryKeys(await onPostgres({ server: { hooks: projectHooks } }));
  });

  it('a new row named by a positive integer key is refused with temporary_key', async () => {
    await positiveTemporaryKeyIsRefused(await onPostgres());
  });

  it('backend inserts take keys from the same sequence as devices, in server.write and beforeCommit', async () => {
    await backendInsertsShareTheSequence(await onPostgres({ server: { hooks: loggingHooks } }));
  });
});
