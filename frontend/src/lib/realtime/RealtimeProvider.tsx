// The signed-in user's live connections, for React. One provider per session opens the sockets the
// role may hold (services/websocketService.ts keeps each one alive: backoff, resume, probing), hands
// every event once to whoever subscribed, whichever socket brought it, and publishes the
// connections' state. Two contexts, so that a component that only listens for events is not
// re-rendered by each latency update.
//
// It also keeps the session honest: a socket refused as unauthorized (4401, or 4001 with no fresh
// token) ends the session; a `connected` frame naming another role updates it.

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { fetchClientConfig } from "../../services/api";
import { getToken, logout, updateSessionRole, type Session } from "../../services/auth";
import {
  acquireWebSocketService,
  sameButSeq,
  type ConnectionSnapshot,
  type FrameMap,
  type FrameType,
  type WebSocketService,
} from "../../services/websocketService";
import type { ConnectionType, Role, ServerEvent } from "../../types/events";

export type EventHandler = (event: ServerEvent) => void;
export type FrameHandler<K extends FrameType> = (frame: FrameMap[K], source: ConnectionType) => void;

export interface RealtimeApi {
  /** The socket whose state the header shows: `admin` for admins, `dns_management` otherwise. */
  mainType: ConnectionType;
  /** Every event of every socket, once (an event can reach several sockets). Returns the unsubscribe. */
  subscribe: (handler: EventHandler) => () => void;
  /** Control frames (`reset`, `acked`, `connected`, `presence`...) of every socket. */
  onFrame: <K extends FrameType>(type: K, handler: FrameHandler<K>) => () => void;
  /** A manual retry of every socket that is not connected (fast attempts again). */
  reconnect: () => void;
  /** The server's statistics over the main socket (`get_stats`). */
  getStats: () => Promise<Record<string, unknown>>;
}

export interface StreamAccess {
  available: boolean;
  reason: string;
}

export interface ConnectionInfo {
  main: ConnectionSnapshot;
  connections: Partial<Record<ConnectionType, ConnectionSnapshot>>;
  /** False while the main socket is not connected: what is shown may be out of date. */
  live: boolean;
  /** When the main socket stopped being connected (ms), or null while it is (or never was). */
  downSince: number | null;
  /** The server instance the main socket is (or was last) on, once a `connected` frame named it. */
  instanceId: string | null;
  securityAccess: StreamAccess;
}

export function connectionTypesFor(role: Role): ConnectionType[] {
  switch (role) {
    case "admin":
      return ["admin"];
    case "operator":
      return ["dns_management", "health", "system", "security"];
    default:
      return ["dns_management", "health", "system"];
  }
}

export function mainConnectionTypeFor(role: Role): ConnectionType {
  return role === "admin" ? "admin" : "dns_management";
}

export const EMPTY_SNAPSHOT: ConnectionSnapshot = Object.freeze({
  state: "connecting",
  reconnectAttempts: 0,
  latencyMs: null,
  lastSeq: 0,
  epoch: null,
  closeCode: null,
  closeReason: "",
  connected: null,
  nextRetryAt: null,
});

/** A bounded set of ids, to act once per event when it arrives on several sockets. */
export class SeenIds {
  private readonly set = new Set<string>();
  private readonly order: string[] = [];

  constructor(private readonly limit = 5000) {}

  add(id: string): boolean {
    if (this.set.has(id)) return false;
    this.set.add(id);
    this.order.push(id);
    if (this.order.length > this.limit) {
      const old = this.order.shift();
      if (old !== undefined) this.set.delete(old);
    }
    return true;
  }
}

/** How often a socket's position (lastSeq alone) reaches React while events stream in. */
export const SEQ_ONLY_INTERVAL_MS = 250;

