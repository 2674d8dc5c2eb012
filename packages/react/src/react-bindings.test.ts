import { createElement, type ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installDom } from './test-support/dom.js';
import type { FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { startHarness, uuid, type Harness } from '../../../test/support/ferry-harness.js';
// The DOM comes first: Testing Library binds `screen` to the document when it loads. The test
// runs in Node's realm with a jsdom document (vitest's jsdom environment would replace the
// globals the server's JWT code checks values against).
installDom();
const { act, cleanup, render, screen, waitFor } = await import('@testing-library/react');
const { FerryProvider, useConflicts, useDeadLetters, usePendingCount, useQuery, useSyncStatus } =
  await import('./index.js');

function Titles({ label }: { label: string }): ReactNode {
  const { rows, loading, error } = useQuery<{ title: string }>(
    'SELECT title FROM todos ORDER BY title',
  );
  if (loading) return createElement('p', null, `${label}: loading`);
  if (error) return createElement('p', null, `${label}: ${error.code}`);
  return createElement(
    'ul',
    { 'aria-label': label },
    rows.map((row) => createElement('li', { key: row.title }, row.title)),
  );
}

function Status(): ReactNode {
  const status = useSyncStatus();
  const pending = usePendingCount();
  return createElement('p', { role: 'status' }, `${status.state} · ${pending} waiting`);
}

function Conflicts(): ReactNode {
  const { items, resolve } = useConflicts();
  return createElement(
    'section',
    { 'aria-label': 'Conflicts' },
    items.map((conflict) =>
      createElement(
        'button',
        { key: conflict.id, onClick: () => void resolve(conflict.id, 'server') },
        `keep server for ${String(conflict.local?.['title'])}`,
      ),
    ),
  );
}

function DeadLetters(): ReactNode {
  const { items, discard } = useDeadLetters();
  return createElement(
    'section',
    { 'aria-label': 'Dead letters' },
    items.map((letter) =>
      createElement(
        'button',
        { key: letter.id, onClick: () => void discard(letter.id) },
        `discard ${letter.code}`,
      ),
    ),
  );
}

function provide(client: FerryClient<TodoSchema>, ...children: ReactNode[]): ReactNode {
  return createElement(FerryProvider, { client: client as unknown as FerryClient }, ...children);
}

describe('@ferry/react', () => {
  let h: Harness;
  let listId: string;
  beforeEach(async () => {
    h = await startHarness();
    listId = uuid();
  });
  afterEach(async () => {
    cleanup();
    await h.close();
  });

  it('useQuery renders the rows and re-renders after a write; two providers keep two clients apart', async () => {
    const a = await h.client('a');
    const b = await h.client('b', 'bob');
    render(
      createElement(
        'div',
        null,
        provide(a, createElement(Titles, { label: 'A' })),
        provide(b, createElement(Titles, { label: 'B' })),
      ),
    );
    await screen.findByRole('list', { name: 'A' });
    await screen.findByRole('list', { name: 'B' });
    await act(() =>
      a.write((tx) => {
        tx.insert('lists', { id: listId, name: 'L' });
        tx.insert('todos', { id: uuid(), list_id: listId, title: 'milk' });
      }),
    );
    await waitFor(() => expect(screen.getByRole('list', { name: 'A' }).textContent).toBe('milk'));
    expect(screen.getByRole('list', { name: 'B' }).textContent).toBe('');
  });

  it('useSyncStatus and usePendingCount follow writes and syncs', async () => {
    const a = await h.client('a');
    render(provide(a, createElement(Status)));
    expect(screen.getByRole('status').textContent).toBe('idle · 0 waiting');
    await act(() =>
      a.write((tx) => {
        tx.insert('lists', { id: listId, name: 'L' });
        tx.insert('todos', { id: uuid(), list_id: listId, title: 'x' });
      }),
    );
    await act(async () => void (await a.readStatus()));
    await waitFor(() => expect(screen.getByRole('status').textContent).toBe('idle · 2 waiting'));
    await act(async () => void (await a.sync()));
    await waitFor(() => expect(screen.getByRole('status').textContent).toBe('idle · 0 waiting'));
  });

  it('useConflicts shows a manual conflict and resolves it; useDeadLetters shows a refused change and discards it', async () => {
    const a = await h.client('a', 'alice', { resolvers: { todos: 'manual' } });
    const b = await h.client('b');
    const todoId = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'base' });
    });
    await a.sync();
    await b.sync();
    await b.write((tx) => tx.update('todos', todoId, { title: 'theirs' }));
    await b.sync();
    render(
      provide(
        a,
        createElement(Conflicts),
        createElement(DeadLetters),
        createElement(Titles, { label: 'A' }),
      ),
    );
    await act(() => a.write((tx) => tx.update('todos', todoId, { title: 'mine' })));
    await act(async () => void (await a.sync()));
    const button = await screen.findByRole('button', { name: 'keep server for mine' });
    await act(async () => button.click());
    await waitFor(() => expect(screen.queryByRole('button', { name: /keep server/ })).toBeNull());
    await waitFor(() => expect(screen.getByRole('list', { name: 'A' }).textContent).toBe('theirs'));

    // Plain SQL skips the client's own checks: a name over 200 characters, which the server
    // refuses for good.
    await act(
      async () =>
        void (await a.execute('INSERT INTO lists (id, name) VALUES (?, ?)', [
          uuid(),
          'x'.repeat(201),
        ])),
    );
    await act(async () => void (await a.sync()));
    const letter = await screen.findByRole('button', { name: /^discard / });
    await act(async () => letter.click());
    await waitFor(() => expect(screen.queryByRole('button', { name: /^discard / })).toBeNull());
  });
});
