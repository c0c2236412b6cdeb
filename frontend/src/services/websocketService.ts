// The real-time client: one WebSocket per (connection type, user), with an explicit state machine
// in the manner of centrifuge-js.
//
//   disconnected ──connect()──► connecting ──"connected" frame──► connected
//        ▲                          │                                  │ close (not 4400-4499)
//        │ disconnect(),            │ close                            ▼
//        │ or 4400/4403/4404        └──────────────► reconnecting ◄─(backoff timer, full jitter)
//        │                                               │ attempts > max_reconnect_attempts,
//   unauthorized ◄── 4401, 4001 (session over),          ▼ or the browser is offline
//                    no token                         offline ──(probe timer: the capped interval)──► attempt
//                                                        │ reconnect() / "online" / tab visible or focused
//                                                        └──────────────► reconnecting (fast attempts again)
//
// - A connection is "connected" only once the server's `connected` frame arrived: every refusal
//   comes as a close after the handshake (docs/protocol.md).
// - Never giving up: after `max_reconnect_attempts` fast attempts the state is `offline`, and the
//   client keeps probing at the capped interval (`reconnect_max_interval`, with jitter between half
//   and all of it so that a returning server is not hit by every client at once). A probe that
//   fails leaves the state `offline`; `nextRetryAt` says when the next one is due. The browser's
//   `online`, the tab becoming visible or focused, and reconnect() (a click) start the fast
//   attempts again at once.
// - Resume: after the first connection, every new socket carries `?since=<last seq>&epoch=<epoch>`;
//   the server replays what was missed (then `resumed`) or answers `reset` (refetch: onFrame("reset")).
//   Event ids already seen are dropped (bounded memory), replays included.
// - Subscriptions: the server starts every connection with the full set of its type. The set the
//   app asked for (subscribe/unsubscribe frames given to send(), or setSubscriptions()) is kept and
//   applied again after every (re)connect. Those frames are never queued: they are state, not messages.
// - Presence (setPresence) is state too: the topics this client is in are sent again after every
//   (re)connect, never queued; `presence` frames from the server reach onFrame("presence").
// - Outgoing queue: other frames sent while not connected wait in a FIFO of `maxQueue` frames
//   (default 32, below the server's burst of 40) and go out, in order, right after the
//   subscriptions on the next `connected`. When it is full the NEW frame is dropped and send()
//   returns false (the caller learns it at once and can fall back to HTTP; frames already
//   accepted keep their order and are never lost silently).
// - Keepalive: a JSON ping right after `connected` and then every `ping_interval`; if nothing at all
//   arrives within `pongTimeoutMs` of a ping, the socket is dropped (a half-open socket never looks
//   connected) and the client reconnects. `latencyMs` is the round trip of the last answered ping.
// - Every timer is a setTimeout (Vitest fake timers work); WebSocket, random and clock are injectable.

import {
  CloseCodes,
  EventType,
  isTerminalClose,
  type AckedFrame,
  type ClientConfig,
  type ConnectedFrame,
  type ConnectionType,
  type ErrorFrame,
  type PresenceFrame,
  type PresenceState,
  type ResetFrame,
  type ResumedFrame,
  type ServerEvent,
  type StatsFrame,
  type SubscriptionsFrame,
} from "../types/events";

export type ConnectionState = "disconnected" | "connecting" | "connected" | "reconnecting" | "offline" | "unauthorized";

export interface ConnectionSnapshot {
  state: ConnectionState;
  /** Reconnect attempts since the last `connected` (the number of the attempt scheduled or under way). */
  reconnectAttempts: number;
  /** Round trip of the last answered ping, in ms. */
  latencyMs: number | null;
  /** The seq of the last event seen (or the stream position given by `connected` / `reset`). */
  lastSeq: number;
  epoch: string | null;
  /** The last close: the server's code, or CLIENT_TIMEOUT_CODE for a socket this client gave up on. */
  closeCode: number | null;
  closeReason: string;
  /** The current connection's `connected` frame (null when not connected). */
  connected: ConnectedFrame | null;
  /** When the next automatic attempt (or, when offline, the next probe) is due (ms, per `now()`), or null. */
  nextRetryAt: number | null;
}

/** Whether two snapshots agree in everything but lastSeq (which every event moves). */
export function sameButSeq(a: ConnectionSnapshot, b: ConnectionSnapshot): boolean {
  return (
    a.state === b.state &&
    a.reconnectAttempts === b.reconnectAttempts &&
    a.latencyMs === b.latencyMs &&
    a.epoch === b.epoch &&
    a.closeCode === b.closeCode &&
    a.closeReason === b.closeReason &&
    a.connected === b.connected &&
    a.nextRetryAt === b.nextRetryAt
  );
}