function securityAccessFor(role: Role, connections: Partial<Record<ConnectionType, ConnectionSnapshot>>): StreamAccess {
  if (role === "viewer") return { available: false, reason: "Your role (viewer) cannot view security events" };
  const snapshot = connections[role === "admin" ? "admin" : "security"];
  if (snapshot && snapshot.state === "disconnected" && snapshot.closeCode !== null && snapshot.closeCode >= 4400 && snapshot.closeCode <= 4499) {
    return {
      available: false,
      reason: `The security stream was refused (${snapshot.closeCode}): ${snapshot.closeReason || "forbidden"}`,
    };
  }
  return { available: true, reason: "" };
}

const ApiContext = createContext<RealtimeApi | null>(null);
const ConnectionContext = createContext<ConnectionInfo | null>(null);

export function useRealtime(): RealtimeApi {
  const value = useContext(ApiContext);
  if (value === null) throw new Error("useRealtime must be used inside <RealtimeProvider>");
  return value;
}

export function useConnection(): ConnectionInfo {
  const value = useContext(ConnectionContext);
  if (value === null) throw new Error("useConnection must be used inside <RealtimeProvider>");
  return value;
}

/** Calls `handler` for every event while the component is mounted (the latest handler, without re-subscribing). */
export function useEvents(handler: EventHandler): void {
  const { subscribe } = useRealtime();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => subscribe((event) => ref.current(event)), [subscribe]);
}

