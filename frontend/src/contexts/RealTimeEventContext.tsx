import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { ackEvents, fetchClientConfig, fetchEvents, fetchUnreadCount } from "../services/api";
import { getToken, logout, type Session } from "../services/auth";
import {
  addEvents,
  applyAcked,
  clear,
  createEventStore,
  markAllReadOptimistic,
  markReadOptimistic,
  mergeOlder,
  setUnreadCount,
  type EventStoreState,
  type StoredEvent,
} from "../services/eventStore";
import { acquireWebSocketService, type ConnectionSnapshot, type WebSocketService } from "../services/websocketService";
import {
  EventType,
  NOT_NOTIFICATIONS,
  type AckedFrame,
  type ConnectionType,
  type ForwarderHealth,
  type HealthUpdatePayload,
  type Role,
  type ServerEvent,
  type SystemStatusPayload,
} from "../types/events";
import { sonnerSink, ToastCoalescer } from "../components/eventToasts";
import { describeEvent } from "../components/format";

// --- public shapes ------------------------------------------------------------------------------

export type MetricKey = "connections" | "cpu" | "memory" | "disk" | "eps";
export interface MetricSample {
  t: number; // ms epoch
  v: number;
}
export type MetricSeries = Record<MetricKey, MetricSample[]>;

export interface ForwarderRow {
  name: string;
  status: string;
  servers: NonNullable<ForwarderHealth["servers"]>;
  responseMs: number | null;
  /** Where the row comes from: the periodic health_update, or a later status change / alert. */
  source: "health_update" | "event";
  updatedAt: string | null;
  message: string;
}

export interface StreamAccess {
  available: boolean;
  reason: string;
}

export interface RealTimeEventContextValue {
  session: Session;
  /** Notifications (everything but the periodic health_update / system_status), newest first, bounded. */
  events: StoredEvent[];
  unreadCount: number;
  /** Zone, record and BIND reload events plus config_change (the dns_management stream's content). */
  dnsEvents: StoredEvent[];
  securityEvents: StoredEvent[];
  healthEvents: StoredEvent[];
  systemStatus: SystemStatusPayload | null;
  healthStatus: HealthUpdatePayload | null;
  forwarders: ForwarderRow[];
  /** The data of the last `stats` reply on the main connection. */
  connectionStats: Record<string, unknown> | null;
  statsUpdatedAt: number | null;
  metrics: MetricSeries;
  /** The main socket: `admin` for admins, `dns_management` otherwise. */
  mainConnectionType: ConnectionType;
  connection: ConnectionSnapshot;
  connections: Partial<Record<ConnectionType, ConnectionSnapshot>>;
  securityAccess: StreamAccess;
  hasMore: boolean;
  loadingOlder: boolean;
  loadOlder: () => Promise<void>;
  acknowledgeEvent: (id: string) => Promise<void>;
  acknowledgeAll: () => Promise<void>;
  clearEvents: () => void;
  refresh: () => Promise<void>;
  refreshStats: () => Promise<void>;
  reconnect: () => void;
  /** Latest text for the aria-live region. */
  announcement: string;
  notificationsOpen: boolean;
  setNotificationsOpen: (open: boolean) => void;
}

// --- helpers ------------------------------------------------------------------------------------

const STORE_LIMIT = 200;
const METRIC_POINTS = 60;
const STATS_POLL_MS = 5_000;
const RECENT_PAGE = 200;
const OLDER_PAGE = 100;

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

const EMPTY_SNAPSHOT: ConnectionSnapshot = {
  state: "connecting",
  reconnectAttempts: 0,
  latencyMs: null,
  lastSeq: 0,
  epoch: null,
  closeCode: null,
  closeReason: "",
  connected: null,
  nextRetryAt: null,
};

const emptyMetrics = (): MetricSeries => ({ connections: [], cpu: [], memory: [], disk: [], eps: [] });

