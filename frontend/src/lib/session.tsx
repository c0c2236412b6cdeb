// The signed-in session for React: who is signed in and what their role lets them do. The session
// itself (storage, expiry, other tabs) lives in services/auth.ts; the app mounts one provider per
// session, so every component below it reads a session that is never null.

import { createContext, useContext, type ReactNode } from "react";
import type { Session } from "../services/auth";
import type { Role } from "../types/events";

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error("useSession must be used inside <SessionProvider>");
  return session;
}

/** Operators and admins change DNS data (zones, records, RPZ, forwarders); viewers only read. */
export function canWrite(role: Role): boolean {
  return role === "operator" || role === "admin";
}

/** Users, settings and the audit log are for admins. */
export function isAdmin(role: Role): boolean {
  return role === "admin";
}

/** Whether the signed-in user may change DNS data: the app shows no write control otherwise. */
export function useCanWrite(): boolean {
  return canWrite(useSession().role);
}
