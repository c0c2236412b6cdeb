// The overview's own API calls: the admin demo endpoints (mounted unless WEBSOCKET_DEMO_ENABLED=false)
// and the hub's statistics.

import { apiFetch, postJson } from "../../services/api";
import type { EventType, Severity } from "../../types/events";

export interface EmittedEvent {
  id: string;
  seq: number;
  type: EventType;
}

export interface SimulateWorkflowBody {
  zone_name?: string;
  record_count?: number;
  delay_ms?: number;
}

export interface EmitEventBody {
  event_type?: EventType;
  data?: Record<string, unknown>;
  severity?: Severity | null;
}

export function demoSimulateWorkflow(body: SimulateWorkflowBody = {}): Promise<EmittedEvent[]> {
  return apiFetch<EmittedEvent[]>("/api/websocket-demo/simulate-dns-workflow", postJson(body));
}

export function demoEmitSecurityEvent(body: EmitEventBody = {}): Promise<EmittedEvent> {
  return apiFetch<EmittedEvent>("/api/websocket-demo/emit-security-event", postJson(body));
}

export function demoTestAllEvents(): Promise<EmittedEvent[]> {
  return apiFetch<EmittedEvent[]>("/api/websocket-demo/test-all-events", { method: "POST" });
}