/** What the service needs of a WebSocket; the browser's `WebSocket` class satisfies it. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface WebSocketServiceOptions {
  connectionType: ConnectionType;
  userId: string;
  /** The current JWT, or null when signed out (read before every attempt). */
  getToken: () => string | null;
  /** Backoff and ping settings in seconds, as GET /api/websocket/config gives them. */
  config?: Partial<ClientConfig>;
  /** Loads the config before the first attempt (e.g. fetchClientConfig); waited for at most 5 s. */
  loadConfig?: () => Promise<Partial<ClientConfig>>;
  /** Defaults to the global WebSocket (`typeof WebSocket` fits). */
  WebSocketImpl?: WebSocketConstructor;
  /** The endpoint URL without query; defaults to ws(s)://{location.host}/ws/{connectionType}/{userId}. */
  url?: string;
  random?: () => number;
  now?: () => number;
  /** How long after a ping silence means a dead socket. Default: min(10 s, ping interval). */
  pongTimeoutMs?: number;
  /** How long an attempt may take to reach `connected`. Default 15 s. */
  connectTimeoutMs?: number;
  /** Bound of the outgoing queue. Default 32. */
  maxQueue?: number;
  /** How many event ids are remembered to drop duplicates. Default 5000. */
  dedupeSize?: number;
  /** How long getStats() waits for its answer. Default 10 s. */
  statsTimeoutMs?: number;
  /** Whether the browser thinks it has a network (default: navigator.onLine). */
  isOnline?: () => boolean;
}

export interface FrameMap {
  connected: ConnectedFrame;
  reset: ResetFrame;
  resumed: ResumedFrame;
  acked: AckedFrame;
  error: ErrorFrame;
  stats: StatsFrame;
  subscriptions: SubscriptionsFrame;
  presence: PresenceFrame;
}
export type FrameType = keyof FrameMap;

export const SUBPROTOCOL = "hybrid-dns.v1";
export const BEARER_PREFIX = "bearer.";
/** Close code this client uses (and reports in the snapshot) when it gives up on a silent socket. */
export const CLIENT_TIMEOUT_CODE = 4000;
/** Server defaults (backend config.py), used until the real config is known. */
export const DEFAULT_CLIENT_CONFIG = {
  reconnect_interval: 5,
  reconnect_max_interval: 60,
  max_reconnect_attempts: 5,
  ping_interval: 30,
} as const;

const WS_OPEN = 1;
const DEFAULT_PONG_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_QUEUE = 32;
const DEFAULT_DEDUPE_SIZE = 5000;
const DEFAULT_STATS_TIMEOUT_MS = 10_000;
const CONFIG_LOAD_TIMEOUT_MS = 5000;
const MIN_PING_INTERVAL_MS = 1000;

const EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(EventType));

/**
 * Full-jitter exponential backoff: a uniform delay in [0, min(cap, base * 2^attempt)).
 * `attempt` counts from 0 (the delay before the first reconnect attempt).
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const base = Math.max(0, baseMs);
  const cap = Math.max(0, capMs);
  const exp = Math.min(cap, base * 2 ** Math.max(0, Math.min(attempt, 52)));
  const r = Math.min(1, Math.max(0, random()));
  const delay = r * exp;
  return Number.isFinite(delay) ? Math.min(delay, cap) : cap;
}

/** ws://host/ws/{type}/{user} from the page's location (wss: when the page is served over https:). */
export function defaultSocketUrl(
  loc: { protocol: string; host: string } | null,
  connectionType: ConnectionType,
  userId: string,
): string {
  const scheme = loc?.protocol === "https:" ? "wss:" : "ws:";
  const host = loc?.host || "localhost";
  return `${scheme}//${host}/ws/${encodeURIComponent(connectionType)}/${encodeURIComponent(userId)}`;
}

/** The endpoint URL with the resume parameters `since` and `epoch`. */
export function withResume(url: string, since: number, epoch: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("since", String(Math.max(0, Math.floor(since))));
  parsed.searchParams.set("epoch", epoch);
  return parsed.toString();
}

// --- frame parsing --------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isServerEvent(value: unknown): value is ServerEvent {
  return (
    isObject(value) &&
    typeof value.type === "string" &&
    EVENT_TYPES.has(value.type) &&
    typeof value.id === "string" &&
    typeof value.seq === "number"
  );
}

function isEventTypeList(value: unknown): value is EventType[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string" && EVENT_TYPES.has(v));
}

function isConnectedFrame(f: JsonObject): f is JsonObject & ConnectedFrame {
  return (
    typeof f.connection_id === "string" &&
    typeof f.epoch === "string" &&
    typeof f.last_seq === "number" &&
    typeof f.ping_interval === "number" &&
    Array.isArray(f.subscriptions)
  );
}

function isResetFrame(f: JsonObject): f is JsonObject & ResetFrame {
  return typeof f.epoch === "string" && typeof f.last_seq === "number";
}

function isResumedFrame(f: JsonObject): f is JsonObject & ResumedFrame {
  return typeof f.to_seq === "number" && typeof f.from_seq === "number";
}

function isAckedFrame(f: JsonObject): f is JsonObject & AckedFrame {
  return Array.isArray(f.event_ids) && typeof f.unread_count === "number";
}

function isStatsFrame(f: JsonObject): f is JsonObject & StatsFrame {
  return isObject(f.data);
}

