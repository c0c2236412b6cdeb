// The navigation: a side bar on wide screens, a drawer on a phone. Entries the role cannot use are
// not shown (admins only: users, settings, webhooks, audit).

import { Link } from "@tanstack/react-router";
import type { ComponentType } from "react";
import { isAdmin, useSession } from "../../lib/session";
import { FileTextIcon, ForwardIcon, GlobeIcon, HomeIcon, ListIcon, SettingsIcon, ShieldIcon, UsersIcon, ZapIcon } from "../../lib/ui/icons";

type To = "/" | "/events" | "/zones" | "/rpz" | "/forwarders" | "/users" | "/settings" | "/webhooks" | "/audit";

interface NavItem {
  to: To;
  label: string;
  icon: ComponentType<{ size?: number }>;
  adminOnly?: boolean;
}

export const NAV_ITEMS: NavItem[] = [
  { to: "/", label: "Overview", icon: HomeIcon },
  { to: "/events", label: "Events", icon: ListIcon },
  { to: "/zones", label: "Zones", icon: GlobeIcon },
  { to: "/rpz", label: "RPZ", icon: ShieldIcon },
  { to: "/forwarders", label: "Forwarders", icon: ForwardIcon },
  { to: "/users", label: "Users", icon: UsersIcon, adminOnly: true },
  { to: "/settings", label: "Settings", icon: SettingsIcon, adminOnly: true },
  { to: "/webhooks", label: "Webhooks", icon: ZapIcon, adminOnly: true },
  { to: "/audit", label: "Audit log", icon: FileTextIcon, adminOnly: true },
];

export function NavLinks({ onNavigate }: { onNavigate?: () => void }) {
  const { role } = useSession();
  return (
    <ul className="nav-list">
      {NAV_ITEMS.filter((item) => !item.adminOnly || isAdmin(role)).map(({ to, label, icon: Icon }) => (
        <li key={to}>
          <Link to={to} className="nav-link" activeOptions={{ exact: to === "/", includeSearch: false }} onClick={onNavigate}>
            <Icon size={16} />
            <span>{label}</span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

export function SideNav() {
  return (
    <nav className="side-nav" aria-label="Main">
      <NavLinks />
    </nav>
  );
}
