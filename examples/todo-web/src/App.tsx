/**
 * The app's screens: the sync bar, the lists, the todos of the selected list, and the panels of
 * conflicts and dead letters. The accessible names here are a contract that end-to-end tests
 * drive (see the README of this example).
 */
import { useEffect, useId, useState, useSyncExternalStore, type FormEvent } from 'react';
import { useConflicts, useDeadLetters, useQuery, useSyncStatus } from '@ferry/react';
import type { ManualConflict } from '@ferry/client';
import type { Session } from './session.js';
import { statusWords } from './status-words.js';

type ListRow = { readonly id: string; readonly name: string };

type TodoRow = { readonly id: string; readonly title: string; readonly done: number };

export function App({ session, onSignOut }: { session: Session; onSignOut: () => Promise<void> }) {
  const [selected, setSelected] = useState<string | null>(null);
  return (
    <div className="app">
      <header>
        <h1>Ferry todos</h1>
        <SyncBar session={session} />
        <span className="user">{session.userId}</span>
        <button type="button" onClick={() => void onSignOut()}>
          Sign out
        </button>
      </header>
      <main>
        <Lists session={session} selected={selected} onSelect={setSelected} />
        {selected !== null && <Todos session={session} listId={selected} />}
      </main>
      <aside>
        <ConflictsPanel />
        <DeadLettersPanel />
      </aside>
    </div>
  );
}

function SyncBar({ session }: { session: Session }) {
  const status = useSyncStatus();
  const { tabs } = session;
  const paused = useSyncExternalStore(
    (listener) => tabs.subscribe(listener),
    () => tabs.paused,
  );
  return (
    <div className="sync">
      <p role="status">{statusWords(status)}</p>
      <label>
        <input
          type="checkbox"
          checked={paused}
          onChange={(event) => void tabs.setPaused(event.currentTarget.checked)}
        />{' '}
        Work offline
      </label>
    </div>
  );
}

