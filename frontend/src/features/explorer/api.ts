// The explorer's calls: pages of GET /api/events for a search (newest first, then older pages by
// keyset: before_seq), and the export (GET /api/events/export) as a download.

import { ApiError, ackEvents, apiFetch, type AckResult } from "../../services/api";
import { getToken, logout } from "../../services/auth";
import type { EventAbout, EventFilter, ServerEvent } from "../../types/events";
import { historyParams, type ExplorerSearch } from "./search";

/** An event as the explorer holds it: the frame's keys, `about` (absent from an older server: docs/protocol.md "What every event carries"), `read` from the history. */
export type ExplorerEvent = ServerEvent & { about?: EventAbout | null; read?: boolean };

export interface ExplorerPage {
  /** Newest first. */
  events: ExplorerEvent[];
  /** Whether the server holds older matching events. */
  hasMore: boolean;
  epoch: string;
  /** The stream's position when the page was read: the live stream starts after it. */
  lastSeq: number;
}

export const FIRST_PAGE = 200;
export const OLDER_PAGE = 500;

export const explorerKeys = {
  all: ["explorer"] as const,
  events: (key: string) => ["explorer", "events", key] as const,
};

interface EventsAnswer {
  events: ExplorerEvent[];
  has_more: boolean;
  epoch: string;
  last_seq: number;
}

/** One page: the newest FIRST_PAGE matching events, or the OLDER_PAGE before `beforeSeq`. */
export async function fetchExplorerPage(search: ExplorerSearch, beforeSeq: number | undefined, signal?: AbortSignal): Promise<ExplorerPage> {
  const params = historyParams(search);
  if (beforeSeq !== undefined) params.set("before_seq", String(beforeSeq));
  params.set("limit", String(beforeSeq === undefined ? FIRST_PAGE : OLDER_PAGE));
  const answer = await apiFetch<EventsAnswer>(`/api/events?${params.toString()}`, { signal });
  // the server sends a page oldest first; the list shows newest first
  const events = [...answer.events].sort((a, b) => b.seq - a.seq);
  return { events, hasMore: answer.has_more, epoch: answer.epoch, lastSeq: answer.last_seq };
}

/**
 * "Mark matching as read": every event matching the filter, up to now, becomes read for this user, in
 * one statement on the server however many there are. The answer (and the `acked` frame every tab of
 * the user gets) carries the filter as the server applied it and the seq it reached.
 */
export function ackMatching(filter: EventFilter): Promise<AckResult> {
  return ackEvents({ filter, all: true });
}

export type ExportFormat = "ndjson" | "csv";

export function exportPath(search: ExplorerSearch, format: ExportFormat): string {
  const params = historyParams(search);
  params.set("format", format);
  return `/api/events/export?${params.toString()}`;
}

function filenameFrom(disposition: string | null, format: ExportFormat): string {
  const match = disposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) : null;
  const named = match?.[1] ? decodeURIComponent(match[1]).replace(/[/\\]/g, "_") : "";
  if (named) return named;
  const stamp = new Date().toISOString().replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
  return `events-${stamp}.${format}`;
}

async function errorOf(response: Response): Promise<ApiError> {
  let message = `The export failed (HTTP ${response.status}).`;
  try {
    const body = (await response.json()) as { detail?: unknown };
    if (typeof body.detail === "string" && body.detail) message = body.detail;
    else if (Array.isArray(body.detail)) {
      const parts = body.detail.map((d: unknown) => (typeof d === "object" && d !== null ? (d as { msg?: unknown }).msg : undefined)).filter((m): m is string => typeof m === "string");
      if (parts.length) message = parts.join("; ");
    }
  } catch {
    /* not JSON: the status says it */
  }
  return new ApiError(response.status, message);
}

/**
 * Downloads the export of this search. The bearer token goes in a header, never in a URL (where
 * it would end up in logs and the history), so the file is fetched here and handed to the browser
 * as a blob; `onProgress` gets the bytes received so far. The server streams it; the size is what
 * the filter selects.
 */
export async function downloadExport(
  search: ExplorerSearch,
  format: ExportFormat,
  options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
): Promise<{ filename: string; bytes: number }> {
  const token = getToken();
  const headers = new Headers({ Accept: format === "csv" ? "text/csv" : "application/x-ndjson" });
  if (token !== null) headers.set("Authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(exportPath(search, format), { headers, signal: options.signal });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  if (!response.ok) {
    if (response.status === 401 && token !== null) logout("expired");
    throw await errorOf(response);
  }
  const chunks: BlobPart[] = [];
  let bytes = 0;
  const reader = response.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.byteLength;
      options.onProgress?.(bytes);
    }
  } else {
    const whole = await response.blob();
    chunks.push(whole);
    bytes = whole.size;
  }
  const filename = filenameFrom(response.headers.get("Content-Disposition"), format);
  const blob = new Blob(chunks, { type: format === "csv" ? "text/csv" : "application/x-ndjson" });
  const url = URL.createObjectURL(blob);
  try {
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    link.rel = "noopener";
    document.body.appendChild(link);
    link.click();
    link.remove();
  } finally {
    // the download has taken the blob by the next task
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return { filename, bytes };
}
