import { logout } from "../services/auth";
import { useRealTimeEvents } from "../contexts/RealTimeEventContext";
import { ConnectionStatus } from "./ConnectionStatus";
import { Logo } from "./Logo";
import { RealTimeNotifications } from "./RealTimeNotifications";
import { ThemeToggle } from "./ThemeToggle";
import { LogOutIcon, UserIcon } from "./icons";

export function Header() {
  const { session } = useRealTimeEvents();
  return (
    <header className="app-header">
      <a className="skip-link" href="#main">
        Skip to dashboard
      </a>
      <div className="brand">
        <Logo size={28} />
        <h1>Hybrid DNS</h1>
        <span className="brand-sub">Live operations</span>
      </div>
      <ConnectionStatus />
      <div className="header-actions">
        <RealTimeNotifications />
        <ThemeToggle />
        <span className="header-divider" aria-hidden="true" />
        <div className="user-chip" title={`Signed in as ${session.username} (${session.role})`}>
          <UserIcon size={15} />
          <span className="user-name" data-testid="user-name">
            {session.username}
          </span>
          <span className="role-tag">{session.role}</span>
        </div>
        <button type="button" className="button ghost" onClick={() => logout()}>
          <LogOutIcon size={15} />
          Sign out
        </button>
      </div>
    </header>
  );
}