export function RealtimeProvider({ session, children }: { session: Session; children: ReactNode }) {
  const { username, role } = session;
  const mainType = mainConnectionTypeFor(role);
  const [connections, setConnections] = useState<Partial<Record<ConnectionType, ConnectionSnapshot>>>({});
  const [downSince, setDownSince] = useState<number | null>(null);
  const servicesRef = useRef<Partial<Record<ConnectionType, WebSocketService>>>({});
  const eventHandlers = useRef(new Set<EventHandler>());
  const frameHandlers = useRef(new Map<FrameType, Set<FrameHandler<FrameType>>>());
  const seen = useRef(new SeenIds());
  const everConnected = useRef(false);
  // What `connections` holds per socket, and snapshots that moved only lastSeq, not yet published.
  const shownRef = useRef<Partial<Record<ConnectionType, ConnectionSnapshot>>>({});
  const pendingRef = useRef<Partial<Record<ConnectionType, ConnectionSnapshot>>>({});
  const seqTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const publishPending = useCallback(() => {
    seqTimerRef.current = null;
    const pending = pendingRef.current;
    pendingRef.current = {};
    const types = Object.keys(pending) as ConnectionType[];
    if (types.length === 0) return;
    for (const type of types) shownRef.current[type] = pending[type];
    setConnections((prev) => ({ ...prev, ...pending }));
  }, []);

  const subscribe = useCallback((handler: EventHandler) => {
    const entry: EventHandler = (event) => handler(event); // the same handler may subscribe twice
    eventHandlers.current.add(entry);
    return () => {
      eventHandlers.current.delete(entry);
    };
  }, []);

  const onFrame = useCallback(<K extends FrameType>(type: K, handler: FrameHandler<K>) => {
    let set = frameHandlers.current.get(type);
    if (set === undefined) {
      set = new Set();
      frameHandlers.current.set(type, set);
    }
    const entry = handler as unknown as FrameHandler<FrameType>;
    const wrapped: FrameHandler<FrameType> = (frame, source) => entry(frame, source);
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  }, []);

  const reconnect = useCallback(() => {
    for (const service of Object.values(servicesRef.current)) {
      if (service && service.snapshot().state !== "connected") service.reconnect();
    }
  }, []);

  const getStats = useCallback(() => {
    const service = servicesRef.current[mainType];
    return service ? service.getStats() : Promise.reject(new Error("not connected"));
  }, [mainType]);

  useEffect(() => {
    const cleanups: (() => void)[] = [];
    const held: Partial<Record<ConnectionType, WebSocketService>> = {};
    const dispatchEvent = (event: ServerEvent): void => {
      if (!seen.current.add(event.id)) return;
      for (const handler of [...eventHandlers.current]) {
        try {
          handler(event);
        } catch (err) {
          console.error(`handler for ${event.type} failed`, err);
        }
      }
    };
    const frameTypes: FrameType[] = ["connected", "reset", "resumed", "acked", "error", "stats", "subscriptions", "presence"];
    for (const type of connectionTypesFor(role)) {
      const { service, release } = acquireWebSocketService(type, username, getToken, { loadConfig: fetchClientConfig });
      held[type] = service;
      cleanups.push(service.subscribe("*", dispatchEvent));
      for (const frameType of frameTypes) {
        cleanups.push(
          service.onFrame(frameType, (frame) => {
            for (const handler of [...(frameHandlers.current.get(frameType) ?? [])]) {
              try {
                handler(frame, type);
              } catch (err) {
                console.error(`${frameType} frame handler failed`, err);
              }
            }
          }),
        );
      }
      cleanups.push(
        service.onState((snapshot) => {
          // Every event moves a socket's lastSeq: published at most every SEQ_ONLY_INTERVAL_MS, so
          // that a burst of events is not a render of every connection indicator per event. Any
          // other change (state, latency, a new `connected`) is published at once, with the seq.
          const shown = shownRef.current[type];
          if (shown !== undefined && sameButSeq(shown, snapshot)) {
            pendingRef.current[type] = snapshot;
            seqTimerRef.current ??= setTimeout(publishPending, SEQ_ONLY_INTERVAL_MS);
            return;
          }
          delete pendingRef.current[type];
          shownRef.current[type] = snapshot;
          setConnections((prev) => ({ ...prev, [type]: snapshot }));
          if (type !== mainConnectionTypeFor(role)) return;
          if (snapshot.state === "connected") {
            everConnected.current = true;
            setDownSince(null);
          } else if (everConnected.current) {
            setDownSince((since) => since ?? Date.now());
          }
        }),
      );
      shownRef.current[type] = service.snapshot();
      setConnections((prev) => ({ ...prev, [type]: service.snapshot() }));
      cleanups.push(release);
    }
    servicesRef.current = held;
    return () => {
      servicesRef.current = {};
      for (const cleanup of cleanups.reverse()) cleanup();
      if (seqTimerRef.current !== null) clearTimeout(seqTimerRef.current);
      seqTimerRef.current = null;
      pendingRef.current = {};
      shownRef.current = {};
      setConnections({});
    };
  }, [username, role, publishPending]);

  // The server names the role it enforces in every `connected` frame: follow it.
  useEffect(
    () =>
      onFrame("connected", (frame) => {
        if (frame.user_id === username && frame.role !== role) updateSessionRole(frame.role);
      }),
    [onFrame, username, role],
  );

  // Session end: 4001 / 4401 on any socket (deferred: the change may come from inside a render).
  useEffect(() => {
    const ended = Object.values(connections).some((snapshot) => snapshot?.state === "unauthorized");
    if (!ended) return undefined;
    const timer = setTimeout(() => logout("expired"), 0);
    return () => clearTimeout(timer);
  }, [connections]);

  const main = connections[mainType] ?? EMPTY_SNAPSHOT;
  const live = main.state === "connected";
  // The last instance named, kept while disconnected (the figures shown are still that host's).
  const [instanceId, setInstanceId] = useState<string | null>(null);
  const namedInstance = main.connected?.instance_id || null;
  if (namedInstance !== null && namedInstance !== instanceId) setInstanceId(namedInstance);

  const api = useMemo<RealtimeApi>(
    () => ({ mainType, subscribe, onFrame, reconnect, getStats }),
    [mainType, subscribe, onFrame, reconnect, getStats],
  );
  const info = useMemo<ConnectionInfo>(
    () => ({ main, connections, live, downSince, instanceId, securityAccess: securityAccessFor(role, connections) }),
    [main, connections, live, downSince, instanceId, role],
  );

  return (
    <ApiContext.Provider value={api}>
      <ConnectionContext.Provider value={info}>{children}</ConnectionContext.Provider>
    </ApiContext.Provider>
  );
}
