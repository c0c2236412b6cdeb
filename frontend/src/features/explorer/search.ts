// The event explorer's URL (/events?zone=&min_severity=&category=&actor=&record_type=&text=&q=&since=&until=)
// and what it means: the filter the server applies on the socket (docs/protocol.md, "Filters"),
// the query parameters of GET /api/events and /api/events/export, and the key of the query cache.
//
// The URL is the one source of truth: a filtered view is a link that can be shared, and survives a
// reload; back and forward move between filters. Lists are comma-separated in the URL (readable
// and short: `?zone=corp.example,lab.example&category=dns`). Everything is checked on the way in
// (zod), with the server's limits: what is not valid is dropped, never sent.

import { z } from "zod";
import type { Category, EventFilter, Severity } from "../../types/events";

export const SEVERITIES = ["info", "warning", "error", "critical"] as const satisfies readonly Severity[];
export const CATEGORIES = ["dns", "security", "health", "system", "user"] as const satisfies readonly Category[];
/** The record types the API takes (backend dns/rules.py RECORD_TYPES). */
export const FILTER_RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"] as const;

/** The server's limits on a filter (docs/protocol.md). */
export const FILTER_LIMITS = { listMax: 16, actorMax: 64, textMax: 128, qMax: 200, nameMax: 253 } as const;

/** The validated search part of /events: lists are comma-joined strings, as they appear in the URL. */
export interface ExplorerSearch {
  zone?: string;
  min_severity?: Severity;
  category?: string;
  actor?: string;
  record_type?: string;
  text?: string;
  q?: string;
  since?: string;
  until?: string;
}

