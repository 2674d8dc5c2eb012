import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import {
  LEGACY_BUNDLES,
  LEGACY_LIST,
  LEGACY_SOURCE,
  LEGACY_TIME,
  expectLegacyUpgrade,
  legacyListRow,
} from '../../test-support/legacy-history.js';
import { businessTablesDdl, metadataMigrations, pgNames } from './postgres-ddl.js';
import {
  adminQuery,
  describePg,
  openTestStore,
  testSchemas,
  type TestSchemas,
} from './test-support/pg-test-database.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Metadata of layout 1 (migration 1 only, no identity) with the legacy history, as a store of
 * that version left it, including a seal() of the old signature for the upgrade to replace.
 */
async function createVersion1Schemas(schemas: TestSchemas): Promise<void> {
  const names = pgNames(schemas.meta, schemas.business);
  const { m, b } = names;
  const first = metadataMigrations(names).find((migration) => migration.version === 1)!;
  const row = legacyListRow(2);
  const bundles = LEGACY_BUNDLES.map(
    (bundle) =>
      `('alice', ${bundle.bundleSeq}, '${bundle.sourceId}', ${bundle.sourceBundleId}, 1, '${bundle.rowsJson}', '${LEGACY_TIME}')`,
  );
  await adminQuery(`
BEGIN;
CREATE SCHEMA ${m};
CREATE TABLE ${m}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
${first.sql};
INSERT INTO ${m}.migrations (version, name) VALUES (1, '${first.name}');
CREATE SCHEMA ${b};
${businessTablesDdl(todoSchema, names)}
INSERT INTO ${m}.meta (key, value) VALUES
  ('schema_fingerprint', '${todoSchema.fingerprint}'), ('business_schema', '${schemas.business}'),
  ('capture_hash', 'installed by layout 1');
CREATE FUNCTION ${m}.seal(
  p_push_user text, p_source_id text, p_source_bundle_id bigint, p_now timestamptz, p_instance text,
  p_push_seq bigint, p_tables text[], p_pks text[], p_existed boolean[], p_versions bigint[],
  p_deleted boolean[]
) RETURNS TABLE (out_user text, out_seq bigint, out_count integer, out_rows text, out_origin text)
LANGUAGE sql AS $fn$ SELECT NULL::text, NULL::bigint, NULL::integer, NULL::text, NULL::text WHERE false $fn$;
INSERT INTO ${b}.lists (id, owner_id, name, created_at, updated_at)
  VALUES ('${row.id}', '${row.owner_id}', '${row.name}', NULL, '${row.updated_at}');
INSERT INTO ${m}.rows VALUES ('lists', '${LEGACY_LIST}', 'alice', 2, false);
INSERT INTO ${m}.bundles VALUES ${bundles.join(', ')};
INSERT INTO ${m}.users VALUES ('alice', 2, 0);
INSERT INTO ${m}.sources VALUES ('alice', '${LEGACY_SOURCE}', 2, 2, NULL);
COMMIT;`);
}

describePg('the PostgreSQL store’s identity and history', () => {
  it('upgrades metadata of the first layout in place: old bundles keep working, new ones get tokens', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    await createVersion1Schemas(schemas);
    const serverId = randomUUID();
    const opened = await openTestStore({ schemas, createServerId: () => serverId });
    try {
      await expectLegacyUpgrade(opened.store, serverId);
    } finally {
      await opened.store.close();
    }
    // Recorded once: another start keeps the identity and applies nothing.
    const again = await openTestStore({
      schemas,
      createServerId: () => {
        throw new Error('an upgraded database keeps its identity');
      },
    });
    try {
      expect(again.store.serverId).toBe(serverId);
    } finally {
      await again.store.close();
    }
    expect(await adminQuery(`SELECT version FROM "${schemas.meta}".migrations ORDER BY 1`)).toEqual(
      [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }],
    );
    expect(
      await adminQuery(`SELECT value FROM "${schemas.meta}".meta WHERE key = 'server_id'`),
    ).toEqual([{ value: serverId }]);
  });

  it('gives raw SQL writes tokens in the chain too, computed in seal() as nextHistoryToken does', async () => {
    const { store, schemas } = await openTestStore();
    cleanups.push(() => schemas.drop());
    const list = randomUUID();
    await adminQuery(
      `INSERT INTO "${schemas.business}".lists (id, owner_id, name) VALUES ($1, 'alice', 'psql')`,
      [list],
    );
    await adminQuery(`UPDATE "${schemas.business}".lists SET owner_id = 'bob' WHERE id = $1`, [
      list,
    ]);
    const { genesisToken, nextHistoryToken } = await import('../../core/history-token.js');
    for (const user of ['alice', 'bob']) {
      const outcome = await store.pull({ userId: user, after: 0, limit: 10 });
      const bundles = outcome.kind === 'page' ? outcome.page.bundles : [];
      expect(bundles.length).toBeGreaterThan(0);
      let previous = genesisToken(store.serverId!, user);
      for (const bundle of bundles) {
        expect(bundle.token).toBe(nextHistoryToken(previous, bundle));
        expect(bundle.digest).toBeNull();
        previous = bundle.token!;
      }
      const [state] = await adminQuery(
        `SELECT last_token FROM "${schemas.meta}".users WHERE user_id = $1`,
        [user],
      );
      expect(state).toEqual({ last_token: previous });
    }
  });
});
