// The webhooks API (/api/webhooks, admins): endpoints that receive events over HTTP, signed as the
// Standard Webhooks specification says; their delivery log; a test message, a redelivery, a new
// secret. A secret is in the answer that made it (create, rotate) and never again. An endpoint
// carries a `version`: a change is sent with If-Match, so one made meanwhile comes back as 412.

import type { Category, Severity } from "../../types/events";
import { EventType } from "../../types/events";
import { apiFetch, ifMatch, postJson, query } from "../../services/api";

/** The WebSocket's event filter (docs/protocol.md): every key optional, AND across keys, OR within one. */
export interface WebhookFilter {
  zones?: string[];
  min_severity?: Severity;
  categories?: Category[];
  actors?: string[];
  record_types?: string[];
  text?: string;
}

export interface Webhook {
  id: number;
  url: string;
  /** Empty: every notification type (not the periodic health_update and system_status). */
  event_types: string[];
  filter: WebhookFilter | null;
  enabled: boolean;
  ordered: boolean;
  version: number;
  created_at: string;
  updated_at: string;
  created_by: string | null;
  updated_by: string | null;
  /** The first failure since the last success; null while deliveries succeed. */
  failing_since: string | null;
  disabled_reason: string | null;
  last_success_at: string | null;
  last_failure_at: string | null;
  /** After a rotation: until when the old secret still signs, beside the new one. */
  previous_secret_expires_at: string | null;
  /** Deliveries waiting for an attempt or a retry. */
  backlog: number;
}

export interface WebhookCreated extends Webhook {
  secret: string;
}

export interface WebhookList {
  items: Webhook[];
  total: number;
}

export type DeliveryStatus = "pending" | "succeeded" | "failed";

export interface Delivery {
  id: number;
  webhook_id: number;
  event_id: string;
  event_type: string;
  event_seq: number | null;
  test: boolean;
  redelivery_of: number | null;
  status: DeliveryStatus;
  attempts: number;
  response_code: number | null;
  duration_ms: number | null;
  error_kind: string | null;
  error: string | null;
  response_excerpt: string | null;
  created_at: string;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
}

export interface DeliveryPage {
  items: Delivery[];
  total: number;
  limit: number;
  offset: number;
}

export interface WebhookBody {
  url: string;
  event_types: string[];
  filter: WebhookFilter | null;
  enabled: boolean;
  ordered: boolean;
}

export interface RotatedSecret {
  id: number;
  secret: string;
  previous_secret_expires_at: string | null;
  version: number;
}

/** The types an endpoint may ask for: every type but session_expired (only its user may see it). */
export const WEBHOOK_EVENT_TYPES: EventType[] = Object.values(EventType).filter((t) => t !== EventType.SessionExpired);

/** The API's largest page: the page shows every endpoint (at most 100 exist). */
export const WEBHOOK_LIMIT = 500;
export const DELIVERY_PAGE = 20;

export function listWebhooks(signal?: AbortSignal): Promise<WebhookList> {
  return apiFetch<WebhookList>(`/api/webhooks${query({ limit: WEBHOOK_LIMIT })}`, { signal });
}

export function createWebhook(body: WebhookBody): Promise<WebhookCreated> {
  return apiFetch<WebhookCreated>("/api/webhooks", postJson(body));
}

export function updateWebhook(id: number, body: Partial<WebhookBody>, version?: number): Promise<Webhook> {
  return apiFetch<Webhook>(`/api/webhooks/${id}`, { method: "PATCH", body: JSON.stringify(body), headers: ifMatch(version) });
}

export async function deleteWebhook(id: number, version?: number): Promise<void> {
  await apiFetch<void>(`/api/webhooks/${id}`, { method: "DELETE", headers: ifMatch(version) });
}

export function rotateSecret(id: number): Promise<RotatedSecret> {
  return apiFetch<RotatedSecret>(`/api/webhooks/${id}/rotate-secret`, postJson({}));
}

export function listDeliveries(id: number, status: DeliveryStatus | null, offset: number, signal?: AbortSignal): Promise<DeliveryPage> {
  return apiFetch<DeliveryPage>(`/api/webhooks/${id}/deliveries${query({ status, limit: DELIVERY_PAGE, offset })}`, { signal });
}

export function sendTest(id: number): Promise<Delivery> {
  return apiFetch<Delivery>(`/api/webhooks/${id}/test`, postJson({}));
}

export function redeliver(id: number, deliveryId: number): Promise<Delivery> {
  return apiFetch<Delivery>(`/api/webhooks/${id}/deliveries/${deliveryId}/redeliver`, postJson({}));
}
