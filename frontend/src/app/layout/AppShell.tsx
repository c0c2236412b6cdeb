// The frame of every page: header, navigation, the "not live" banner, and the page itself. After a
// navigation the new page's heading takes the focus (a screen reader announces where the user is)
// and the document title follows.

import { Outlet, useLocation, useMatches } from "@tanstack/react-router";
import { useEffect, useRef } from "react";
import { LiveBanner } from "../../features/connection";
import { Header } from "./Header";
import { SideNav } from "./Nav";

export function AppShell() {
  const pathname = useLocation({ select: (l) => l.pathname });
  const matches = useMatches();
  const title = [...matches].reverse().find((m) => m.staticData.title)?.staticData.title;
  const first = useRef(true);

  useEffect(() => {
    document.title = title ? `${title} · Hybrid DNS` : "Hybrid DNS";
  }, [title]);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>("#main [data-page-title]")?.focus({ preventScroll: false });
  }, [pathname]);

  return (
    <div className="app">
      <Header />
      <LiveBanner />
      <div className="app-body">
        <SideNav />
        <main id="main" className="app-main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
