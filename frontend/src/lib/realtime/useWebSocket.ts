// React bindings for the shared WebSocket services.
//
// - Every hook asking for the same (connection type, user) shares one socket; it closes when the
//   last of them unmounts (or switches to another type or user).
// - `subscribe` and `onFrame` are stable for the hook's lifetime and durable: a handler registered
//   before the service exists (e.g. from a child's effect, which runs before the parent's) or across
//   a change of user is attached to whichever service is current. Each returns its unsubscribe.
// - When a connection ends up `unauthorized` (4401, or 4001 with no fresh token), the session is
//   ended with logout("expired"), so the app goes to the login page; a new sign-in reconnects.

import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import type { ConnectionType, EventType, ServerEvent } from "../../types/events";
import { fetchClientConfig } from "../../services/api";
import { getToken, logout, onSessionChange } from "../../services/auth";
import {
  acquireWebSocketService,
  type ConnectionSnapshot,
  type ConnectionState,
  type FrameMap,
  type FrameType,
  type WebSocketService,
} from "../../services/websocketService";

export interface UseWebSocketResult {
  isConnected: boolean;
  connectionStatus: ConnectionState;
  reconnectAttempts: number;
  latencyMs: number | null;
  closeCode: number | null;
  closeReason: string;
  /** The whole connection snapshot (lastSeq, epoch, connected frame, nextRetryAt, …). */
  snapshot: ConnectionSnapshot;
  subscribe: <T extends EventType>(type: T | "*", handler: (event: ServerEvent<T>) => void) => () => void;
  onFrame: <K extends FrameType>(type: K, handler: (frame: FrameMap[K]) => void) => () => void;
  /** WebSocketService.send: false when the frame was dropped (no connection type/user, or queue full). */
  sendMessage: (frame: object) => boolean;
  getStats: () => Promise<Record<string, unknown>>;
  reconnect: () => void;
  service: WebSocketService | null;
}

/** The snapshot shown while there is no service (no connection type or no user). */
export const IDLE_SNAPSHOT: ConnectionSnapshot = Object.freeze({
  state: "disconnected",
  reconnectAttempts: 0,
  latencyMs: null,
  lastSeq: 0,
  epoch: null,
  closeCode: null,
  closeReason: "",
  connected: null,
  nextRetryAt: null,
});

interface Binding {
  attach: (service: WebSocketService) => () => void;
  detach: (() => void) | null;
}

const noop = (): void => {};

export function useWebSocketService(connectionType: ConnectionType | null, userId: string | null): UseWebSocketResult {
  const [service, setService] = useState<WebSocketService | null>(null);
  const serviceRef = useRef<WebSocketService | null>(null);
  const bindingsRef = useRef<Set<Binding>>(new Set());

  useEffect(() => {
    if (connectionType === null || userId === null || !userId) return undefined;
    const { service: svc, release } = acquireWebSocketService(connectionType, userId, getToken, {
      loadConfig: fetchClientConfig,
    });
    serviceRef.current = svc;
    const bindings = bindingsRef.current;
    for (const binding of bindings) binding.detach = binding.attach(svc);
    // The service is acquired here because acquiring it connects (a side effect); rendering it is the point.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setService(svc);

    let wasUnauthorized = svc.snapshot().state === "unauthorized";
    const endSession = (): void => {
      // Deferred: the state change may come from inside a render-time call chain.
      setTimeout(() => logout("expired"), 0);
    };
    if (wasUnauthorized) endSession();
    const offState = svc.onState((s) => {
      const unauthorized = s.state === "unauthorized";
      if (unauthorized && !wasUnauthorized) endSession();
      wasUnauthorized = unauthorized;
    });
    const offSession = onSessionChange((session) => {
      if (session !== null && session.username === userId && svc.snapshot().state === "unauthorized") svc.reconnect();
    });

    return () => {
      offState();
      offSession();
      for (const binding of bindings) {
        binding.detach?.();
        binding.detach = null;
      }
      serviceRef.current = null;
      setService(null);
      release();
    };
  }, [connectionType, userId]);

  const subscribeStore = useCallback(
    (notify: () => void) => (service === null ? noop : service.onState(() => notify())),
    [service],
  );
  const getSnapshot = useCallback(() => (service === null ? IDLE_SNAPSHOT : service.snapshot()), [service]);
  const snapshot = useSyncExternalStore(subscribeStore, getSnapshot, getSnapshot);

  const bind = useCallback((attach: (svc: WebSocketService) => () => void): (() => void) => {
    const binding: Binding = { attach, detach: null };
    bindingsRef.current.add(binding);
    const current = serviceRef.current;
    if (current !== null) binding.detach = attach(current);
    return () => {
      bindingsRef.current.delete(binding);
      binding.detach?.();
      binding.detach = null;
    };
  }, []);

  const subscribe = useCallback(
    <T extends EventType>(type: T | "*", handler: (event: ServerEvent<T>) => void): (() => void) =>
      bind((svc) => svc.subscribe(type, handler)),
    [bind],
  );
  const onFrame = useCallback(
    <K extends FrameType>(type: K, handler: (frame: FrameMap[K]) => void): (() => void) =>
      bind((svc) => svc.onFrame(type, handler)),
    [bind],
  );
  const sendMessage = useCallback((frame: object): boolean => serviceRef.current?.send(frame) ?? false, []);
  const getStats = useCallback(
    (): Promise<Record<string, unknown>> =>
      serviceRef.current?.getStats() ?? Promise.reject(new Error("no connection")),
    [],
  );
  const reconnect = useCallback((): void => serviceRef.current?.reconnect(), []);

  return {
    isConnected: snapshot.state === "connected",
    connectionStatus: snapshot.state,
    reconnectAttempts: snapshot.reconnectAttempts,
    latencyMs: snapshot.latencyMs,
    closeCode: snapshot.closeCode,
    closeReason: snapshot.closeReason,
    snapshot,
    subscribe,
    onFrame,
    sendMessage,
    getStats,
    reconnect,
    service,
  };
}

export function useHealthWebSocket(userId: string | null): UseWebSocketResult {
  return useWebSocketService("health", userId);
}

export function useDNSWebSocket(userId: string | null): UseWebSocketResult {
  return useWebSocketService("dns_management", userId);
}

export function useSecurityWebSocket(userId: string | null): UseWebSocketResult {
  return useWebSocketService("security", userId);
}

export function useSystemWebSocket(userId: string | null): UseWebSocketResult {
  return useWebSocketService("system", userId);
}

export function useAdminWebSocket(userId: string | null): UseWebSocketResult {
  return useWebSocketService("admin", userId);
}

/** The older call shape: `onMessage` receives every event of the connection. */
export function useWebSocket(
  connectionType: ConnectionType | null,
  userId: string | null,
  onMessage?: (event: ServerEvent) => void,
): UseWebSocketResult {
  const result = useWebSocketService(connectionType, userId);
  const onMessageRef = useRef(onMessage);
  useEffect(() => {
    onMessageRef.current = onMessage;
  }, [onMessage]);
  const { subscribe } = result;
  const hasHandler = onMessage !== undefined;
  useEffect(() => {
    if (!hasHandler) return undefined;
    return subscribe("*", (event) => onMessageRef.current?.(event));
  }, [subscribe, hasHandler]);
  return result;
}
