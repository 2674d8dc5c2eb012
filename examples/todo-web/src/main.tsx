/**
 * The todo web app: sign in with a user name, then lists and todos in the browser's own SQLite
 * database, synced by the sync server that serves this page.
 */
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { FerryProvider } from '@ferry/react';
import { App } from './App.js';
import { openSession, type Session } from './session.js';

const KEPT_USER = 'ferry-todo-user';

function Root() {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signIn = async (userId: string) => {
    setBusy(true);
    setError(null);
    try {
      const opened = await openSession(userId);
      localStorage.setItem(KEPT_USER, userId);
      setSession(opened);
    } catch (cause) {
      setError(cause instanceof Error ? cause.message : String(cause));
    } finally {
      setBusy(false);
    }
  };
  if (session === null) {
    return (
      <main className="sign-in">
        <h1>Ferry todos</h1>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            const user = new FormData(event.currentTarget).get('user');
            if (typeof user === 'string' && user.trim() !== '') void signIn(user.trim());
          }}
        >
          <label>
            User{' '}
            <input
              name="user"
              defaultValue={localStorage.getItem(KEPT_USER) ?? ''}
              autoComplete="username"
              required
            />
          </label>
          <button type="submit" disabled={busy}>
            Sign in
          </button>
        </form>
        {error !== null && <p role="alert">{error}</p>}
      </main>
    );
  }
  return (
    <FerryProvider client={session.client} tabs={session.tabs}>
      <App
        session={session}
        onSignOut={async () => {
          await session.close();
          setSession(null);
        }}
      />
    </FerryProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
