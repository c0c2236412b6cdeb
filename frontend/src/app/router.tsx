// The routes: every page has a URL that can be bookmarked and shared, and back/forward work.
// Search parameters (a zone search, a record filter) are part of the URL, checked on the way in.
// Every page is in the first download on purpose: a dashboard must still open its pages while the
// server is unreachable (a page whose code had to be fetched then would fail to open).

import { createRootRouteWithContext, createRoute, createRouter, type ErrorComponentProps } from "@tanstack/react-router";
import type { QueryClient } from "@tanstack/react-query";
import { validateAuditSearch } from "../features/audit";
import { AuditPage } from "../features/audit/AuditPage";
import { validateExplorerSearch } from "../features/explorer";
import { ExplorerPage } from "../features/explorer/ExplorerPage";
import { ForwardersPage } from "../features/forwarders/ForwardersPage";
import { OverviewPage } from "../features/overview";
import { validateRpzSearch } from "../features/rpz";
import { RpzPage } from "../features/rpz/RpzPage";
import { SettingsPage } from "../features/settings/SettingsPage";
import { UsersPage } from "../features/users/UsersPage";
import { WebhooksPage } from "../features/webhooks/WebhooksPage";
import { validateZoneSearch, validateZonesSearch } from "../features/zones";
import { ZonePage } from "../features/zones/ZonePage";
import { ZonesPage } from "../features/zones/ZonesPage";
import { AppShell } from "./layout/AppShell";
import { NotFound, RequireAdmin, RouteError } from "./layout/Guards";

export interface RouterContext {
  queryClient: QueryClient;
}

const rootRoute = createRootRouteWithContext<RouterContext>()({
  component: AppShell,
  notFoundComponent: NotFound,
});

const overviewRoute = createRoute({ getParentRoute: () => rootRoute, path: "/", component: OverviewPage, staticData: { title: "Overview" } });
const zonesRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/zones",
  validateSearch: validateZonesSearch,
  component: ZonesPage,
  staticData: { title: "Zones" },
});
const zoneRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/zones/$zoneId",
  validateSearch: validateZoneSearch,
  component: ZonePage,
  // another zone is another page: no dialog or selection carries over
  remountDeps: ({ params }) => params.zoneId,
  staticData: { title: "Zone" },
});
const rpzRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/rpz",
  validateSearch: validateRpzSearch,
  component: RpzPage,
  staticData: { title: "RPZ" },
});
const eventsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/events",
  validateSearch: validateExplorerSearch,
  component: ExplorerPage,
  staticData: { title: "Events" },
});
const forwardersRoute = createRoute({ getParentRoute: () => rootRoute, path: "/forwarders", component: ForwardersPage, staticData: { title: "Forwarders" } });
const usersRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/users",
  component: () => <RequireAdmin what="users">{<UsersPage />}</RequireAdmin>,
  staticData: { title: "Users" },
});
const settingsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/settings",
  component: () => <RequireAdmin what="the server's settings">{<SettingsPage />}</RequireAdmin>,
  staticData: { title: "Settings" },
});
const webhooksRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/webhooks",
  component: () => <RequireAdmin what="webhooks">{<WebhooksPage />}</RequireAdmin>,
  staticData: { title: "Webhooks" },
});
const auditRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/audit",
  validateSearch: validateAuditSearch,
  component: () => <RequireAdmin what="the audit log">{<AuditPage />}</RequireAdmin>,
  staticData: { title: "Audit log" },
});

const routeTree = rootRoute.addChildren([overviewRoute, zonesRoute, zoneRoute, rpzRoute, forwardersRoute, eventsRoute, usersRoute, settingsRoute, webhooksRoute, auditRoute]);

export function createAppRouter(context: RouterContext) {
  return createRouter({
    routeTree,
    context,
    defaultPreload: "intent",
    scrollRestoration: true,
    defaultErrorComponent: (props: ErrorComponentProps) => <RouteError {...props} />,
  });
}

declare module "@tanstack/react-router" {
  interface Register {
    router: ReturnType<typeof createAppRouter>;
  }
  interface StaticDataRouteOption {
    title?: string;
  }
}
