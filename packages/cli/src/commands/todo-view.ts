/**
 * What `ferry client` shows of the example schema: the lists and todos of a device as plain
 * values, their listing, the lines that describe what changed between two reads, and finding a
 * list or a todo by what a person types. Pure.
 *
 * @module
 */

/** A list as the CLI shows it. */
export interface ListView {
  readonly id: string;
  readonly name: string;
}

/** A todo as the CLI shows it. */
export interface TodoView {
  readonly id: string;
  readonly listId: string;
  readonly title: string;
  readonly done: boolean;
}

/** Everything a device holds, by id. */
export interface TodoSnapshot {
  readonly lists: ReadonlyMap<string, ListView>;
  readonly todos: ReadonlyMap<string, TodoView>;
}

/** The short id people type: the first 8 characters of the UUID. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** One todo's line: `[x] title  (id)`. */
export function todoLine(todo: TodoView): string {
  return `[${todo.done ? 'x' : ' '}] ${todo.title}  (${shortId(todo.id)})`;
}

/** The listing of every list (or of `only`) with its todos, open ones first. */
export function formatTodos(snapshot: TodoSnapshot, only?: ListView): string[] {
  const lines: string[] = [];
  const lists = [...snapshot.lists.values()]
    .filter((list) => only === undefined || list.id === only.id)
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  for (const list of lists) {
    const todos = [...snapshot.todos.values()]
      .filter((todo) => todo.listId === list.id)
      .sort((a, b) => Number(a.done) - Number(b.done) || a.title.localeCompare(b.title));
    lines.push(`${list.name}  (${shortId(list.id)})`);
    if (todos.length === 0) lines.push('  (no todos)');
    for (const todo of todos) lines.push(`  ${todoLine(todo)}`);
  }
  return lines;
}

/** One line per list: its name, id and how many todos are open and done. */
export function formatLists(snapshot: TodoSnapshot): string[] {
  return [...snapshot.lists.values()]
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
    .map((list) => {
      const todos = [...snapshot.todos.values()].filter((t) => t.listId === list.id);
      const done = todos.filter((t) => t.done).length;
      return `${list.name}  (${shortId(list.id)})  ${todos.length - done} open, ${done} done`;
    });
}

/**
 * What changed from `before` to `after`, one line each: `+` added, `~` changed, `-` removed;
 * lists first, then todos (with their list's name).
 */
export function diffSnapshots(before: TodoSnapshot, after: TodoSnapshot): string[] {
  const lines: string[] = [];
  for (const [id, list] of after.lists) {
    const old = before.lists.get(id);
    if (!old) lines.push(`+ list ${list.name}  (${shortId(id)})`);
    else if (old.name !== list.name)
      lines.push(`~ list ${old.name} → ${list.name}  (${shortId(id)})`);
  }
  for (const [id, list] of before.lists) {
    if (!after.lists.has(id)) lines.push(`- list ${list.name}  (${shortId(id)})`);
  }
  const listName = (todo: TodoView) =>
    after.lists.get(todo.listId)?.name ?? before.lists.get(todo.listId)?.name ?? '?';
  for (const [id, todo] of after.todos) {
    const old = before.todos.get(id);
    if (!old) lines.push(`+ ${todoLine(todo)} in ${listName(todo)}`);
    else if (old.done !== todo.done || old.title !== todo.title || old.listId !== todo.listId) {
      lines.push(`~ ${todoLine(todo)} in ${listName(todo)}`);
    }
  }
  for (const [id, todo] of before.todos) {
    if (!after.todos.has(id)) lines.push(`- ${todo.title}  (${shortId(id)})`);
  }
  return lines;
}

/** What {@link findOne} found. */
export type Found<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * The one item `query` names: an id or id prefix (at least 4 characters), else a name compared
 * without regard to case. None or several is a message saying so.
 */
export function findOne<T extends { readonly id: string }>(
  items: Iterable<T>,
  query: string,
  nameOf: (item: T) => string,
  what: string,
): Found<T> {
  const all = [...items];
  const q = query.trim().toLowerCase();
  const byId = q.length >= 4 ? all.filter((item) => item.id.toLowerCase().startsWith(q)) : [];
  const matches = byId.length > 0 ? byId : all.filter((item) => nameOf(item).toLowerCase() === q);
  if (matches.length === 1) return { ok: true, value: matches[0]! };
  if (matches.length === 0) return { ok: false, message: `no ${what} "${query}"` };
  return {
    ok: false,
    message: `"${query}" names ${matches.length} ${what}s (${matches
      .map((m) => shortId(m.id))
      .join(', ')}): use the id`,
  };
}

/**
 * A name or title as typed, trimmed; empty is a message. (Length and the rest are the schema's
 * to check, on write.)
 */
export function checkText(text: string, what: string): Found<string> {
  const value = text.trim();
  if (value === '') return { ok: false, message: `${what} needs a name that is not blank` };
  return { ok: true, value };
}

/**
 * `name` for the list `id`, if no other list has it (compared as {@link findOne} compares
 * names: trimmed, in any case). Names stay unique, so a name always finds one list; only
 * devices that made the same name while apart can still make two, and then the ids tell them
 * apart.
 */
export function checkListName(lists: Iterable<ListView>, name: string, id: string): Found<string> {
  const checked = checkText(name, 'a list');
  if (!checked.ok) return checked;
  const key = checked.value.toLowerCase();
  const taken = [...lists].find((list) => list.id !== id && list.name.trim().toLowerCase() === key);
  if (taken) {
    return {
      ok: false,
      message: `there is a list "${taken.name}" already (${shortId(taken.id)}): pick another name`,
    };
  }
  return checked;
}
