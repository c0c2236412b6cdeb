// Everything that exists while signed in, one instance per session (a new sign-in starts afresh):
// the query cache, the session, the live connections, the notifications, the bridge from events
// to the cache, and the router.

import { QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import { useState } from "react";
import { NotificationsProvider } from "../features/events";
import { createQueryClient } from "../lib/queryClient";
import { RealtimeProvider } from "../lib/realtime/RealtimeProvider";
import { SessionProvider } from "../lib/session";
import type { Session } from "../services/auth";
import { LiveCacheBridge } from "./LiveCacheBridge";
import { createAppRouter } from "./router";

export function AuthenticatedApp({ session }: { session: Session }) {
  const [queryClient] = useState(createQueryClient);
  const [router] = useState(() => createAppRouter({ queryClient }));
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider session={session}>
        <RealtimeProvider session={session}>
          <NotificationsProvider>
            <LiveCacheBridge />
            <RouterProvider router={router} />
          </NotificationsProvider>
        </RealtimeProvider>
      </SessionProvider>
    </QueryClientProvider>
  );
}
