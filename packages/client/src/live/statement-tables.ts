/**
 * Which tables a statement reads and writes, found by SQLite itself: the program `EXPLAIN`
 * prints opens each table's (or index's) B-tree by its root page (`OpenRead`, `OpenWrite`;
 * `Clear` empties one whole), and `sqlite_schema` names the table of each root page. Views are expanded by SQLite, so a query on
 * a view reads the view's tables. Writes made by triggers and foreign-key actions run in
 * sub-programs the plan does not show: a write's cascades come from the schema's relations
 * (`affected-tables.ts`).
 *
 * @module
 */

/** One line of an `EXPLAIN` program, as SQLite prints it. */
export interface PlanStep {
  readonly opcode: string;
  /** For `Clear` (a DELETE without WHERE on a table without triggers): the root page. */
  readonly p1: number;
  /** For `OpenRead` / `OpenWrite`: the root page. */
  readonly p2: number;
  /** For `OpenRead` / `OpenWrite`: the database (0 is `main`). */
  readonly p3: number;
}

/** One row of `sqlite_schema` with a B-tree: a table or an index, and the table it belongs to. */
export interface SchemaObject {
  readonly rootpage: number;
  readonly tbl_name: string;
}

/** The tables a statement reads and writes (`main` only: temp tables have no capture). */
export interface StatementTables {
  readonly reads: ReadonlySet<string>;
  readonly writes: ReadonlySet<string>;
}

/** The tables of a program, by the root pages it opens. Pure. */
export function tablesOfPlan(
  plan: readonly PlanStep[],
  objects: readonly SchemaObject[],
): StatementTables {
  const byRoot = new Map(objects.map((o) => [Number(o.rootpage), o.tbl_name]));
  const reads = new Set<string>();
  const writes = new Set<string>();
  for (const step of plan) {
    let into: Set<string>;
    let root: number;
    if (step.opcode === 'OpenRead' || step.opcode === 'OpenWrite') {
      if (Number(step.p3) !== 0) continue;
      into = step.opcode === 'OpenRead' ? reads : writes;
      root = Number(step.p2);
    } else if (step.opcode === 'Clear') {
      // Clear root=P1 database=P2: SQLite empties a whole table without opening it.
      if (Number(step.p2) !== 0) continue;
      into = writes;
      root = Number(step.p1);
    } else {
      continue;
    }
    const table = byRoot.get(root);
    if (table !== undefined) into.add(table);
  }
  return { reads, writes };
}