function isSubscriptionsFrame(f: JsonObject): f is JsonObject & SubscriptionsFrame {
  return isEventTypeList(f.subscriptions);
}

function isPresenceFrame(f: JsonObject): f is JsonObject & PresenceFrame {
  return (
    typeof f.topic === "string" &&
    Array.isArray(f.members) &&
    f.members.every((m: unknown) => isObject(m) && typeof m.user_id === "string")
  );
}

function isErrorFrame(f: JsonObject): f is JsonObject & ErrorFrame {
  return typeof f.code === "string";
}

function positive(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;
}

/** Remembers the last `capacity` ids, forgetting the oldest first. */
class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** True when the id is new (and remembers it). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
    return true;
  }
}

type AnyEventHandler = (event: ServerEvent) => void;
type Timer = ReturnType<typeof setTimeout>;

interface PendingStats {
  resolve: (data: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  timer: Timer;
}

export class WebSocketService {
  readonly connectionType: ConnectionType;
  readonly userId: string;

  private readonly getToken: () => string | null;
  private readonly loadConfig: (() => Promise<Partial<ClientConfig>>) | null;
  private readonly WebSocketImpl: WebSocketConstructor | null;
  private readonly url: string | null;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly pongTimeoutOverride: number | null;
  private readonly connectTimeoutMs: number;
  private readonly maxQueue: number;
  private readonly statsTimeoutMs: number;
  private readonly isOnline: () => boolean;

  private reconnectIntervalMs: number = DEFAULT_CLIENT_CONFIG.reconnect_interval * 1000;
  private reconnectMaxIntervalMs: number = DEFAULT_CLIENT_CONFIG.reconnect_max_interval * 1000;
  private maxReconnectAttempts: number = DEFAULT_CLIENT_CONFIG.max_reconnect_attempts;
  private configLoaded = false;

  private state: ConnectionState = "disconnected";
  private active = false; // connect() was called and disconnect() was not
  private everConnected = false;
  private attempts = 0;
  private attemptId = 0; // bumped by every new attempt and teardown: stale callbacks compare it
  private ws: WebSocketLike | null = null;
  private tokenInUse: string | null = null;
  private resuming = false; // the current socket was opened with ?since=&epoch=
  private connectedFrame: ConnectedFrame | null = null;
  private closeCode: number | null = null;
  private closeReason = "";
  private nextRetryAt: number | null = null;
  private latencyMs: number | null = null;
  private lastSeq = 0;
  private epoch: string | null = null;

  private reconnectTimer: Timer | null = null;
  private connectTimer: Timer | null = null;
  private pingTimer: Timer | null = null;
  private pongTimer: Timer | null = null;
  private pingIntervalMs: number = DEFAULT_CLIENT_CONFIG.ping_interval * 1000;
  private pingCounter = 0;
  private pendingPing: { id: string; sentAt: number } | null = null;

  private readonly queue: string[] = [];
  private readonly seen: RecentIds;
  private readonly handlers = new Map<EventType | "*", Set<AnyEventHandler>>();
  private readonly frameHandlers = new Map<FrameType, Set<(frame: FrameMap[FrameType]) => void>>();
  private readonly stateListeners = new Set<(s: ConnectionSnapshot) => void>();
  private snap: ConnectionSnapshot;

  // Desired subscriptions: an exact set (setSubscriptions) or changes to the server's default set.
  private subExact: Set<EventType> | null = null;
  private readonly subAdded = new Set<EventType>();
  private readonly subRemoved = new Set<EventType>();
  private serverSubscriptions: Set<EventType> | null = null;
  private defaultSubscriptions: Set<EventType> | null = null;

  /** The presence topics this client is in, sent again after every (re)connect. */
  private readonly presence = new Map<string, Exclude<PresenceState, null>>();

  private statsCounter = 0;
  private readonly pendingStats = new Map<string, PendingStats>();
  private browserListeners = false;

  constructor(options: WebSocketServiceOptions) {
    this.connectionType = options.connectionType;
    this.userId = options.userId;
    this.getToken = options.getToken;
    this.loadConfig = options.loadConfig ?? null;
    const globalImpl: WebSocketConstructor | undefined = typeof WebSocket === "undefined" ? undefined : WebSocket;
    this.WebSocketImpl = options.WebSocketImpl ?? globalImpl ?? null;
    this.url = options.url ?? null;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.pongTimeoutOverride = positive(options.pongTimeoutMs);
    this.connectTimeoutMs = positive(options.connectTimeoutMs) ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.maxQueue = Math.max(0, Math.floor(options.maxQueue ?? DEFAULT_MAX_QUEUE));
    this.statsTimeoutMs = positive(options.statsTimeoutMs) ?? DEFAULT_STATS_TIMEOUT_MS;
    this.isOnline =
      options.isOnline ?? (() => typeof navigator === "undefined" || navigator.onLine !== false);
    this.seen = new RecentIds(Math.max(1, options.dedupeSize ?? DEFAULT_DEDUPE_SIZE));
    if (options.config) this.applyConfig(options.config);
    this.snap = Object.freeze(this.buildSnapshot());
  }

  // --- configuration ------------------------------------------------------------------------

