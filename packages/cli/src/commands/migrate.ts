import { parseArgs } from 'node:util';
import type { MigrationStep } from '@ferry/protocol';
import type { StoreMigrationPlan } from '@ferry/server';
import type { CliIo } from '../cli-command.js';
import { loadSchema, storeFor } from './serve.js';

const HELP = `Usage: ferry migrate [options]

Brings the server's database to the newest version of the schema, as "ferry serve"
does when it starts (one transaction per version; on PostgreSQL under a lock, so
instances starting together migrate once). With --dry-run it prints the plan
and the SQL of every pending version and changes nothing.

Options:
  --data DIR        directory of the embedded SQLite store (default ./ferry-data)
  --postgres URL    use PostgreSQL (business tables in the connection's schema)
  --pg-schema NAME  schema of the sync metadata with --postgres (default ferry)
  --schema FILE     module (.ts or .js) whose default export is the schema, or the
                    history of its versions (schemaHistory); default: the example
  --dry-run         print what would be done, do nothing
  -h, --help        show this help`;

/** Runs `ferry migrate`. */
export async function runMigrate(args: readonly string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      allowPositionals: false,
      options: {
        data: { type: 'string', default: './ferry-data' },
        postgres: { type: 'string' },
        'pg-schema': { type: 'string' },
        schema: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    io.err(`ferry migrate: ${(error as Error).message}\n\n${HELP}`);
    return 1;
  }
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  try {
    const history = await loadSchema(values.schema);
    const { store, line } = await storeFor({
      data: values.data,
      postgres: values.postgres,
      pgSchema: values['pg-schema'],
    });
    const plan = await store.migrationPlan(history);
    io.out(`Database: ${line}`);
    for (const text of planLines(plan)) io.out(text);
    if (values['dry-run'] || (plan.from !== null && plan.migrations.length === 0)) {
      await store.close();
      return 0;
    }
    try {
      await store.open(history);
    } finally {
      await store.close();
    }
    io.out(
      plan.from === null
        ? `Created the tables of version ${plan.to}.`
        : `Migrated from version ${plan.from} to ${plan.to}.`,
    );
    return 0;
  } catch (error) {
    io.err(`ferry migrate: ${(error as Error).message}`);
    return 1;
  }
}

/** The plan as printed: the versions, each step in words, and the SQL. */
export function planLines(plan: StoreMigrationPlan): string[] {
  if (plan.from === null) {
    return [`The database is empty: the tables of version ${plan.to} would be created.`];
  }
  if (plan.migrations.length === 0) {
    return [`The database holds version ${plan.from}, the newest: nothing to do.`];
  }
  const lines = [
    `The database holds version ${plan.from}; the newest is ${plan.to}. Pending, one transaction each:`,
  ];
  for (const migration of plan.migrations) {
    lines.push('', `Version ${migration.version}:`);
    for (const step of migration.steps) lines.push(`  - ${describeStep(step)}`);
    lines.push('  SQL:');
    for (const sql of migration.sql) {
      for (const [i, text] of sql.split('\n').entries())
        lines.push(`    ${i === 0 ? '' : '  '}${text}`);
    }
  }
  return lines;
}

/** One step in words. */
export function describeStep(step: MigrationStep): string {
  switch (step.kind) {
    case 'rename-table':
      return `rename table ${step.from} to ${step.to}`;
    case 'rename-column':
      return `rename column ${step.table}.${step.from} to ${step.to}`;
    case 'drop-index':
      return `drop index ${step.index} of ${step.table}`;
    case 'add-table':
      return `add table ${step.table}`;
    case 'add-column':
      return `add column ${step.table}.${step.column}`;
    case 'change-column':
      return `widen column ${step.table}.${step.column} (${step.changes.join(', ')})`;
    case 'sql':
      return "run the version's custom SQL (its writes reach devices as bundles)";
    case 'drop-column':
      return `drop column ${step.table}.${step.column}`;
    case 'drop-table':
      return `drop table ${step.table}`;
    case 'add-index':
      return `add index ${step.index} of ${step.table}`;
  }
}