/** The filter as the socket carries it (subscribe `filter`, `?filter=`): only the keys that are set. */
export type WireFilter = EventFilter;

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A zone or name as filters compare it: lowercase, no trailing dot. */
export function normaliseName(text: string): string {
  const lower = text.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** Why `name` cannot be a zone filter (the server's rule: a DNS name of labels 1-63 long, 253 in all), or null. */
export function zoneProblem(name: string): string | null {
  const plain = normaliseName(name);
  if (!plain) return "a zone is empty";
  if (plain.length > FILTER_LIMITS.nameMax) return `a zone has at most ${FILTER_LIMITS.nameMax} characters`;
  for (const label of plain.split(".")) {
    if (!LABEL.test(label)) return `'${plain.length > 60 ? `${plain.slice(0, 60)}...` : plain}' is not a DNS name`;
  }
  return null;
}

export function actorProblem(actor: string): string | null {
  if (!actor) return "an actor is empty";
  if (actor.length > FILTER_LIMITS.actorMax) return `an actor has at most ${FILTER_LIMITS.actorMax} characters`;
  if (CONTROL.test(actor)) return "an actor may not contain control characters";
  return null;
}

/** A time as the API takes it: RFC 3339 with an offset (or Z), and a real moment. */
export function isRfc3339(text: string): boolean {
  return RFC3339.test(text) && !Number.isNaN(Date.parse(text));
}

/** Items of a comma-separated list (spaces around them trimmed, empty ones dropped). */
export function splitCommas(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/** A typed list checked item by item: the valid items (normalised, deduplicated, at most 16) and the first problem. */
export function parseList(
  text: string,
  check: (item: string) => string | null,
  normalise: (item: string) => string = (s) => s,
): { items: string[]; problem: string | null } {
  const raw = unique(splitCommas(text).map(normalise));
  let problem: string | null = null;
  const items: string[] = [];
  for (const item of raw) {
    const p = check(item);
    if (p !== null) {
      problem ??= p;
      continue;
    }
    items.push(item);
  }
  if (items.length > FILTER_LIMITS.listMax) {
    problem ??= `at most ${FILTER_LIMITS.listMax} entries`;
    items.length = FILTER_LIMITS.listMax;
  }
  return { items, problem };
}

const inSet =
  <T extends string>(values: readonly T[], what: string) =>
  (item: string): string | null =>
    (values as readonly string[]).includes(item) ? null : `${what} must be one of ${values.join(", ")}`;

const checkers = {
  zone: (text: string) => parseList(text, zoneProblem, normaliseName),
  actor: (text: string) => parseList(text, actorProblem),
  category: (text: string) => parseList(text, inSet(CATEGORIES, "a category"), (s) => s.toLowerCase()),
  record_type: (text: string) => parseList(text, inSet(FILTER_RECORD_TYPES, "a record type"), (s) => s.toUpperCase()),
};

type ListKey = keyof typeof checkers;

/** A list param from the URL, or undefined when nothing valid is left. */
function listParam(key: ListKey) {
  return z
    .string()
    .transform((text) => {
      const { items } = checkers[key](text);
      return items.length ? items.join(",") : undefined;
    })
    .optional()
    .catch(undefined);
}

function textParam(max: number) {
  return z
    .string()
    .transform((text) => {
      const trimmed = text.trim();
      return trimmed && !CONTROL.test(trimmed) ? trimmed.slice(0, max) : undefined;
    })
    .optional()
    .catch(undefined);
}

const timeParam = z
  .string()
  .transform((text) => (isRfc3339(text) ? text : undefined))
  .optional()
  .catch(undefined);

/** The schema of /events' search: every field optional, anything invalid dropped (never an error page). */
export const explorerSearchSchema = z.object({
  zone: listParam("zone"),
  min_severity: z.enum(SEVERITIES).optional().catch(undefined),
  category: listParam("category"),
  actor: listParam("actor"),
  record_type: listParam("record_type"),
  text: textParam(FILTER_LIMITS.textMax),
  q: textParam(FILTER_LIMITS.qMax),
  since: timeParam,
  until: timeParam,
});

const KEYS = ["zone", "min_severity", "category", "actor", "record_type", "text", "q", "since", "until"] as const;

/** validateSearch of the /events route: the URL's search object, checked; unknown keys dropped. */
export function validateExplorerSearch(search: Record<string, unknown>): ExplorerSearch {
  // TanStack Router parses a value that looks like JSON (a number, `true`): the filters are text.
  const input: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = search[key];
    if (value === undefined || value === null) continue;
    input[key] = typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : undefined;
  }
  const parsed = explorerSearchSchema.parse(input);
  const out: ExplorerSearch = {};
  for (const key of KEYS) {
    const value = parsed[key];
    if (value !== undefined) (out as Record<string, string>)[key] = value;
  }
  return out;
}

function list(text: string | undefined): string[] {
  return text ? splitCommas(text) : [];
}

/** The live filter (what the socket carries): the search without q, since and until. Null when empty. */
export function wireFilter(search: ExplorerSearch): WireFilter | null {
  const filter: WireFilter = {};
  const zones = list(search.zone);
  const categories = list(search.category) as Category[];
  const actors = list(search.actor);
  const recordTypes = list(search.record_type);
  if (zones.length) filter.zones = zones;
  if (search.min_severity) filter.min_severity = search.min_severity;
  if (categories.length) filter.categories = categories;
  if (actors.length) filter.actors = actors;
  if (recordTypes.length) filter.record_types = recordTypes;
  if (search.text) filter.text = search.text;
  return Object.keys(filter).length ? filter : null;
}

/**
 * The query parameters of GET /api/events and /api/events/export for this search (lists as
 * repeated parameters), in a fixed order so that equal searches give equal strings.
 */
export function historyParams(search: ExplorerSearch): URLSearchParams {
  const params = new URLSearchParams();
  for (const zone of list(search.zone)) params.append("zone", zone);
  if (search.min_severity) params.set("min_severity", search.min_severity);
  for (const category of list(search.category)) params.append("category", category);
  for (const actor of list(search.actor)) params.append("actor", actor);
  for (const type of list(search.record_type)) params.append("record_type", type);
  if (search.text) params.set("text", search.text);
  if (search.q) params.set("q", search.q);
  if (search.since) params.set("since", search.since);
  if (search.until) params.set("until", search.until);
  return params;
}

/** The cache key part for a search: the same for equal searches, whatever their key order. */
export function searchKey(search: ExplorerSearch): string {
  return historyParams(search).toString();
}

/**
 * Whether new events can join this view live. Full-text `q` is a history search (the socket has no
 * such filter), and an `until` bounds the view in the past: both are views of history only.
 */
export function isLiveView(search: ExplorerSearch): boolean {
  return !search.q && !search.until;
}

export function isFiltered(search: ExplorerSearch): boolean {
  return KEYS.some((key) => search[key] !== undefined);
}

/** The search with one field changed (undefined or "" removes it), for navigate({ search }). */
export function withField<K extends keyof ExplorerSearch>(search: ExplorerSearch, key: K, value: ExplorerSearch[K] | ""): ExplorerSearch {
  const next: ExplorerSearch = { ...search };
  if (value === undefined || value === "") delete next[key];
  else next[key] = value;
  return next;
}

/** Checks what was typed into a list field: the canonical comma-joined value (or undefined) and the first problem. */
export function checkTypedList(key: ListKey, text: string): { value: string | undefined; problem: string | null } {
  const { items, problem } = checkers[key](text);
  return { value: items.length ? items.join(",") : undefined, problem };
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