  /** Applies backoff settings (seconds, as in GET /api/websocket/config); takes effect from the next delay. */
  setConfig(config: Partial<ClientConfig>): void {
    this.applyConfig(config);
    this.configLoaded = true;
  }

  private applyConfig(config: Partial<ClientConfig>): void {
    const interval = positive(config.reconnect_interval);
    const maxInterval = positive(config.reconnect_max_interval);
    const attempts = positive(config.max_reconnect_attempts);
    const ping = positive(config.ping_interval);
    if (interval !== null) this.reconnectIntervalMs = interval * 1000;
    if (maxInterval !== null) this.reconnectMaxIntervalMs = maxInterval * 1000;
    if (attempts !== null) this.maxReconnectAttempts = Math.floor(attempts);
    if (ping !== null && ping > 0 && this.connectedFrame === null) {
      this.pingIntervalMs = Math.max(MIN_PING_INTERVAL_MS, ping * 1000);
    }
  }

  /** Resume from a position the app already holds (e.g. from GET /api/events) on the next connect. */
  resumeFrom(lastSeq: number, epoch: string): void {
    this.lastSeq = Math.max(0, Math.floor(lastSeq));
    this.epoch = epoch;
    this.emitState();
  }

  // --- lifecycle ----------------------------------------------------------------------------

  /** Starts connecting (idempotent while connecting, connected or waiting to reconnect). */
  connect(): void {
    if (this.active && (this.state === "connecting" || this.state === "connected" || this.state === "reconnecting")) {
      return;
    }
    this.active = true;
    this.attachBrowserListeners();
    this.attempts = 0;
    this.startAttempt();
  }

  /** User-initiated close: no reconnect; queued frames and pending requests are dropped. */
  disconnect(): void {
    this.active = false;
    this.detachBrowserListeners();
    this.clearTimer("reconnectTimer");
    this.dropSocket(1000, "client disconnect");
    this.attempts = 0;
    this.nextRetryAt = null;
    this.connectedFrame = null;
    this.queue.length = 0;
    this.rejectAllStats(new Error("disconnected"));
    this.setState("disconnected");
  }

  /** Manual retry: resets the attempt counter and connects now (dropping the current socket, if any). */
  reconnect(): void {
    this.active = true;
    this.attachBrowserListeners();
    this.clearTimer("reconnectTimer");
    if (this.ws !== null) this.dropSocket(1000, "client reconnect");
    this.connectedFrame = null;
    this.attempts = 0;
    this.startAttempt();
  }

  // --- listeners ----------------------------------------------------------------------------

  /** Calls `handler` for each event of `type` (or of every type, with "*"); returns its unsubscribe. */
  subscribe<T extends EventType>(type: T | "*", handler: (event: ServerEvent<T>) => void): () => void {
    let set = this.handlers.get(type);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(type, set);
    }
    // Events are dispatched by their own type, so a handler for T only ever gets ServerEvent<T>.
    const stored = handler as AnyEventHandler;
    const entry: AnyEventHandler = (event) => stored(event); // a fresh function: the same handler may subscribe twice
    set.add(entry);
    return () => {
      const current = this.handlers.get(type);
      if (current === undefined) return;
      current.delete(entry);
      if (current.size === 0) this.handlers.delete(type);
    };
  }