function appendSamples(series: MetricSeries, t: number, values: Partial<Record<MetricKey, number>>): MetricSeries {
  const next: MetricSeries = { ...series };
  (Object.keys(values) as MetricKey[]).forEach((key) => {
    const v = values[key];
    if (v === undefined || !Number.isFinite(v)) return;
    const list = series[key];
    const last = list[list.length - 1];
    // keep the series in time order; an older sample (history seeding) is inserted in place
    const merged = last === undefined || last.t <= t ? [...list, { t, v }] : [...list, { t, v }].sort((a, b) => a.t - b.t);
    next[key] = merged.slice(-METRIC_POINTS);
  });
  return next;
}

function systemSamples(data: SystemStatusPayload): Partial<Record<MetricKey, number>> {
  const values: Partial<Record<MetricKey, number>> = {};
  if (typeof data.cpu_percent === "number") values.cpu = data.cpu_percent;
  if (data.memory && typeof data.memory.percent === "number") values.memory = data.memory.percent;
  if (data.disk && typeof data.disk.percent === "number") values.disk = data.disk.percent;
  if (data.connections && typeof data.connections.total === "number") values.connections = data.connections.total;
  if (typeof data.events_per_second === "number") values.eps = data.events_per_second;
  return values;
}

/**
 * With several server instances, each sends its own `system_status` (its own host's figures). The
 * dashboard follows the instance its main socket is on (`connected.instance_id`), so that the CPU,
 * memory and disk cards and their sparklines show one host instead of alternating between hosts.
 * Until that is known, or from a server that does not name instances, every status counts.
 */
export function fromFollowedInstance(data: SystemStatusPayload, followed: string | null | undefined): boolean {
  return !followed || !data.instance_id || data.instance_id === followed;
}

