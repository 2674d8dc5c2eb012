import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { SerialDatabase } from '../driver/serial-database.js';
import { METADATA_SQL, localSchemaSql } from '../local/local-schema-sql.js';
import { TEMP_TABLES_SQL } from '../local/local-schema-sql.js';
import { buildIntegrityQueries, findIntegrityViolations } from './integrity-gate.js';

const schema = defineSchema({
  tables: {
    people: { owner: 'owner_id', columns: { id: { type: 'text' }, owner_id: { type: 'text' } } },
    projects: { owner: 'owner_id', columns: { id: { type: 'text' }, owner_id: { type: 'text' } } },
    tasks: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        project_id: {
          type: 'text',
          notNull: true,
          references: { table: 'projects', onDelete: 'cascade' },
        },
        assignee_id: { type: 'text', references: { table: 'people', onDelete: 'set null' } },
      },
    },
  },
});

describe('buildIntegrityQueries', () => {
  it('checks only the references a page can have broken', () => {
    const none = buildIntegrityQueries(schema, {
      upserted: new Set(['projects']),
      deleted: new Set(['tasks']),
    });
    expect(none).toEqual([]);
    const children = buildIntegrityQueries(schema, {
      upserted: new Set(['tasks']),
      deleted: new Set(),
    });
    expect(children.map((q) => [q.kind, q.reference.column])).toEqual([
      ['child', 'project_id'],
      ['child', 'assignee_id'],
    ]);
    const parents = buildIntegrityQueries(schema, {
      upserted: new Set(),
      deleted: new Set(['people']),
    });
    expect(parents.map((q) => [q.kind, q.reference.column])).toEqual([['parent', 'assignee_id']]);
  });

  it('joins the touched rows instead of scanning a table', () => {
    const [query] = buildIntegrityQueries(schema, {
      upserted: new Set(['tasks']),
      deleted: new Set(),
    });
    expect(query!.sql).toContain('FROM temp.ferry_touched t JOIN "tasks" c ON c."id" = t.pk');
  });
});

describe('findIntegrityViolations on a real database', () => {
  let db: SerialDatabase;
  beforeEach(async () => {
    db = new SerialDatabase(betterSqlite3Driver(':memory:'));
    await db.exec(METADATA_SQL);
    await db.exec(TEMP_TABLES_SQL);
    for (const sql of localSchemaSql(schema)) await db.exec(sql);
    await db.exec('PRAGMA foreign_keys = OFF');
    await db.exec(`
      INSERT INTO projects (id) VALUES ('p1');
      INSERT INTO tasks (id, project_id, assignee_id) VALUES ('ok', 'p1', NULL);
      INSERT INTO tasks (id, project_id, assignee_id) VALUES ('orphan', 'gone', NULL);
      INSERT INTO tasks (id, project_id, assignee_id) VALUES ('unassigned', 'p1', 'nobody');
      INSERT INTO tasks (id, project_id) VALUES ('mine', 'also-gone');
      INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) VALUES ('tasks', 'mine', 'U', 1, 1, 0);
      INSERT INTO temp.ferry_touched (tbl, pk, op) VALUES ('tasks', 'ok', 'u'), ('tasks', 'orphan', 'u'),
        ('tasks', 'unassigned', 'u'), ('tasks', 'mine', 'u');
    `);
  });
  afterEach(async () => {
    await db.close();
  });

  it('reports required dangling references, optional ones as not required, and skips rows with local intent', async () => {
    const violations = await db.transaction((tx) =>
      findIntegrityViolations(
        tx,
        buildIntegrityQueries(schema, { upserted: new Set(['tasks']), deleted: new Set() }),
      ),
    );
    expect(violations).toEqual([
      {
        table: 'tasks',
        pk: 'orphan',
        column: 'project_id',
        parentTable: 'projects',
        parentPk: 'gone',
        required: true,
      },
      {
        table: 'tasks',
        pk: 'unassigned',
        column: 'assignee_id',
        parentTable: 'people',
        parentPk: 'nobody',
        required: false,
      },
    ]);
  });

  it('finds the same violations reading the touched rows in ranges of any size (a hydration reads them 10,000 at a time)', async () => {
    const queries = buildIntegrityQueries(schema, {
      upserted: new Set(['tasks']),
      deleted: new Set(),
    });
    const whole = await db.transaction((tx) => findIntegrityViolations(tx, queries));
    expect(whole).toHaveLength(2);
    for (const chunk of [1, 2, 3]) {
      const ranged = await db.transaction((tx) => findIntegrityViolations(tx, queries, chunk));
      expect(ranged, `chunks of ${chunk}`).toEqual(whole);
    }
  });

  it('finds children left behind by a deleted parent', async () => {
    await db.exec(
      `DELETE FROM temp.ferry_touched; INSERT INTO temp.ferry_touched (tbl, pk, op) VALUES ('projects', 'gone', 'd');`,
    );
    const violations = await db.transaction((tx) =>
      findIntegrityViolations(
        tx,
        buildIntegrityQueries(schema, { upserted: new Set(), deleted: new Set(['projects']) }),
      ),
    );
    expect(violations.map((v) => v.pk)).toEqual(['orphan']);
  });
});
