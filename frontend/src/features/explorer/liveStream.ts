// The explorer's own live stream: sockets that carry the view's filter, so that the server sends
// only the events that match (docs/protocol.md, "Filters"). Framework-free.
//
// Why its own sockets: a filter belongs to a connection, and the app's shared sockets feed the
// notifications and the query cache, which must keep seeing everything.
//
// Why the filter rides on the URL (`?filter=`) and the stream starts from the history page's
// position (`?since=&epoch=`): the first page of GET /api/events says where the stream stood when
// it was read (`last_seq`); the server replays every matching event after it and then goes live,
// so the page and the live events join with no gap and no duplicate, as a reconnect resumes. A
// filter sent later in a `subscribe` frame could not say from which seq it applies. A new filter is
// a new stream (new sockets from the new page's position); reconnects resume with the same filter.
//
// One socket per connection type the view needs (an admin's one socket sees every type; other roles
// hold one per type, and a category filter needs fewer); an event that reaches two of them (e.g.
// system_status) is handed on once.

import { CloseCodes, type ConnectionType, type ResetFrame, type Role, type ServerEvent } from "../../types/events";
import {
  defaultSocketUrl,
  WebSocketService,
  type ConnectionState,
  type WebSocketConstructor,
  type WebSocketServiceOptions,
} from "../../services/websocketService";
import type { WireFilter } from "./search";

const ROLE_TYPES: Record<Role, ConnectionType[]> = {
  viewer: ["dns_management", "health", "system"],
  operator: ["dns_management", "health", "system", "security"],
  admin: ["admin"],
};

/** The connection type that carries each category's events (an admin's `admin` socket carries all). */
const CATEGORY_TYPE: Record<string, ConnectionType> = {
  dns: "dns_management",
  security: "security",
  health: "health",
  system: "system", // system_status and config_change both reach `system`
  user: "system",
};

/** The sockets a view needs: every type the role may open, or fewer when categories (or record types) narrow it. */
export function connectionTypesFor(role: Role, filter: WireFilter | null): ConnectionType[] {
  const allowed = ROLE_TYPES[role];
  if (role === "admin") return allowed;
  let wanted: Set<ConnectionType> | null = null;
  if (filter?.categories?.length) wanted = new Set(filter.categories.map((c) => CATEGORY_TYPE[c]).filter((t): t is ConnectionType => t !== undefined));
  if (filter?.record_types?.length) {
    // record events only: they travel on dns_management
    wanted = wanted === null ? new Set(["dns_management"]) : new Set([...wanted].filter((t) => t === "dns_management"));
  }
  return wanted === null ? allowed : allowed.filter((t) => wanted.has(t));
}

/** ws://host/ws/{type}/{user}?filter=<URL-encoded JSON> (no parameter when there is no filter). */
export function filteredSocketUrl(
  loc: { protocol: string; host: string } | null,
  connectionType: ConnectionType,
  userId: string,
  filter: WireFilter | null,
): string {
  const base = defaultSocketUrl(loc, connectionType, userId);
  return filter === null ? base : `${base}?filter=${encodeURIComponent(JSON.stringify(filter))}`;
}

/** Remembers the last `limit` ids, to hand each event on once whichever socket brought it. */
export class RecentIdSet {
  private readonly ids = new Set<string>();

  constructor(private readonly limit = 20_000) {}

  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) {
      const oldest = this.ids.values().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
    return true;
  }
}

export type StreamState = "connecting" | "live" | "reconnecting" | "refused" | "stopped";

export interface ExplorerStreamOptions {
  role: Role;
  userId: string;
  getToken: () => string | null;
  filter: WireFilter | null;
  /** Where the history page left the stream (its `epoch` and `last_seq`): the stream starts right after it. */
  from: { epoch: string; lastSeq: number };
  onEvent: (event: ServerEvent) => void;
  /** The server cannot resume from `from` (history lost, epoch changed): refetch, then start a new stream. */
  onReset: (frame: ResetFrame) => void;
  onState?: (state: StreamState, detail: string) => void;
  loadConfig?: WebSocketServiceOptions["loadConfig"];
  WebSocketImpl?: WebSocketConstructor;
  location?: { protocol: string; host: string } | null;
}

function summarise(states: ConnectionState[]): StreamState {
  if (states.length === 0) return "stopped";
  if (states.every((s) => s === "connected")) return "live";
  if (states.some((s) => s === "reconnecting" || s === "offline")) return "reconnecting";
  if (states.some((s) => s === "disconnected" || s === "unauthorized")) return "refused";
  return "connecting";
}

export class ExplorerStream {
  readonly types: ConnectionType[];
  private readonly services: WebSocketService[] = [];
  private readonly cleanups: (() => void)[] = [];
  private readonly seen = new RecentIdSet();
  private stopped = false;
  private lastState: StreamState | null = null;

  constructor(private readonly options: ExplorerStreamOptions) {
    this.types = connectionTypesFor(options.role, options.filter);
  }

  start(): void {
    const { options } = this;
    const loc = options.location !== undefined ? options.location : typeof location === "undefined" ? null : location;
    for (const type of this.types) {
      const service = new WebSocketService({
        connectionType: type,
        userId: options.userId,
        getToken: options.getToken,
        loadConfig: options.loadConfig,
        WebSocketImpl: options.WebSocketImpl,
        url: filteredSocketUrl(loc, type, options.userId, options.filter),
        // a burst may bring thousands of events: remember enough ids to drop a replayed one
        dedupeSize: 20_000,
      });
      service.resumeFrom(options.from.lastSeq, options.from.epoch);
      this.cleanups.push(
        service.subscribe("*", (event) => {
          if (this.stopped || !this.seen.add(event.id)) return;
          options.onEvent(event);
        }),
      );
      this.cleanups.push(
        service.onFrame("reset", (frame) => {
          if (!this.stopped) options.onReset(frame);
        }),
      );
      this.cleanups.push(service.onState(() => this.reportState()));
      this.services.push(service);
    }
    for (const service of this.services) service.connect();
    this.reportState();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const cleanup of this.cleanups.splice(0).reverse()) cleanup();
    for (const service of this.services) service.disconnect();
    this.options.onState?.("stopped", "");
  }

  /** A manual retry of every socket that is not connected. */
  reconnect(): void {
    for (const service of this.services) if (service.snapshot().state !== "connected") service.reconnect();
  }

  state(): StreamState {
    return this.stopped ? "stopped" : summarise(this.services.map((s) => s.snapshot().state));
  }

  /** Why a socket was refused (e.g. 4400 `invalid filter: ...`), or "". */
  refusal(): string {
    for (const service of this.services) {
      const snap = service.snapshot();
      if (snap.state === "disconnected" && snap.closeCode !== null && snap.closeCode >= CloseCodes.BadRequest && snap.closeCode <= 4499) {
        return `${snap.closeCode} ${snap.closeReason}`.trim();
      }
    }
    return "";
  }

  private reportState(): void {
    if (this.stopped) return;
    const state = this.state();
    if (state === this.lastState) return;
    this.lastState = state;
    this.options.onState?.(state, state === "refused" ? this.refusal() : "");
  }
}
