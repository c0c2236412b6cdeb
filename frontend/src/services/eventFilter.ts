// The server's event filter (docs/protocol.md "Filters"; backend realtime/filters.py
// `EventFilter.matches`) in the browser, framework-free: when an `acked` frame says "every event
// matching this filter up to seq N is now read", each tab marks the rows it holds with it, so the
// semantics must be exactly the server's. A fixture the backend writes from its own code
// (tests/fixtures/filter_cases.json, backend/tests/test_filter_fixture.py) checks that they are.
//
// Keys AND together, the entries of one list OR together; a key left out (or null, or an empty list)
// is no condition:
// - zones: `about.zone` or `about.name` is the zone or a name under it, on whole labels
//   ("corp.example" matches "www.corp.example", not "xcorp.example");
// - min_severity: info < warning < error < critical;
// - categories: the event's category; actors: exact (an event without an actor never matches);
// - record_types: `about.record_type` (record events only);
// - text: a case-insensitive substring of `about.summary` (compared casefolded, as the server does).

import { EVENT_CATEGORY, type EventAbout, type EventFilter, type ServerEvent, type Severity } from "../types/events";

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2, critical: 3 };

/** What matching reads of an event: any event frame (live, from the history, from the explorer) has it. */
export type FilterableEvent = Pick<ServerEvent, "type" | "severity" | "actor"> & {
  category?: ServerEvent["category"];
  about?: EventAbout | null;
};

/**
 * Python's str.casefold(), near enough: upper then lower case folds what lower case alone does not
 * ("ß" -> "ss", "ﬁ" -> "fi", "ſ" -> "s"), and a final sigma is folded to σ, as casefold does.
 */
export function casefold(text: string): string {
  return text.toUpperCase().toLowerCase().replace(/ς/g, "σ");
}

/** A filter ready to match: names as the server compares them, sets for the lists, the needle casefolded. */
export interface CompiledFilter {
  readonly zones: readonly string[];
  readonly suffixes: readonly string[];
  readonly minRank: number;
  readonly categories: ReadonlySet<string> | null;
  readonly actors: ReadonlySet<string> | null;
  readonly recordTypes: ReadonlySet<string> | null;
  readonly needle: string | null;
}

function nonEmpty<T>(items: readonly T[] | null | undefined): readonly T[] | null {
  return items && items.length ? items : null;
}

/** A zone as filters compare it (backend about.py normalize_name): trimmed, lowercase, no trailing dots. */
function zoneName(text: string): string {
  return text.trim().toLowerCase().replace(/\.+$/, "");
}

/** Compiles a filter as the server parses one (zones lowercased without the final dot, record types uppercased). */
export function compileFilter(filter: EventFilter): CompiledFilter {
  const zones = [...new Set((nonEmpty(filter.zones) ?? []).map(zoneName))];
  const categories = nonEmpty(filter.categories);
  const actors = nonEmpty(filter.actors);
  const recordTypes = nonEmpty(filter.record_types);
  const text = filter.text;
  return {
    zones,
    suffixes: zones.map((z) => `.${z}`),
    minRank: filter.min_severity ? (SEVERITY_RANK[filter.min_severity] ?? 0) : 0,
    categories: categories ? new Set(categories) : null,
    actors: actors ? new Set(actors) : null,
    recordTypes: recordTypes ? new Set(recordTypes.map((t) => t.trim().toUpperCase())) : null,
    needle: typeof text === "string" && text !== "" ? casefold(text) : null,
  };
}

function matchesZone(compiled: CompiledFilter, value: string | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  return compiled.zones.includes(value) || compiled.suffixes.some((suffix) => value.endsWith(suffix));
}

/** Whether the event matches the compiled filter (matchesFilter, for many events against one filter). */
export function matchesCompiled(event: FilterableEvent, compiled: CompiledFilter): boolean {
  if (compiled.minRank && (SEVERITY_RANK[event.severity] ?? 0) < compiled.minRank) return false;
  if (compiled.categories && !compiled.categories.has(event.category ?? EVENT_CATEGORY[event.type])) return false;
  if (compiled.actors && (event.actor === null || !compiled.actors.has(event.actor))) return false;
  // An event from a server older than `about` says nothing of what it is about: such keys do not match it.
  const about = event.about ?? null;
  const recordType = about?.record_type ?? null;
  if (compiled.recordTypes && (recordType === null || !compiled.recordTypes.has(recordType))) return false;
  if (compiled.zones.length && !(matchesZone(compiled, about?.zone) || matchesZone(compiled, about?.name))) return false;
  return compiled.needle === null || (about !== null && casefold(about.summary).includes(compiled.needle));
}

/** Whether the server's filter keeps this event (null or an empty filter keeps every event). */
export function matchesFilter(event: FilterableEvent, filter: EventFilter | null | undefined): boolean {
  if (!filter) return true;
  return matchesCompiled(event, compileFilter(filter));
}
