import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { ErrorBox } from '../components/ErrorBox';

/** Log in with Uyuni credentials (the gateway's session). `expired`: the session ended while
 *  the user was on a page; they come back to it after logging in. */
export function Login({ onDone, expired }: { onDone: () => void; expired: boolean }) {
  const [user, setUser] = useState('');
  const [pass, setPass] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.login(user, pass);
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Uyuni cluster</h1>
        {expired && <p class="note" role="status">Your session has ended: log in again to go on where you were.</p>}
        <label>
          User name
          <input name="username" autoComplete="username" value={user} required autoFocus
            onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={pass} required
            onInput={(e) => setPass((e.target as HTMLInputElement).value)} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="hint">Your Uyuni user: the same on every node of the cluster.</p>
      </form>
    </main>
  );
}
