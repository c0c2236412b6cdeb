// What a page shows when it does not exist, when the role may not see it (a link typed or shared;
// the navigation itself shows no entry the role cannot use), or when it failed to load.

import { Link, useRouter, type ErrorComponentProps } from "@tanstack/react-router";
import type { ReactNode } from "react";
import { isAdmin, useSession } from "../../lib/session";
import { PageHeader } from "../../lib/ui/Page";
import { EmptyState, ErrorState, ForbiddenState } from "../../lib/ui/StateViews";

export function NotFound() {
  return (
    <div className="page">
      <PageHeader title="Page not found" />
      <section className="panel">
        <EmptyState title="There is no page at this address" action={<Link to="/" className="button">Go to the overview</Link>}>
          The link may be mistyped or out of date.
        </EmptyState>
      </section>
    </div>
  );
}

export function RequireAdmin({ what, children }: { what: string; children: ReactNode }) {
  const { role } = useSession();
  if (isAdmin(role)) return <>{children}</>;
  return (
    <div className="page">
      <PageHeader title="Not available to your role" />
      <section className="panel">
        <ForbiddenState title={`Only admins can see ${what}`}>
          You are signed in as a {role}. Ask an administrator if you need access.
        </ForbiddenState>
      </section>
    </div>
  );
}

/** A page that failed to render or load its code: the reason in words and a retry, not a blank page. */
export function RouteError({ error, reset }: ErrorComponentProps) {
  const router = useRouter();
  const text = error instanceof Error ? error.message : String(error);
  const reachable = !(error instanceof TypeError) && !/dynamically imported module|Failed to fetch/i.test(text);
  return (
    <div className="page">
      <PageHeader title="This page could not be shown" />
      <section className="panel">
        <ErrorState
          title="Something went wrong"
          error={reachable ? new Error("The page failed to load. Try again.") : new Error("Cannot reach the server. Check your connection and try again.")}
          onRetry={() => {
            reset();
            void router.invalidate();
          }}
        />
      </section>
    </div>
  );
}