function Lists({
  session,
  selected,
  onSelect,
}: {
  session: Session;
  selected: string | null;
  onSelect: (id: string | null) => void;
}) {
  const { rows } = useQuery<ListRow>('SELECT id, name FROM lists ORDER BY name, id');
  const add = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = fieldOf(form, 'name').trim();
    if (name === '') return;
    const id = crypto.randomUUID();
    await session.client.write((tx) => tx.insert('lists', { id, name }));
    form.reset();
    onSelect(id);
  };
  return (
    <section className="lists" aria-labelledby="lists-heading">
      <h2 id="lists-heading">Lists</h2>
      <form onSubmit={(event) => void add(event)}>
        <label>
          New list <input name="name" maxLength={200} />
        </label>
        <button type="submit">Add list</button>
      </form>
      <ul>
        {rows.map((list) => (
          <li key={list.id} className={list.id === selected ? 'selected' : undefined}>
            <button
              type="button"
              aria-pressed={list.id === selected}
              onClick={() => onSelect(list.id)}
            >
              {list.name}
            </button>
            <Rename
              what={`list ${list.name}`}
              value={list.name}
              onSave={(name) => session.client.write((tx) => tx.update('lists', list.id, { name }))}
            />
            <button
              type="button"
              aria-label={`Delete list ${list.name}`}
              onClick={() => void session.client.write((tx) => tx.delete('lists', list.id))}
            >
              Delete
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Todos({ session, listId }: { session: Session; listId: string }) {
  const { rows } = useQuery<TodoRow>(
    'SELECT id, title, done FROM todos WHERE list_id = ? ORDER BY position, id',
    [listId],
  );
  const { rows: lists, loading } = useQuery<ListRow>('SELECT id, name FROM lists WHERE id = ?', [
    listId,
  ]);
  const list = lists[0];
  // The list was deleted (here, in another tab, or on another device).
  if (!loading && list === undefined) return null;
  const add = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const title = fieldOf(form, 'title').trim();
    if (title === '') return;
    await session.client.write((tx) =>
      tx.insert('todos', { id: crypto.randomUUID(), list_id: listId, title, position: Date.now() }),
    );
    form.reset();
  };
  return (
    <section className="todos" aria-labelledby="todos-heading">
      <h2 id="todos-heading">{list?.name ?? 'Todos'}</h2>
      <form onSubmit={(event) => void add(event)}>
        <label>
          New todo <input name="title" maxLength={500} />
        </label>
        <button type="submit">Add todo</button>
      </form>
      <ul>
        {rows.map((todo) => (
          <Todo key={todo.id} session={session} todo={todo} />
        ))}
      </ul>
    </section>
  );
}

function Todo({ session, todo }: { session: Session; todo: TodoRow }) {
  const titleId = useId();
  // The box follows a click at once; the live query brings the stored value right after (and
  // any change from elsewhere).
  const stored = todo.done === 1;
  const [done, setDone] = useState(stored);
  useEffect(() => setDone(stored), [stored]);
  return (
    <li aria-labelledby={titleId} className={done ? 'done' : undefined}>
      <input
        type="checkbox"
        aria-labelledby={titleId}
        checked={done}
        onChange={(event) => {
          const next = event.currentTarget.checked;
          setDone(next);
          void session.client.write((tx) => tx.update('todos', todo.id, { done: next }));
        }}
      />
      <span id={titleId}>{todo.title}</span>
      <Rename
        what={todo.title}
        value={todo.title}
        onSave={(title) => session.client.write((tx) => tx.update('todos', todo.id, { title }))}
      />
      <button
        type="button"
        aria-label={`Delete ${todo.title}`}
        onClick={() => void session.client.write((tx) => tx.delete('todos', todo.id))}
      >
        Delete
      </button>
    </li>
  );
}

/** A "Rename" button that turns into a field with Save and Cancel. */
function Rename({
  what,
  value,
  onSave,
}: {
  what: string;
  value: string;
  onSave: (value: string) => Promise<unknown>;
}) {
  const [editing, setEditing] = useState(false);
  if (!editing) {
    return (
      <button type="button" aria-label={`Rename ${what}`} onClick={() => setEditing(true)}>
        Rename
      </button>
    );
  }
  return (
    <form
      className="rename"
      onSubmit={(event) => {
        event.preventDefault();
        const next = fieldOf(event.currentTarget, 'value').trim();
        if (next !== '' && next !== value) void onSave(next);
        setEditing(false);
      }}
    >
      <label>
        New name for {what} <input name="value" defaultValue={value} autoFocus />
      </label>
      <button type="submit">Save</button>
      <button type="button" onClick={() => setEditing(false)}>
        Cancel
      </button>
    </form>
  );
}

function ConflictsPanel() {
  const { items, resolve } = useConflicts();
  return (
    <section className="conflicts" aria-labelledby="conflicts-heading">
      <h2 id="conflicts-heading">Conflicts</h2>
      {items.length === 0 ? (
        <p>No conflicts.</p>
      ) : (
        items.map((conflict) => (
          <Conflict key={conflict.id} conflict={conflict} resolve={resolve} />
        ))
      )}
    </section>
  );
}

function Conflict({
  conflict,
  resolve,
}: {
  conflict: ManualConflict;
  resolve: ReturnType<typeof useConflicts>['resolve'];
}) {
  const columns = [
    ...new Set([...Object.keys(conflict.local ?? {}), ...Object.keys(conflict.server ?? {})]),
  ].filter(
    (column) =>
      JSON.stringify(conflict.local?.[column]) !== JSON.stringify(conflict.server?.[column]),
  );
  // Merge: the server's row with the fields this device changed since the base.
  const merged =
    conflict.local !== null && conflict.server !== null
      ? {
          ...conflict.server,
          ...Object.fromEntries(
            Object.entries(conflict.local).filter(
              ([column, value]) =>
                JSON.stringify(value) !== JSON.stringify(conflict.base?.[column]),
            ),
          ),
        }
      : null;
  const label = conflict.local?.['title'] ?? conflict.local?.['name'] ?? conflict.pk;
  const name = `${conflict.table} ${typeof label === 'string' ? label : String(conflict.pk)}`;
  return (
    <article aria-label={`Conflict on ${name}`}>
      <p>
        {name}: {conflict.reason}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Mine</th>
            <th scope="col">Base</th>
            <th scope="col">Server</th>
          </tr>
        </thead>
        <tbody>
          {columns.map((column) => (
            <tr key={column}>
              <th scope="row">{column}</th>
              <td>{shown(conflict.local, column)}</td>
              <td>{shown(conflict.base, column)}</td>
              <td>{conflict.serverDeleted ? '(deleted)' : shown(conflict.server, column)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={() => void resolve(conflict.id, 'client')}>
        Keep mine
      </button>
      <button type="button" onClick={() => void resolve(conflict.id, 'server')}>
        Keep server
      </button>
      {merged !== null && (
        <button type="button" onClick={() => void resolve(conflict.id, { row: merged })}>
          Merge
        </button>
      )}
    </article>
  );
}

function shown(row: Record<string, unknown> | null, column: string): string {
  if (row === null) return '—';
  const value = row[column];
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A text field of a form, trimmed ('' when absent). */
function fieldOf(form: HTMLFormElement, name: string): string {
  const value = new FormData(form).get(name);
  return typeof value === 'string' ? value : '';
}

function DeadLettersPanel() {
  const { items, retry, discard } = useDeadLetters();
  return (
    <section className="dead-letters" aria-labelledby="dead-letters-heading">
      <h2 id="dead-letters-heading">Dead letters</h2>
      {items.length === 0 ? (
        <p>Nothing was refused.</p>
      ) : (
        <ul>
          {items.map((letter) => (
            <li key={letter.id}>
              {letter.table} {String(letter.pk)}: {letter.code} — {letter.message}{' '}
              <button type="button" onClick={() => void retry(letter.id)}>
                Retry
              </button>
              <button type="button" onClick={() => void discard(letter.id)}>
                Discard
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