function numberField(data: Record<string, unknown>, key: string): number | undefined {
  const v = data[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function isPeriodic(event: ServerEvent): boolean {
  return NOT_NOTIFICATIONS.has(event.type);
}

/** A bounded set of ids, to act once per event when it arrives on several sockets. */
class SeenIds {
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

function forwarderRowsFromHealth(data: HealthUpdatePayload | null, at: string | null): ForwarderRow[] {
  if (!data || !Array.isArray(data.forwarders)) return [];
  return data.forwarders.map((f) => {
    const servers = Array.isArray(f.servers) ? f.servers : [];
    const times = servers.map((s) => s.response_ms).filter((v): v is number => typeof v === "number");
    return {
      name: f.name,
      status: f.status,
      servers,
      responseMs: times.length ? Math.round(times.reduce((a, b) => a + b, 0) / times.length) : null,
      source: "health_update",
      updatedAt: at,
      message: "",
    };
  });
}

/** Folds forwarder_status_change / health_alert events into per-forwarder rows (newest wins). */
function applyForwarderEvents(rows: Record<string, ForwarderRow>, events: readonly ServerEvent[]): Record<string, ForwarderRow> {
  let next = rows;
  const ordered = [...events].filter((e) => e.type === EventType.ForwarderStatusChange || e.type === EventType.HealthAlert).sort((a, b) => a.seq - b.seq);
  for (const event of ordered) {
    const data: Record<string, unknown> = event.data;
    const name = typeof data["forwarder"] === "string" ? data["forwarder"] : "";
    if (!name) continue;
    const previous = next[name];
    if (previous?.updatedAt && previous.updatedAt > event.timestamp) continue;
    const newStatus = typeof data["new_status"] === "string" ? data["new_status"] : undefined;
    next = {
      ...next,
      [name]: {
        name,
        status: newStatus ?? previous?.status ?? "degraded",
        servers: previous?.servers ?? [],
        responseMs: numberField(data, "response_ms") ?? previous?.responseMs ?? null,
        source: "event",
        updatedAt: event.timestamp,
        message: typeof data["message"] === "string" ? data["message"] : describeEvent(event).detail,
      },
    };
  }
  return next;
}

// --- context ------------------------------------------------------------------------------------

const RealTimeEventContext = createContext<RealTimeEventContextValue | null>(null);

export function useRealTimeEvents(): RealTimeEventContextValue {
  const value = useContext(RealTimeEventContext);
  if (value === null) throw new Error("useRealTimeEvents must be used inside <RealTimeEventProvider>");
  return value;
}

export function RealTimeEventProvider({ session, children }: { session: Session; children: ReactNode }) {
  const { username, role } = session;
  const mainType = mainConnectionTypeFor(role);

  const [store, setStore] = useState<EventStoreState>(() => createEventStore(STORE_LIMIT));
  const [systemStatus, setSystemStatus] = useState<SystemStatusPayload | null>(null);
  const [health, setHealth] = useState<{ data: HealthUpdatePayload; at: string } | null>(null);
  const [forwarderEvents, setForwarderEvents] = useState<Record<string, ForwarderRow>>({});
  const [connectionStats, setConnectionStats] = useState<Record<string, unknown> | null>(null);
  const [statsUpdatedAt, setStatsUpdatedAt] = useState<number | null>(null);
  const [metrics, setMetrics] = useState<MetricSeries>(emptyMetrics);
  const [connections, setConnections] = useState<Partial<Record<ConnectionType, ConnectionSnapshot>>>({});
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const [notificationsOpen, setNotificationsOpen] = useState(false);

  const servicesRef = useRef<Partial<Record<ConnectionType, WebSocketService>>>({});
  const storeRef = useRef(store);
  storeRef.current = store;
  const connectionsRef = useRef(connections);
  connectionsRef.current = connections;
  const seenRef = useRef(new SeenIds());
  const periodicSeenRef = useRef(new SeenIds(200));
  const followedInstanceRef = useRef<string | null>(null);
  const pendingRef = useRef<ServerEvent[]>([]);
  const flushTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const coalescerRef = useRef<ToastCoalescer | null>(null);
  if (coalescerRef.current === null) {
    coalescerRef.current = new ToastCoalescer(sonnerSink(() => setNotificationsOpen(true)));
  }
  const fetchGenerationRef = useRef(0);
  // Bumped by every `acked` frame: a count fetched before one arrived is older than the frame's.
  const ackedGenerationRef = useRef(0);
  const epochRef = useRef<string | null>(null);

  // ---- REST: recent events + unread count (at start and on `reset`) ----
  const refresh = useCallback(async () => {
    const generation = ++fetchGenerationRef.current;
    const ackedAtStart = ackedGenerationRef.current;
    try {
      const [page, unread, systemPage, healthPage] = await Promise.all([
        fetchEvents({ limit: RECENT_PAGE }),
        fetchUnreadCount(),
        fetchEvents({ type: EventType.SystemStatus, limit: METRIC_POINTS }).catch(() => null),
        fetchEvents({ type: EventType.HealthUpdate, limit: 1 }).catch(() => null),
      ]);
      if (generation !== fetchGenerationRef.current) return;
      const notifications = page.events.filter((e) => !isPeriodic(e));
      const epochChanged = epochRef.current !== null && epochRef.current !== page.epoch;
      epochRef.current = page.epoch;
      setStore((s) => {
        // the page is the truth up to page.last_seq; live events after it (same epoch) are kept
        const live = epochChanged ? [] : s.events.filter((e) => e.seq > page.last_seq);
        let next = addEvents(clear(s), notifications, { unread: false });
        next = addEvents(next, live);
        next = mergeOlder(next, [], page.has_more || next.hasMore);
        // An `acked` frame that arrived while we fetched carries a newer count than `unread`: keep it.
        return setUnreadCount(next, ackedGenerationRef.current === ackedAtStart ? unread : s.unreadCount);
      });
      setForwarderEvents((rows) => applyForwarderEvents(epochChanged ? {} : rows, notifications));
      if (systemPage) {
        const statuses = systemPage.events
          .filter((e) => e.type === EventType.SystemStatus)
          .map((e) => e as ServerEvent as ServerEvent<EventType.SystemStatus>)
          .filter((e) => fromFollowedInstance(e.data, followedInstanceRef.current));
        let series = emptyMetrics();
        for (const e of statuses) series = appendSamples(series, Date.parse(e.timestamp), systemSamples(e.data));
        setMetrics((current) => {
          let merged = series;
          for (const key of Object.keys(current) as MetricKey[]) {
            for (const sample of current[key]) merged = appendSamples(merged, sample.t, { [key]: sample.v });
          }
          return merged;
        });
        const latest = statuses[statuses.length - 1];
        if (latest) setSystemStatus((cur) => cur ?? latest.data);
      }
      const healthEvent = healthPage?.events.find((e) => e.type === EventType.HealthUpdate);
      if (healthEvent) {
        const latestHealth = healthEvent as ServerEvent as ServerEvent<EventType.HealthUpdate>;
        setHealth((cur) => cur ?? { data: latestHealth.data, at: latestHealth.timestamp });
      }
    } catch {
      // the API layer signs out on 401; other failures leave the live stream running
    }
  }, []);

  // ---- live events ----
  // The server's count is the truth; after live events (whose optimistic increments can race a
  // REST fetch) re-read it, unless an `acked` frame (newer still) arrived while we asked.
  const unreadSyncRef = useRef(0);
  const unreadTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const syncUnread = useCallback(() => {
    if (unreadTimerRef.current !== null) clearTimeout(unreadTimerRef.current);
    unreadTimerRef.current = setTimeout(() => {
      unreadTimerRef.current = null;
      const generation = ++unreadSyncRef.current;
      const acked = ackedGenerationRef.current;
      void fetchUnreadCount()
        .then((n) => {
          if (generation === unreadSyncRef.current && acked === ackedGenerationRef.current) {
            setStore((s) => setUnreadCount(s, n));
          }
        })
        .catch(() => undefined);
    }, 150);
  }, []);

  const flush = useCallback(() => {
    flushTimerRef.current = null;
    const batch = pendingRef.current;
    pendingRef.current = [];
    if (batch.length === 0) return;
    setStore((s) => addEvents(s, batch, { unread: true }));
    syncUnread();
    setForwarderEvents((rows) => applyForwarderEvents(rows, batch));
    coalescerRef.current?.push(batch);
    if (batch.length === 1 && batch[0]) {
      const { title, detail } = describeEvent(batch[0]);
      setAnnouncement(`New notification: ${title}${detail ? `, ${detail}` : ""}`);
    } else {
      setAnnouncement(`${batch.length} new notifications`);
    }
  }, [syncUnread]);

  const handleEvent = useCallback(
    (event: ServerEvent) => {
      if (event.type === EventType.SystemStatus) {
        if (!periodicSeenRef.current.add(event.id)) return;
        const data = (event as ServerEvent<EventType.SystemStatus>).data;
        if (!fromFollowedInstance(data, followedInstanceRef.current)) return;
        setSystemStatus(data);
        setMetrics((m) => appendSamples(m, Date.parse(event.timestamp) || Date.now(), systemSamples(data)));
        return;
      }
      if (event.type === EventType.HealthUpdate) {
        if (!periodicSeenRef.current.add(event.id)) return;
        const data = (event as ServerEvent<EventType.HealthUpdate>).data;
        setHealth({ data, at: event.timestamp });
        return;
      }
      if (!seenRef.current.add(event.id)) return;
      pendingRef.current.push(event);
      if (flushTimerRef.current === null) flushTimerRef.current = setTimeout(flush, 30);
    },
    [flush],
  );

  const handleAcked = useCallback((frame: AckedFrame) => {
    ackedGenerationRef.current += 1;
    setStore((s) => applyAcked(s, frame));
  }, []);

  // ---- sockets ----
  useEffect(() => {
    const types = connectionTypesFor(role);
    const cleanups: (() => void)[] = [];
    const held: Partial<Record<ConnectionType, WebSocketService>> = {};
    for (const type of types) {
      const { service, release } = acquireWebSocketService(type, username, getToken, { loadConfig: fetchClientConfig });
      held[type] = service;
      cleanups.push(service.subscribe("*", handleEvent));
      cleanups.push(service.onFrame("acked", handleAcked));
      cleanups.push(
        service.onFrame("reset", () => {
          void refresh();
        }),
      );
      cleanups.push(service.onState((snapshot) => setConnections((prev) => ({ ...prev, [type]: snapshot }))));
      setConnections((prev) => ({ ...prev, [type]: service.snapshot() }));
      cleanups.push(release);
    }
    servicesRef.current = held;
    return () => {
      servicesRef.current = {};
      for (const cleanup of cleanups.reverse()) cleanup();
      setConnections({});
    };
  }, [username, role, handleEvent, handleAcked, refresh]);

  // first load
  useEffect(() => {
    void refresh();
  }, [refresh]);

  // flush timer cleanup
  useEffect(
    () => () => {
      if (flushTimerRef.current !== null) clearTimeout(flushTimerRef.current);
    },
    [],
  );

  const mainSnapshot = connections[mainType] ?? EMPTY_SNAPSHOT;

  // ---- which instance's host figures to show: the one the main socket is on ----
  const mainInstance = mainSnapshot.connected?.instance_id || null;
  useEffect(() => {
    if (mainInstance === null || mainInstance === followedInstanceRef.current) return;
    followedInstanceRef.current = mainInstance;
    // Figures gathered so far may be another host's (several instances): start over from this one's.
    setSystemStatus(null);
    setMetrics((m) => ({ ...m, cpu: [], memory: [], disk: [] }));
    void refresh();
  }, [mainInstance, refresh]);

  // ---- session end: 4001 / 4401 on any socket, or the token's expiry time ----
  useEffect(() => {
    const ended = Object.values(connections).some((snapshot) => snapshot?.state === "unauthorized");
    if (ended) logout("expired");
  }, [connections]);

  useEffect(() => {
    const remaining = session.expiresAt - Date.now();
    if (!Number.isFinite(remaining)) return;
    const timer = setTimeout(() => logout("expired"), Math.max(0, Math.min(remaining, 2 ** 31 - 1)));
    return () => clearTimeout(timer);
  }, [session.expiresAt]);

  // ---- server stats over the main socket (get_stats), every few seconds while connected ----
  const refreshStats = useCallback(async () => {
    const service = servicesRef.current[mainType];
    if (!service || service.snapshot().state !== "connected") return;
    try {
      const data = await service.getStats();
      const now = Date.now();
      setConnectionStats(data);
      setStatsUpdatedAt(now);
      const values: Partial<Record<MetricKey, number>> = {};
      const total = numberField(data, "total_connections");
      const eps = numberField(data, "events_per_second");
      if (total !== undefined) values.connections = total;
      if (eps !== undefined) values.eps = eps;
      setMetrics((m) => appendSamples(m, now, values));
    } catch {
      // a timeout or a closed socket: the next tick tries again
    }
  }, [mainType]);

  const mainConnected = mainSnapshot.state === "connected";
  useEffect(() => {
    if (!mainConnected) return;
    void refreshStats();
    const timer = setInterval(() => void refreshStats(), STATS_POLL_MS);
    return () => clearInterval(timer);
  }, [mainConnected, refreshStats]);

  // ---- actions ----
  const acknowledgeEvent = useCallback(async (id: string) => {
    setStore((s) => markReadOptimistic(s, [id]));
    try {
      const result = await ackEvents({ event_ids: [id] });
      setStore((s) => applyAcked(s, result));
    } catch {
      setStore((s) => setUnreadCount(s, s.unreadCount));
      void fetchUnreadCount()
        .then((n) => setStore((s) => setUnreadCount(s, n)))
        .catch(() => undefined);
    }
  }, []);

  const acknowledgeAll = useCallback(async () => {
    const current = storeRef.current;
    const snapshots = Object.values(connectionsRef.current);
    const upTo = Math.max(
      0,
      ...current.events.map((e) => e.seq),
      ...snapshots.map((s) => (s ? s.lastSeq : 0)),
    );
    setStore((s) => markAllReadOptimistic(s));
    try {
      const result = await ackEvents({ up_to_seq: upTo });
      setStore((s) => applyAcked(s, result));
    } catch {
      void fetchUnreadCount()
        .then((n) => setStore((s) => setUnreadCount(s, n)))
        .catch(() => undefined);
    }
  }, []);

  const clearEvents = useCallback(() => {
    // only the local list: read state stays on the server, and "Load older" brings events back
    setStore((s) => setUnreadCount(mergeOlder(clear(s), [], true), s.unreadCount));
  }, []);

  const loadOlder = useCallback(async () => {
    const current = storeRef.current;
    if (!current.hasMore) return;
    setLoadingOlder(true);
    try {
      let before = current.oldestSeq ?? undefined;
      let collected: ServerEvent[] = [];
      let hasMore = false;
      // periodic events are not shown; skip pages that hold nothing else (bounded)
      for (let i = 0; i < 5; i++) {
        const page = await fetchEvents(before !== undefined ? { before_seq: before, limit: OLDER_PAGE } : { limit: OLDER_PAGE });
        hasMore = page.has_more;
        collected = [...page.events.filter((e) => !isPeriodic(e)), ...collected];
        const first = page.events[0];
        if (collected.length > 0 || !hasMore || first === undefined) break;
        before = first.seq;
      }
      setStore((s) => mergeOlder(s, collected, hasMore));
    } catch {
      // keep what we have; the button stays available
    } finally {
      setLoadingOlder(false);
    }
  }, []);

  const reconnect = useCallback(() => {
    Object.values(servicesRef.current).forEach((service) => service?.reconnect());
  }, []);

  // ---- derived ----
  // DNS activity = what the dns_management stream carries: zones, records, reloads and config changes
  const dnsEvents = useMemo(
    () => store.events.filter((e) => e.category === "dns" || e.type === EventType.ConfigChange),
    [store.events],
  );
  const securityEvents = useMemo(() => store.events.filter((e) => e.category === "security"), [store.events]);
  const healthEvents = useMemo(() => store.events.filter((e) => e.category === "health"), [store.events]);

  const forwarders = useMemo(() => {
    const rows = new Map<string, ForwarderRow>();
    for (const row of forwarderRowsFromHealth(health?.data ?? null, health?.at ?? null)) rows.set(row.name, row);
    for (const row of Object.values(forwarderEvents)) {
      const base = rows.get(row.name);
      // a status change newer than the last health_update wins
      if (!base || (row.updatedAt ?? "") > (base.updatedAt ?? "")) {
        rows.set(row.name, { ...row, servers: base?.servers.length ? base.servers : row.servers });
      }
    }
    return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  }, [health, forwarderEvents]);

  const securityAccess = useMemo<StreamAccess>(() => {
    if (role === "viewer") return { available: false, reason: "Your role (viewer) cannot view security events" };
    const type: ConnectionType = role === "admin" ? "admin" : "security";
    const snapshot = connections[type];
    if (snapshot && snapshot.state === "disconnected" && snapshot.closeCode !== null && snapshot.closeCode >= 4400 && snapshot.closeCode <= 4499) {
      return {
        available: false,
        reason: `The security stream was refused (${snapshot.closeCode}): ${snapshot.closeReason || "forbidden"}`,
      };
    }
    return { available: true, reason: "" };
  }, [role, connections]);

  const value = useMemo<RealTimeEventContextValue>(
    () => ({
      session,
      events: store.events,
      unreadCount: store.unreadCount,
      dnsEvents,
      securityEvents,
      healthEvents,
      systemStatus,
      healthStatus: health?.data ?? null,
      forwarders,
      connectionStats,
      statsUpdatedAt,
      metrics,
      mainConnectionType: mainType,
      connection: mainSnapshot,
      connections,
      securityAccess,
      hasMore: store.hasMore,
      loadingOlder,
      loadOlder,
      acknowledgeEvent,
      acknowledgeAll,
      clearEvents,
      refresh,
      refreshStats,
      reconnect,
      announcement,
      notificationsOpen,
      setNotificationsOpen,
    }),
    [
      session,
      store,
      dnsEvents,
      securityEvents,
      healthEvents,
      systemStatus,
      health,
      forwarders,
      connectionStats,
      statsUpdatedAt,
      metrics,
      mainType,
      mainSnapshot,
      connections,
      securityAccess,
      loadingOlder,
      loadOlder,
      acknowledgeEvent,
      acknowledgeAll,
      clearEvents,
      refresh,
      refreshStats,
      reconnect,
      announcement,
      notificationsOpen,
    ],
  );

  return <RealTimeEventContext.Provider value={value}>{children}</RealTimeEventContext.Provider>;
}