  onFrame<K extends FrameType>(type: K, handler: (frame: FrameMap[K]) => void): () => void {
    let set = this.frameHandlers.get(type);
    if (set === undefined) {
      set = new Set();
      this.frameHandlers.set(type, set);
    }
    // Frames are dispatched by their own type, so this handler only gets FrameMap[K].
    const entry = (frame: FrameMap[FrameType]) => handler(frame as FrameMap[K]);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  onState(listener: (s: ConnectionSnapshot) => void): () => void {
    this.stateListeners.add(listener);
    return () => {
      this.stateListeners.delete(listener);
    };
  }

  /** The current snapshot: the same object until something changes (fit for useSyncExternalStore). */
  snapshot(): ConnectionSnapshot {
    return this.snap;
  }

  /** The subscription set the app asked for: null means the server's full default set. */
  desiredSubscriptions(): EventType[] | null {
    if (this.subExact !== null) return [...this.subExact].sort();
    if (!this.subAdded.size && !this.subRemoved.size) return null;
    const base = this.serverDefault();
    if (base === null) return null;
    return [...base].filter((t) => !this.subRemoved.has(t)).concat([...this.subAdded].filter((t) => !base.has(t))).sort();
  }

  // --- outgoing -----------------------------------------------------------------------------

  /**
   * Sends a client frame now when connected, else queues it (see the queue rules above).
   * subscribe/unsubscribe frames update the desired subscription set instead of being queued.
   * Returns false when the frame was dropped (queue full, signed out, or not serialisable).
   */
  send(frame: object): boolean {
    let text: string;
    try {
      text = JSON.stringify(frame);
    } catch (err) {
      console.error("cannot serialise frame", err);
      return false;
    }
    const rec = frame as JsonObject;
    if (rec.type === "subscribe" || rec.type === "unsubscribe") {
      const list = rec.event_types ?? rec.events;
      if (isEventTypeList(list)) {
        this.recordSubscriptionChange(rec.type, list);
        if (this.isLive()) this.rawSend(text);
        return true;
      }
    }
    if (this.isLive() && this.rawSend(text)) return true;
    if (this.state === "unauthorized") return false;
    if (this.queue.length >= this.maxQueue) return false; // drop the newest: see the header comment
    this.queue.push(text);
    return true;
  }

  /** Replaces the desired subscription set (null: the server's full default set), now and after every reconnect. */
  setSubscriptions(types: readonly EventType[] | null): void {
    this.subAdded.clear();
    this.subRemoved.clear();
    this.subExact = types === null ? null : new Set(types);
    if (this.isLive()) this.applySubscriptions(this.serverSubscriptions ?? this.serverDefault() ?? new Set());
  }

  /** Asks the server for its statistics (get_stats) and resolves with the `stats` frame's data. */
  getStats(): Promise<Record<string, unknown>> {
    const id = `stats-${++this.statsCounter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingStats.delete(id);
        reject(new Error("no answer to get_stats"));
      }, this.statsTimeoutMs);
      this.pendingStats.set(id, { resolve, reject, timer });
      if (!this.send({ type: "get_stats", id })) {
        clearTimeout(timer);
        this.pendingStats.delete(id);
        reject(new Error("not connected"));
      }
    });
  }

  /** Marks events read over the socket; every connection of the user then gets an `acked` frame. */
  ack(body: { event_ids?: string[]; up_to_seq?: number }): void {
    const frame: { type: "ack"; event_ids?: string[]; up_to_seq?: number } = { type: "ack" };
    if (body.event_ids !== undefined && body.event_ids.length) frame.event_ids = body.event_ids;
    if (body.up_to_seq !== undefined) frame.up_to_seq = body.up_to_seq;
    if (frame.event_ids === undefined && frame.up_to_seq === undefined) return;
    this.send(frame);
  }

  /**
   * Enters (`viewing`, `editing`) or leaves (null) a presence topic ("zone:12", "rpz", ...). The
   * state is kept and sent again after every reconnect; while not connected nothing is queued.
   */
  setPresence(topic: string, state: PresenceState): void {
    if (state === null) {
      if (!this.presence.delete(topic)) return;
    } else {
      if (this.presence.get(topic) === state) return;
      this.presence.set(topic, state);
    }
    if (this.isLive()) this.rawSend(JSON.stringify({ type: "presence", topic, state }));
  }

  // --- attempts -----------------------------------------------------------------------------

  /** `probe`: an attempt of the offline state's slow timer, which stays "offline" unless it succeeds. */
  private startAttempt(probe = false): void {
    this.clearTimer("reconnectTimer");
    this.nextRetryAt = null;
    const id = ++this.attemptId;
    if (probe) this.setState("offline");
    else this.setState(this.everConnected || this.attempts > 0 ? "reconnecting" : "connecting");
    if (!this.configLoaded && this.loadConfig !== null) {
      const loader = this.loadConfig;
      let timeout: Timer | null = null;
      const limit = new Promise<null>((resolve) => {
        timeout = setTimeout(() => resolve(null), CONFIG_LOAD_TIMEOUT_MS);
      });
      Promise.race([loader(), limit])
        .then((config) => {
          if (config !== null) this.setConfig(config);
        })
        .catch((err: unknown) => {
          console.warn("could not load the WebSocket config; using defaults", err);
        })
        .finally(() => {
          if (timeout !== null) clearTimeout(timeout);
          if (this.active && this.attemptId === id) this.openSocket();
        });
      return;
    }
    this.openSocket();
  }

  private openSocket(): void {
    const token = this.getToken();
    if (token === null) {
      this.enterUnauthorized(null, "not signed in");
      return;
    }
    const Impl = this.WebSocketImpl;
    if (Impl === null) {
      this.closeCode = null;
      this.closeReason = "WebSocket is not available";
      this.active = false;
      this.setState("disconnected");
      return;
    }
    let ws: WebSocketLike;
    try {
      ws = new Impl(this.buildUrl(), [SUBPROTOCOL, BEARER_PREFIX + token]);
    } catch (err) {
      console.error("cannot open the WebSocket", err);
      this.handleClose(1006, "cannot open the socket");
      return;
    }
    this.ws = ws;
    this.tokenInUse = token;
    this.resuming = this.epoch !== null;
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.handleMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.handleClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close event always follows; nothing to do here.
    };
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.ws === ws) this.giveUpOnSocket("connect timeout");
    }, this.connectTimeoutMs);
  }

  private buildUrl(): string {
    const base =
      this.url ??
      defaultSocketUrl(typeof location === "undefined" ? null : location, this.connectionType, this.userId);
    return this.epoch === null ? base : withResume(base, this.lastSeq, this.epoch);
  }

  /** Closes the current socket without waiting for its close event (a half-open socket may never send one). */
  private dropSocket(code: number, reason: string): void {
    this.attemptId += 1;
    this.clearSocketTimers();
    const ws = this.ws;
    this.ws = null;
    this.tokenInUse = null;
    if (ws === null) return;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    ws.onopen = null;
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  /** The socket stopped answering (or never connected in time): drop it and treat it as a close. */
  private giveUpOnSocket(reason: string): void {
    this.dropSocket(CLIENT_TIMEOUT_CODE, reason);
    this.handleClose(CLIENT_TIMEOUT_CODE, reason, true);
  }

  private handleClose(code: number, reason: string, alreadyDropped = false): void {
    const usedToken = this.tokenInUse;
    if (!alreadyDropped) {
      this.attemptId += 1;
      this.clearSocketTimers();
      this.ws = null;
      this.tokenInUse = null;
    }
    this.connectedFrame = null;
    this.pendingPing = null;
    this.closeCode = code;
    this.closeReason = reason;
    if (!this.active) {
      this.setState("disconnected");
      return;
    }
    if (code === CloseCodes.SessionExpired) {
      // The session ended. Reconnect only if a fresh token is already there (another tab signed in again).
      const fresh = this.getToken();
      if (fresh === null || fresh === usedToken) {
        this.enterUnauthorized(code, reason);
        return;
      }
    } else if (code === CloseCodes.Unauthorized) {
      this.enterUnauthorized(code, reason);
      return;
    } else if (isTerminalClose(code)) {
      this.active = false;
      this.detachBrowserListeners();
      this.setState("disconnected");
      return;
    }
    this.scheduleReconnect();
  }

  private enterUnauthorized(code: number | null, reason: string): void {
    this.clearTimer("reconnectTimer");
    this.nextRetryAt = null;
    this.closeCode = code;
    this.closeReason = reason;
    this.rejectAllStats(new Error("unauthorized"));
    this.setState("unauthorized");
  }

  private scheduleReconnect(): void {
    this.clearTimer("reconnectTimer");
    let delay: number;
    let next: ConnectionState;
    if (this.attempts >= this.maxReconnectAttempts || !this.isOnline()) {
      // The fast attempts are spent (or there is no network): keep probing at the capped interval.
      delay = this.reconnectMaxIntervalMs * (0.5 + 0.5 * Math.min(1, Math.max(0, this.random())));
      next = "offline";
    } else {
      delay = backoffDelay(this.attempts, this.reconnectIntervalMs, this.reconnectMaxIntervalMs, this.random);
      next = "reconnecting";
    }
    // Whole milliseconds: what setTimeout honours anyway, and nextRetryAt stays exact.
    delay = Math.floor(delay);
    this.attempts += 1;
    this.nextRetryAt = this.now() + delay;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.active) this.startAttempt(next === "offline");
    }, delay);
    this.setState(next);
  }

  // --- incoming -----------------------------------------------------------------------------

  private handleMessage(data: unknown): void {
    this.clearTimer("pongTimer"); // anything arriving proves the socket is alive
    if (typeof data !== "string") return;
    if (data === "pong") return; // reply to the legacy bare-text ping
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      console.warn("ignored a frame that is not JSON");
      return;
    }
    if (!isObject(parsed)) return;
    if (isServerEvent(parsed)) {
      this.handleEvent(parsed);
      return;
    }
    switch (parsed.type) {
      case "connected":
        if (isConnectedFrame(parsed)) this.handleConnected(parsed);
        break;
      case "batch":
        if (Array.isArray(parsed.events)) {
          for (const event of parsed.events) if (isServerEvent(event)) this.handleEvent(event);
        }
        break;
      case "pong":
        this.handlePong(parsed.id);
        break;
      case "reset":
        if (isResetFrame(parsed)) {
          this.epoch = parsed.epoch;
          this.lastSeq = parsed.last_seq;
          this.emitState();
          this.emitFrame("reset", parsed);
        }
        break;
      case "resumed":
        if (isResumedFrame(parsed)) {
          this.lastSeq = Math.max(this.lastSeq, parsed.to_seq);
          this.emitState();
          this.emitFrame("resumed", parsed);
        }
        break;
      case "acked":
        if (isAckedFrame(parsed)) this.emitFrame("acked", parsed);
        break;
      case "stats":
        if (isStatsFrame(parsed)) {
          const id = typeof parsed.id === "string" ? parsed.id : null;
          const pending = id === null ? undefined : this.pendingStats.get(id);
          if (id !== null && pending !== undefined) {
            clearTimeout(pending.timer);
            this.pendingStats.delete(id);
            pending.resolve(parsed.data);
          }
          this.emitFrame("stats", parsed);
        }
        break;
      case "subscriptions":
        if (isSubscriptionsFrame(parsed)) {
          this.serverSubscriptions = new Set(parsed.subscriptions);
          this.emitFrame("subscriptions", parsed);
        }
        break;
      case "presence":
        if (isPresenceFrame(parsed)) this.emitFrame("presence", parsed);
        break;
      case "error":
        if (isErrorFrame(parsed)) this.emitFrame("error", parsed);
        break;
      default:
        break; // later protocol versions may add frames
    }
  }

  private handleConnected(frame: ConnectedFrame): void {
    this.clearTimer("connectTimer");
    if (!this.resuming) {
      // A fresh stream starts at the live position; a resumed one is settled by `resumed` or `reset`.
      this.epoch = frame.epoch;
      this.lastSeq = frame.last_seq;
    }
    this.everConnected = true;
    this.connectedFrame = frame;
    this.serverSubscriptions = new Set(frame.subscriptions.filter((t): t is EventType => EVENT_TYPES.has(t)));
    this.defaultSubscriptions = new Set(this.serverSubscriptions);
    this.attempts = 0;
    this.nextRetryAt = null;
    this.closeCode = null;
    this.closeReason = "";
    if (frame.ping_interval > 0) this.pingIntervalMs = Math.max(MIN_PING_INTERVAL_MS, frame.ping_interval * 1000);
    this.setState("connected");
    this.applySubscriptions(this.serverSubscriptions);
    for (const [topic, state] of this.presence) this.rawSend(JSON.stringify({ type: "presence", topic, state }));
    this.flushQueue();
    this.sendPing();
    this.schedulePing();
    this.emitFrame("connected", frame);
  }

  private handleEvent(event: ServerEvent): void {
    if (!this.seen.add(event.id)) return; // a duplicate (e.g. replayed after a resume)
    if (event.seq > this.lastSeq) {
      this.lastSeq = event.seq;
      this.emitState();
    }
    this.dispatch(this.handlers.get(event.type), event);
    this.dispatch(this.handlers.get("*"), event);
  }

  private dispatch(set: Set<AnyEventHandler> | undefined, event: ServerEvent): void {
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        handler(event);
      } catch (err) {
        console.error(`handler for ${event.type} failed`, err);
      }
    }
  }

  private emitFrame<K extends FrameType>(type: K, frame: FrameMap[K]): void {
    const set = this.frameHandlers.get(type);
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        handler(frame);
      } catch (err) {
        console.error(`${type} frame handler failed`, err);
      }
    }
  }

  // --- keepalive ----------------------------------------------------------------------------

  private pongTimeoutMs(): number {
    return this.pongTimeoutOverride ?? Math.min(DEFAULT_PONG_TIMEOUT_MS, this.pingIntervalMs);
  }

  private schedulePing(): void {
    this.clearTimer("pingTimer");
    this.pingTimer = setTimeout(() => {
      this.pingTimer = null;
      if (!this.isLive()) return;
      this.sendPing();
      this.schedulePing();
    }, this.pingIntervalMs);
  }

  /** Sends a JSON ping and arms the silence timeout (unless one is already running). */
  private sendPing(): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WS_OPEN) return;
    const id = `p${++this.pingCounter}`;
    this.pendingPing = { id, sentAt: this.now() };
    if (!this.rawSend(JSON.stringify({ type: "ping", id }))) return;
    if (this.pongTimer === null) {
      this.pongTimer = setTimeout(() => {
        this.pongTimer = null;
        if (this.ws === ws) this.giveUpOnSocket("pong timeout");
      }, this.pongTimeoutMs());
    }
  }

  private handlePong(id: unknown): void {
    const pending = this.pendingPing;
    if (pending === null || id !== pending.id) return;
    this.pendingPing = null;
    this.latencyMs = Math.max(0, this.now() - pending.sentAt);
    this.emitState();
  }

  // --- subscriptions ------------------------------------------------------------------------

  private serverDefault(): Set<EventType> | null {
    return this.defaultSubscriptions;
  }

  private recordSubscriptionChange(type: "subscribe" | "unsubscribe", list: readonly EventType[]): void {
    for (const t of list) {
      if (this.subExact !== null) {
        if (type === "subscribe") this.subExact.add(t);
        else this.subExact.delete(t);
      } else if (type === "subscribe") {
        this.subAdded.add(t);
        this.subRemoved.delete(t);
      } else {
        this.subRemoved.add(t);
        this.subAdded.delete(t);
      }
    }
  }

  /** Sends what turns the server's `current` set into the desired one. */
  private applySubscriptions(current: ReadonlySet<EventType>): void {
    const allowed = this.serverDefault();
    let wanted: Set<EventType>;
    if (this.subExact !== null) wanted = new Set(this.subExact);
    else if (allowed !== null) {
      wanted = new Set([...allowed].filter((t) => !this.subRemoved.has(t)));
      for (const t of this.subAdded) wanted.add(t);
    } else return;
    // A connection can only subscribe to its type's event types (the default set holds all of them).
    const toAdd = [...wanted].filter((t) => !current.has(t) && (allowed === null || allowed.has(t))).sort();
    const toRemove = [...current].filter((t) => !wanted.has(t)).sort();
    if (toRemove.length) this.rawSend(JSON.stringify({ type: "unsubscribe", event_types: toRemove }));
    if (toAdd.length) this.rawSend(JSON.stringify({ type: "subscribe", event_types: toAdd }));
  }

  // --- helpers ------------------------------------------------------------------------------

  private isLive(): boolean {
    return this.state === "connected" && this.ws !== null && this.ws.readyState === WS_OPEN;
  }

  private rawSend(text: string): boolean {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(text);
      return true;
    } catch (err) {
      console.error("WebSocket send failed", err);
      return false;
    }
  }

  private flushQueue(): void {
    while (this.queue.length) {
      const text = this.queue[0];
      if (text === undefined || !this.rawSend(text)) return;
      this.queue.shift();
    }
  }

  private rejectAllStats(error: Error): void {
    for (const pending of this.pendingStats.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pendingStats.clear();
  }

  private clearTimer(name: "reconnectTimer" | "connectTimer" | "pingTimer" | "pongTimer"): void {
    const timer = this[name];
    if (timer !== null) clearTimeout(timer);
    this[name] = null;
  }

  private clearSocketTimers(): void {
    this.clearTimer("connectTimer");
    this.clearTimer("pingTimer");
    this.clearTimer("pongTimer");
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.emitState();
  }

  private buildSnapshot(): ConnectionSnapshot {
    return {
      state: this.state,
      reconnectAttempts: this.attempts,
      latencyMs: this.latencyMs,
      lastSeq: this.lastSeq,
      epoch: this.epoch,
      closeCode: this.closeCode,
      closeReason: this.closeReason,
      connected: this.connectedFrame,
      nextRetryAt: this.nextRetryAt,
    };
  }

  private emitState(): void {
    const next = this.buildSnapshot();
    const prev = this.snap;
    if (prev.lastSeq === next.lastSeq && sameButSeq(prev, next)) return;
    this.snap = Object.freeze(next);
    for (const listener of [...this.stateListeners]) {
      try {
        listener(this.snap);
      } catch (err) {
        console.error("connection state listener failed", err);
      }
    }
  }

  // --- browser signals ----------------------------------------------------------------------

  /** The network came back, or the user looks at the tab again: do not wait for a timer. */
  private retryNow(): void {
    if (this.state === "offline") this.reconnect();
    else if (this.state === "reconnecting" && this.reconnectTimer !== null) this.startAttempt();
  }

  private readonly onOnline = (): void => {
    if (this.active) this.retryNow();
  };

  private readonly onOffline = (): void => {
    if (this.isLive()) this.sendPing(); // probe: a dead socket then times out quickly
  };

  private readonly onVisibility = (): void => {
    if (!this.active || typeof document === "undefined" || document.visibilityState !== "visible") return;
    if (this.isLive()) this.sendPing(); // timers were throttled in the background: check the socket
    else this.retryNow();
  };

  private readonly onFocus = (): void => {
    if (this.active && !this.isLive()) this.retryNow();
  };

  private attachBrowserListeners(): void {
    if (this.browserListeners) return;
    this.browserListeners = true;
    if (typeof window !== "undefined") {
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
      window.addEventListener("focus", this.onFocus);
    }
    if (typeof document !== "undefined") document.addEventListener("visibilitychange", this.onVisibility);
  }

  private detachBrowserListeners(): void {
    if (!this.browserListeners) return;
    this.browserListeners = false;
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
      window.removeEventListener("focus", this.onFocus);
    }
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this.onVisibility);
  }
}

// --- shared services ----------------------------------------------------------------------------

export type SharedServiceOptions = Omit<WebSocketServiceOptions, "connectionType" | "userId" | "getToken">;

interface SharedEntry {
  service: WebSocketService;
  refs: number;
}

const shared = new Map<string, SharedEntry>();

function sharedKey(connectionType: ConnectionType, userId: string): string {
  return `${connectionType}\u0000${userId}`;
}

/**
 * The one service for (connectionType, userId), created and connected on first use. Every holder
 * calls `release()` once (more calls are ignored). When the last holder has released it, the
 * socket closes and the service is dropped, at the end of the current task (a microtask later),
 * unless someone acquires it again first: React runs one component's effect cleanup and another's
 * setup in the same commit (route changes, StrictMode), and the socket should survive that.
 * The options (and getToken) of the first holder are the ones used.
 */
export function acquireWebSocketService(
  connectionType: ConnectionType,
  userId: string,
  getToken: () => string | null,
  options: SharedServiceOptions = {},
): { service: WebSocketService; release: () => void } {
  const key = sharedKey(connectionType, userId);
  let entry = shared.get(key);
  if (entry === undefined) {
    entry = { service: new WebSocketService({ ...options, connectionType, userId, getToken }), refs: 0 };
    shared.set(key, entry);
  }
  entry.refs += 1;
  const held = entry;
  held.service.connect();
  let released = false;
  return {
    service: held.service,
    release: () => {
      if (released) return;
      released = true;
      held.refs -= 1;
      if (held.refs > 0) return;
      queueMicrotask(() => {
        if (held.refs > 0 || shared.get(key) !== held) return;
        shared.delete(key);
        held.service.disconnect();
      });
    },
  };
}

/** How many holders the shared service for (connectionType, userId) has (0 when none). */
export function sharedServiceRefs(connectionType: ConnectionType, userId: string): number {
  return shared.get(sharedKey(connectionType, userId))?.refs ?? 0;
}
