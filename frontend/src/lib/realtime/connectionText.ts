// Words for the connection's state, shared by the header, the "not live" banner and the
// overview's connection card.

import type { ConnectionSnapshot, ConnectionState } from "../../services/websocketService";
import type { ConnectionType } from "../../types/events";
import type { Tone } from "../ui/Badges";

export const STATE_TEXT: Record<ConnectionState, string> = {
  connected: "Connected",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  disconnected: "Disconnected",
  unauthorized: "Signed out",
};

export const STATE_TONE: Record<ConnectionState, Tone> = {
  connected: "ok",
  connecting: "info",
  reconnecting: "warn",
  offline: "bad",
  disconnected: "bad",
  unauthorized: "muted",
};

export const CONNECTION_LABELS: Record<ConnectionType, string> = {
  admin: "Admin stream",
  dns_management: "DNS stream",
  health: "Health stream",
  system: "System stream",
  security: "Security stream",
};

/** "in 12s" while a timer runs, "now" during an attempt, "" when nothing is due. */
export function nextTryText(snapshot: ConnectionSnapshot, now: number): string {
  if (snapshot.state === "connected" || snapshot.state === "unauthorized") return "";
  if (snapshot.nextRetryAt === null) {
    return snapshot.state === "offline" || snapshot.state === "reconnecting" ? "now" : "";
  }
  const seconds = Math.max(0, Math.ceil((snapshot.nextRetryAt - now) / 1000));
  return seconds > 0 ? `in ${seconds}s` : "now";
}

/** "next try in 12s", "trying now", or "" when nothing is due. */
export function retryText(snapshot: ConnectionSnapshot, now: number): string {
  const next = nextTryText(snapshot, now);
  return next === "" ? "" : next === "now" ? "trying now" : `next try ${next}`;
}

export function latencyText(latency: number | null): string {
  return latency === null ? "—" : `${Math.round(latency)} ms`;
}

/** Whether a manual retry makes sense: not while connected, not after a refusal (4400-4499) or sign-out. */
export function canRetry(snapshot: ConnectionSnapshot): boolean {
  if (snapshot.state === "connected" || snapshot.state === "unauthorized" || snapshot.state === "connecting") return false;
  if (snapshot.state === "disconnected") {
    return snapshot.closeCode === null || snapshot.closeCode < 4400 || snapshot.closeCode > 4499;
  }
  return true;
}
