// The sign-in page: the form, the reason a session ended (expired, signed out in another tab),
// and the server's refusal in words (role="alert").
import { useId, useState, type FormEvent } from "react";
import { login, type Session } from "../services/auth";
import { Logo } from "../lib/ui/Logo";
import { ThemeToggle } from "../lib/ui/ThemeToggle";
import { LockIcon } from "../lib/ui/icons";

export function LoginPage({ message, onSignedIn }: { message: string | null; onSignedIn: (session: Session) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const userId = useId();
  const passId = useId();

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const session = await login(username.trim(), password);
      onSignedIn(session);
    } catch (e) {
      setError(e instanceof Error && e.message ? e.message : "Sign-in failed. Try again.");
      setBusy(false);
    }
  }

  const notice = error ?? message;

  return (
    <div className="login-page">
      <div className="login-theme">
        <ThemeToggle />
      </div>
      <main className="login-card">
        <div className="login-brand">
          <Logo size={40} />
          <div>
            <h1>Hybrid DNS</h1>
            <p className="muted">Real-time operations dashboard</p>
          </div>
        </div>
        {notice && (
          <div role="alert" className={`login-notice ${error ? "is-error" : "is-info"}`}>
            {notice}
          </div>
        )}
        <form onSubmit={submit} className="login-form" noValidate>
          <div className="field">
            <label htmlFor={userId}>Username</label>
            <input
              id={userId}
              name="username"
              autoComplete="username"
              autoFocus
              required
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={passId}>Password</label>
            <input
              id={passId}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          <button type="submit" className="button primary block" disabled={busy} aria-busy={busy}>
            <LockIcon size={15} />
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
        <p className="login-foot muted">
          First start? The admin password is in <code>data/initial-admin-password</code>.
        </p>
      </main>
    </div>
  );
}
