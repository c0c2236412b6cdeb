// The search part of the audit log's URL (/audit?actor=&action=&outcome=&since=&until=&page=),
// checked on the way in: anything else is dropped. Times are RFC 3339 with an offset (as the API
// takes them), so a shared link means the same moment wherever it is opened; the page shows and
// edits them in local time.

import { OUTCOMES, type Outcome } from "./api";

export interface AuditSearch {
  actor?: string;
  action?: string;
  outcome?: Outcome;
  since?: string;
  until?: string;
  page?: number;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** A time as the API takes it: RFC 3339 with a time zone offset (or Z), and a real moment. */
export function isRfc3339(text: string): boolean {
  return RFC3339.test(text) && !Number.isNaN(Date.parse(text));
}

export function validateAuditSearch(search: Record<string, unknown>): AuditSearch {
  const out: AuditSearch = {};
  if (typeof search.actor === "string" && search.actor.trim()) out.actor = search.actor.trim().slice(0, 64);
  if (typeof search.action === "string" && search.action.trim()) out.action = search.action.trim().slice(0, 64);
  if (typeof search.outcome === "string" && (OUTCOMES as readonly string[]).includes(search.outcome)) out.outcome = search.outcome as Outcome;
  if (typeof search.since === "string" && isRfc3339(search.since)) out.since = search.since;
  if (typeof search.until === "string" && isRfc3339(search.until)) out.until = search.until;
  const page = Number(search.page);
  if (Number.isInteger(page) && page > 1 && page < 100_000) out.page = page;
  return out;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** A `datetime-local` value ("2026-12-02T09:30") as RFC 3339 with this browser's offset at that moment. */
export function localInputToRfc3339(value: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!match) return null;
  const [, y, mo, d, h, mi, s = "00"] = match;
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(date.getTime())) return null;
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** RFC 3339 as a `datetime-local` value in this browser's time zone. */
export function rfc3339ToLocalInput(text: string): string {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return "";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
