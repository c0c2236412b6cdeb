// The header, on every page: the navigation toggle (phones), the brand, the connection and the
// live figures (marked stale when the connection is down), notifications, theme and account.

import { Link } from "@tanstack/react-router";
import { useState } from "react";
import { ConnectionStatus } from "../../features/connection";
import { NotificationsBell } from "../../features/events";
import { LiveVitals } from "../../features/overview";
import { useSession } from "../../lib/session";
import { Dialog } from "../../lib/ui/Dialog";
import { Logo } from "../../lib/ui/Logo";
import { ThemeToggle } from "../../lib/ui/ThemeToggle";
import { LogOutIcon, MenuIcon, UserIcon } from "../../lib/ui/icons";
import { logout } from "../../services/auth";
import { NavLinks } from "./Nav";

export function Header() {
  const session = useSession();
  const [drawer, setDrawer] = useState(false);
  return (
    <header className="app-header">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <button type="button" className="icon-button nav-toggle" aria-label="Open navigation" aria-expanded={drawer} onClick={() => setDrawer(true)}>
        <MenuIcon size={18} />
      </button>
      <Link to="/" className="brand" aria-label="Hybrid DNS: overview">
        <Logo size={28} />
        <span className="brand-name">Hybrid DNS</span>
      </Link>
      <ConnectionStatus figures={<LiveVitals testId="live-vitals-details" />} />
      <LiveVitals />
      <div className="header-actions">
        <NotificationsBell />
        <span className="wide-only">
          <ThemeToggle />
        </span>
        <span className="header-divider wide-only" aria-hidden="true" />
        <div className="user-chip wide-only" title={`Signed in as ${session.username} (${session.role})`}>
          <UserIcon size={15} />
          <span className="user-name" data-testid="user-name">
            {session.username}
          </span>
          <span className="role-tag">{session.role}</span>
        </div>
        <button type="button" className="button ghost sign-out" onClick={() => logout()}>
          <LogOutIcon size={15} />
          <span className="label-narrow-hidden">Sign out</span>
        </button>
      </div>
      <Dialog open={drawer} onClose={() => setDrawer(false)} title="Hybrid DNS" variant="side" testId="nav-drawer">
        <nav aria-label="Main (menu)">
          <NavLinks onNavigate={() => setDrawer(false)} />
        </nav>
        <div className="drawer-foot">
          <div className="user-chip">
            <UserIcon size={15} />
            <span className="user-name">{session.username}</span>
            <span className="role-tag">{session.role}</span>
          </div>
          <ThemeToggle />
        </div>
      </Dialog>
    </header>
  );
}
