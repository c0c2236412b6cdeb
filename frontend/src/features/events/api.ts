// The notifications' own call beside the shared ones (services/api.ts): "mark all as read" as the
// server does it, in one statement for everything the user may see up to now (POST /api/events/ack
// {"all": true}), so that it costs one request however many events are unread.

import { apiFetch, postJson, type AckResult } from "../../services/api";

export function ackAll(): Promise<AckResult> {
  return apiFetch<AckResult>("/api/events/ack", postJson({ all: true }));
}
