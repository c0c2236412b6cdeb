// A small, faithful stand-in for the browser's WebSocket, driven by the test as "the server".
// readyState goes CONNECTING -> OPEN -> CLOSING -> CLOSED; open and close events are delivered
// asynchronously (on a timer, as a browser does after the handshake / closing handshake);
// `protocol` is the subprotocol the server selected among those offered.

import { vi } from "vitest";
import { clearClientConfigCache } from "../../src/services/api";
import type { WebSocketLike } from "../../src/services/websocketService";
import { EventType, type ConnectedFrame, type ServerEvent } from "../../src/types/events";

export class FakeWebSocket implements WebSocketLike {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static last(): FakeWebSocket {
    const ws = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (ws === undefined) throw new Error("no socket was opened");
    return ws;
  }

  readonly url: string;
  readonly protocols: string[];
  readyState = FakeWebSocket.CONNECTING;
  protocol = "";
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  /** Frames the client sent (raw text). */
  readonly sent: string[] = [];
  /** The code and reason the client closed with, if it did. */
  clientClose: { code: number | undefined; reason: string | undefined } | null = null;

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    FakeWebSocket.instances.push(this);
  }

  send(data: string): void {
    if (this.readyState === FakeWebSocket.CONNECTING) {
      throw new DOMException("Still in CONNECTING state.", "InvalidStateError");
    }
    if (this.readyState !== FakeWebSocket.OPEN) return; // browsers discard silently once closing
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`invalid close code ${code}`, "InvalidAccessError");
    }
    if (this.readyState === FakeWebSocket.CLOSING || this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSING;
    this.clientClose = { code, reason };
    setTimeout(() => this.finishClose(code ?? 1005, reason ?? "", true), 0);
  }

  // --- the server's side ---------------------------------------------------------------------

  /** The handshake completes (the open event comes on the next timer tick). */
  accept(selected = "hybrid-dns.v1"): void {
    setTimeout(() => {
      if (this.readyState !== FakeWebSocket.CONNECTING) return;
      this.readyState = FakeWebSocket.OPEN;
      this.protocol = this.protocols.includes(selected) ? selected : "";
      this.onopen?.(new Event("open"));
    }, 0);
  }

  /** The server sends a frame (an object is sent as JSON). */
  receive(frame: object | string): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error(`cannot receive in readyState ${this.readyState}`);
    const data = typeof frame === "string" ? frame : JSON.stringify(frame);
    this.onmessage?.(new MessageEvent("message", { data }));
  }

  /** The server closes the connection (the close event comes on the next timer tick). */
  serverClose(code: number, reason = ""): void {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSING;
    setTimeout(() => this.finishClose(code, reason, true), 0);
  }

  /** The network path dies: the close event comes with 1006 (as after a browser's own timeout). */
  drop(): void {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSING;
    setTimeout(() => {
      this.onerror?.(new Event("error"));
      this.finishClose(1006, "", false);
    }, 0);
  }

  /** The client's frames, parsed. */
  frames(): Record<string, unknown>[] {
    return this.sent.map((text) => JSON.parse(text) as Record<string, unknown>);
  }

  framesOfType(type: string): Record<string, unknown>[] {
    return this.frames().filter((f) => f.type === type);
  }

  private finishClose(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.(new CloseEvent("close", { code, reason, wasClean }));
  }
}

export const DNS_SUBSCRIPTIONS: EventType[] = [
  EventType.BindReload,
  EventType.ConfigChange,
  EventType.RecordCreated,
  EventType.RecordDeleted,
  EventType.RecordUpdated,
  EventType.SessionExpired,
  EventType.ZoneCreated,
  EventType.ZoneDeleted,
  EventType.ZoneUpdated,
];

export function connectedFrame(overrides: Partial<ConnectedFrame> = {}): ConnectedFrame {
  return {
    type: "connected",
    connection_id: "c".repeat(32),
    connection_type: "dns_management",
    user_id: "alice",
    role: "admin",
    protocol: 1,
    server_time: "2026-11-26T06:06:14.227Z",
    ping_interval: 30,
    subscriptions: DNS_SUBSCRIPTIONS,
    epoch: "e1",
    last_seq: 0,
    ...overrides,
  };
}

let counter = 0;

export function makeEvent(seq: number, type: EventType = EventType.ZoneUpdated, id?: string): ServerEvent {
  counter += 1;
  return {
    type,
    id: id ?? `ev-${seq}-${counter}`,
    seq,
    category: "dns",
    severity: "info",
    timestamp: "2026-11-26T06:06:14.230Z",
    actor: null,
    data: { zone: "a.example" },
  };
}

/** A small seeded PRNG (mulberry32) so property-style tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** For a test of code that opens sockets: fake timers, FakeWebSocket as the global WebSocket, and a
 * `fetch` that answers GET /api/websocket/config with short reconnect settings. Undo with `uninstallFakeSockets`. */
export function installFakeSockets(): void {
  vi.useFakeTimers();
  FakeWebSocket.reset();
  clearClientConfigCache();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal(
    "fetch",
    vi.fn(() =>
      Promise.resolve(
        new Response(JSON.stringify({ reconnect_interval: 1, reconnect_max_interval: 2, max_reconnect_attempts: 2 }), {
          status: 200,
          headers: { "Content-Type": "application/json" },
        }),
      ),
    ),
  );
}

export function uninstallFakeSockets(): void {
  vi.unstubAllGlobals();
  vi.useRealTimers();
}
