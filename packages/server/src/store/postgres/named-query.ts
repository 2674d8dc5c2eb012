/** A query config as pg takes it, named (a prepared statement) or not. */
export interface QueryConfig {
  readonly name?: string;
  readonly text: string;
  readonly values: unknown[];
}

/** A query config of a named prepared statement. */
export interface NamedQuery extends QueryConfig {
  readonly name: string;
}

const names = new Map<string, string>();

/**
 * The store's fixed statements as named prepared statements: PostgreSQL parses and plans each
 * once per connection instead of on every call (pg's unnamed statements are planned anew each
 * time, which costs more than running most of these). The same text always gets the same name.
 */
export function named(text: string, values: unknown[]): NamedQuery {
  let name = names.get(text);
  if (name === undefined) {
    name = `ferry_${names.size + 1}`;
    names.set(text, name);
  }
  return { name, text, values };
}
