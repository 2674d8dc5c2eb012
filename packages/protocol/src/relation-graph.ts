/**
 * The relation graph of a schema: which tables reference which, the order to write them in,
 * and the cycles that need deferred constraints. Pure functions.
 *
 * @module
 */

/** An edge of the graph: `childTable.column` references `parentTable`. */
export interface RelationEdge {
  readonly childTable: string;
  readonly column: string;
  readonly parentTable: string;
}

/**
 * The tables of a schema ordered by their references.
 *
 * Invariants:
 * 1. `tableOrder` lists every table once; a parent comes before its children, except along a
 *    reference that belongs to a cycle.
 * 2. `deleteOrder` is `tableOrder` reversed: children before parents.
 * 3. Ties (tables with no order between them) keep declaration order, so the result is
 *    deterministic.
 * 4. `cycles` lists each strongly connected set of tables that references itself (including a
 *    table referencing itself), in table order.
 */
export interface RelationGraph {
  readonly tableOrder: readonly string[];
  readonly deleteOrder: readonly string[];
  readonly cycles: readonly (readonly string[])[];
  /** Edges inside a cycle: satisfiable only with deferred foreign keys. */
  readonly cyclicReferences: readonly RelationEdge[];
  readonly edges: readonly RelationEdge[];
  /** Position of a table in `tableOrder` (parents have smaller ranks). */
  rank(table: string): number;
  /** Tables that `table` references. */
  parentsOf(table: string): readonly string[];
  /** Tables that reference `table`. */
  childrenOf(table: string): readonly string[];
}

/**
 * Computes the relation graph of tables given in declaration order and their reference edges.
 */
export function computeRelationGraph(
  tables: readonly string[],
  edges: readonly RelationEdge[],
): RelationGraph {
  const declared = new Map(tables.map((name, index) => [name, index]));
  const parents = new Map<string, string[]>(tables.map((t) => [t, []]));
  const children = new Map<string, string[]>(tables.map((t) => [t, []]));
  for (const edge of edges) {
    pushUnique(parents.get(edge.childTable), edge.parentTable);
    pushUnique(children.get(edge.parentTable), edge.childTable);
  }

  const components = stronglyConnected(tables, (t) => parents.get(t) ?? []);
  const componentOf = new Map<string, number>();
  components.forEach((members, index) => members.forEach((m) => componentOf.set(m, index)));

  // Kahn's algorithm over components: a component is ready when all its parents outside it are
  // placed; among ready ones the earliest-declared goes first.
  const placed = new Set<number>();
  const tableOrder: string[] = [];
  const byDeclaration = (a: string, b: string) => declared.get(a)! - declared.get(b)!;
  while (placed.size < components.length) {
    let next = -1;
    let nextKey = Infinity;
    components.forEach((members, index) => {
      if (placed.has(index)) return;
      const ready = members.every((m) =>
        (parents.get(m) ?? []).every(
          (p) => componentOf.get(p) === index || placed.has(componentOf.get(p)!),
        ),
      );
      const key = Math.min(...members.map((m) => declared.get(m)!));
      if (ready && key < nextKey) {
        next = index;
        nextKey = key;
      }
    });
    placed.add(next);
    tableOrder.push(...[...components[next]!].sort(byDeclaration));
  }

  const rankOf = new Map(tableOrder.map((t, i) => [t, i]));
  const cycles = components
    .filter(
      (members) => members.length > 1 || (parents.get(members[0]!) ?? []).includes(members[0]!),
    )
    .map((members) => [...members].sort((a, b) => rankOf.get(a)! - rankOf.get(b)!))
    .sort((a, b) => rankOf.get(a[0]!)! - rankOf.get(b[0]!)!);
  const cyclicReferences = edges.filter(
    (e) => componentOf.get(e.childTable) === componentOf.get(e.parentTable),
  );

  return {
    tableOrder,
    deleteOrder: [...tableOrder].reverse(),
    cycles,
    cyclicReferences,
    edges,
    rank: (table) => rankOf.get(table) ?? -1,
    parentsOf: (table) => parents.get(table) ?? [],
    childrenOf: (table) => children.get(table) ?? [],
  };
}

/** Anything that names a table and an operation, like a change or a row effect. */
export interface TableOperation {
  readonly table: string;
  readonly op: 'upsert' | 'delete';
}

/**
 * Orders changes for one transaction: upserts parents first, then deletes children first.
 * Stable: changes of the same table and operation keep their relative order.
 */
export function orderByRelations<T extends TableOperation>(
  graph: RelationGraph,
  items: readonly T[],
): T[] {
  const tableCount = graph.tableOrder.length;
  const key = (item: T) =>
    item.op === 'upsert'
      ? graph.rank(item.table)
      : tableCount + (tableCount - 1 - graph.rank(item.table));
  return items
    .map((item, index) => ({ item, index, key: key(item) }))
    .sort((a, b) => a.key - b.key || a.index - b.index)
    .map((entry) => entry.item);
}

function pushUnique(list: string[] | undefined, value: string): void {
  if (list && !list.includes(value)) list.push(value);
}

/** Tarjan's algorithm; components come out in no particular order. */
function stronglyConnected(
  nodes: readonly string[],
  next: (node: string) => readonly string[],
): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];

  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const target of next(node)) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      result.push(component);
    }
  };

  for (const node of nodes) if (!index.has(node)) visit(node);
  return result;
}
