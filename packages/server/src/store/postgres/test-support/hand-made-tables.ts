/**
 * The example todo schema's tables as a backend team would have made them by hand, before Ferry:
 * plain SQL, its own names for constraints and indexes, a column Ferry does not know, and rows
 * put in with INSERT … SELECT. For the tests and the benchmark of adoption.
 */
import { adminQuery } from './pg-test-database.js';

/** CREATE statements of `lists` and `todos` in schema `business` (which must exist). */
export function handMadeTodoTablesSql(business: string): string {
  const b = `"${business}"`;
  return `
CREATE TABLE ${b}.lists (
  id uuid PRIMARY KEY,
  owner_id text NOT NULL,
  name varchar(200) NOT NULL,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz,
  archived boolean NOT NULL DEFAULT false
);
CREATE TABLE ${b}.todos (
  id uuid PRIMARY KEY,
  owner_id text NOT NULL,
  list_id uuid NOT NULL CONSTRAINT todo_list REFERENCES ${b}.lists (id) ON DELETE CASCADE,
  title text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  position double precision,
  updated_at timestamptz,
  legacy_note text
);
CREATE INDEX todos_by_list ON ${b}.todos (list_id, position);`;
}

/**
 * Makes the schema and the tables, and `lists` lists spread over `users` users (`user-0`, …)
 * with `todosPerList` todos each, all by plain SQL.
 */
export async function makeHandMadeTodoTables(
  business: string,
  shape: { readonly users: number; readonly lists: number; readonly todosPerList: number },
): Promise<void> {
  const b = `"${business}"`;
  await adminQuery(`CREATE SCHEMA ${b}; ${handMadeTodoTablesSql(business)}`);
  await adminQuery(
    `INSERT INTO ${b}.lists (id, owner_id, name, updated_at)
     SELECT gen_random_uuid(), 'user-' || (i % $2), 'list ' || i, now() FROM generate_series(1, $1) AS i`,
    [shape.lists, shape.users],
  );
  if (shape.todosPerList > 0) {
    await adminQuery(
      `INSERT INTO ${b}.todos (id, owner_id, list_id, title, position)
       SELECT gen_random_uuid(), l.owner_id, l.id, l.name || ' todo ' || j, j
       FROM ${b}.lists AS l, generate_series(1, $1) AS j`,
      [shape.todosPerList],
    );
  }
}
