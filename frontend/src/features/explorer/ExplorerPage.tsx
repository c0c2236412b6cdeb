// The event explorer (/events): every event the user may see, filtered by zone (and everything
// under it), minimum severity, category, actor, record type, text in the summary, full-text search
// and a time range, all in the URL (a filtered view is a link; reload, back and forward keep it).
// New events join live through a stream the server filters; "Pause" holds them (counted) while the
// list is read, "Jump to live" shows them. The list renders only the rows on screen, so it scrolls
// through 100,000 events; each opens in a detail panel. Exports download the same selection.
// Unread events carry a dot; "Mark matching as read" marks read every event the view's filter
// matches (for the user, in every tab: the `acked` frame tells them all).

import { useNavigate, useSearch } from "@tanstack/react-router";
import { memo, useCallback, useEffect, useId, useMemo, useRef, useState, type ReactNode } from "react";
import { CATEGORY_LABELS, EVENT_LABELS, SEVERITY_LABELS, describeEvent, formatBytes, formatNumber, formatTimestamp, formatUtc } from "../../lib/format";
import { useConnection } from "../../lib/realtime/RealtimeProvider";
import { useSession } from "../../lib/session";
import { severityTone } from "../../lib/ui/Badges";
import { PageHeader } from "../../lib/ui/Page";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { VirtualList, type RowControl, type VirtualListHandle } from "../../lib/ui/VirtualList";
import { ActivityIcon, GlobeIcon, PlayIcon, ServerIcon, ShieldIcon, UserIcon } from "../../lib/ui/icons";
import type { Category } from "../../types/events";
import type { AckResult } from "../../services/api";
import { downloadExport, type ExplorerEvent, type ExportFormat } from "./api";
import { EventDetail } from "./EventDetail";
import "./explorer.css";
import { pendingLabel } from "./liveView";
import { isUnread } from "./readState";
import {
  CATEGORIES,
  FILTER_RECORD_TYPES,
  SEVERITIES,
  checkTypedList,
  isFiltered,
  localInputToRfc3339,
  rfc3339ToLocalInput,
  searchKey,
  splitCommas,
  withField,
  type ExplorerSearch,
} from "./search";
import { useExplorer } from "./useExplorer";

/** Every row has this height (px): the list positions rows without measuring them. */
export const EXPLORER_ROW_HEIGHT = 62;

function CategoryIcon({ category }: { category: Category }) {
  switch (category) {
    case "dns":
      return <GlobeIcon size={15} />;
    case "security":
      return <ShieldIcon size={15} />;
    case "health":
      return <ActivityIcon size={15} />;
    case "system":
      return <ServerIcon size={15} />;
    default:
      return <UserIcon size={15} />;
  }
}

/** What a row says after the type's title: the summary without the title it starts with. */
export function rowDetail(event: ExplorerEvent): string {
  const title = EVENT_LABELS[event.type] ?? event.type;
  const summary = event.about?.summary;
  if (summary) {
    for (const prefix of [`${title}: `, `${title} `]) if (summary.startsWith(prefix)) return summary.slice(prefix.length);
    return summary === title ? describeEvent(event).detail : summary;
  }
  return describeEvent(event).detail;
}

interface EventRowProps {
  event: ExplorerEvent;
  selected: boolean;
  tabIndex: number;
  onFocusRow: (key: string) => void;
  onOpen: (event: ExplorerEvent) => void;
}

/** One row: memoized, so that a new event or a scroll re-renders only the rows that change. */
const EventRow = memo(function EventRow({ event, selected, tabIndex, onFocusRow, onOpen }: EventRowProps) {
  const title = EVENT_LABELS[event.type] ?? event.type;
  const detail = rowDetail(event);
  const where = event.about?.zone ?? event.about?.name ?? null;
  return (
    <button
      type="button"
      className={`ex-row sev-${event.severity}`}
      tabIndex={tabIndex}
      data-row-focus=""
      onFocus={() => onFocusRow(event.id)}
      aria-current={selected ? "true" : undefined}
      onClick={() => onOpen(event)}
    >
      <span className={`cat-icon cat-${event.category}`} aria-hidden="true">
        <CategoryIcon category={event.category} />
      </span>
      <span className="ex-row-main">
        <span className="ex-row-line">
          {isUnread(event) && (
            <span className="unread-dot" data-testid="explorer-unread">
              <span className="sr-only">unread</span>
            </span>
          )}
          <span className="ex-row-title">{title}</span>
          {detail && <span className="ex-row-detail">{detail}</span>}
        </span>
        <span className="ex-row-meta">
          <span className={`badge tone-${severityTone(event.severity)}`}>{SEVERITY_LABELS[event.severity] ?? event.severity}</span>
          <time dateTime={event.timestamp} title={formatUtc(event.timestamp)}>
            {formatTimestamp(event.timestamp)}
          </time>
          {/* one text, not one element per fact: a row is laid out whenever it scrolls into view */}
          <span className="ex-row-facts">{[CATEGORY_LABELS[event.category] ?? event.category, event.actor ? `by ${event.actor}` : "", where ?? ""].filter(Boolean).join(" · ")}</span>
        </span>
      </span>
    </button>
  );
});

/** A text box bound to the URL: what is typed shows at once; it goes to the URL after a pause when it is valid. */
function useDraft(value: string, commit: (text: string) => Promise<unknown> | false, delayMs = 300): [string, (text: string) => void] {
  const [draft, setDraft] = useState<string | null>(null);
  useEffect(() => {
    if (draft === null) return undefined;
    const timer = setTimeout(() => {
      const sent = draft;
      const done = commit(sent);
      if (done === false) return; // not valid: it stays in the box with its problem
      void done.finally(() => setDraft((current) => (current === sent ? null : current)));
    }, delayMs);
    return () => clearTimeout(timer);
  }, [draft, commit, delayMs]);
  return [draft ?? value, setDraft];
}

function shownList(value: string | undefined): string {
  return value ? splitCommas(value).join(", ") : "";
}

function Toggles<T extends string>({ label, values, labels, selected, onChange }: { label: string; values: readonly T[]; labels?: Record<string, string>; selected: string[]; onChange: (next: T[]) => void }) {
  const labelId = useId();
  return (
    <div className="field ex-toggles">
      <span className="field-label" id={labelId}>
        {label}
      </span>
      <div className="ex-toggle-row" role="group" aria-labelledby={labelId}>
        {values.map((v) => {
          const on = selected.includes(v);
          return (
            <button
              key={v}
              type="button"
              className="seg toggle"
              aria-pressed={on}
              onClick={() => onChange(on ? (selected.filter((s) => s !== v) as T[]) : ([...selected, v] as T[]))}
            >
              {labels?.[v] ?? v}
            </button>
          );
        })}
      </div>
    </div>
  );
}

/** The filters' form (memoized: live events re-render the page, not the form). */
const Filters = memo(function Filters({ search, setSearch, onClear }: { search: ExplorerSearch; setSearch: (next: ExplorerSearch) => Promise<unknown>; onClear: () => void }) {
  const uid = useId();
  const set = useCallback(
    <K extends keyof ExplorerSearch>(key: K, value: ExplorerSearch[K] | "") => setSearch(withField(search, key, value)),
    [search, setSearch],
  );
  const [zone, setZone] = useDraft(
    shownList(search.zone),
    useCallback(
      (text: string) => {
        const { value, problem } = checkTypedList("zone", text);
        return problem !== null ? false : set("zone", value);
      },
      [set],
    ),
  );
  const [actor, setActor] = useDraft(
    shownList(search.actor),
    useCallback(
      (text: string) => {
        const { value, problem } = checkTypedList("actor", text);
        return problem !== null ? false : set("actor", value);
      },
      [set],
    ),
  );
  const [text, setText] = useDraft(search.text ?? "", useCallback((t: string) => set("text", t.trim().slice(0, 128)), [set]));
  const [q, setQ] = useDraft(search.q ?? "", useCallback((t: string) => set("q", t.trim().slice(0, 200)), [set]));
  const zoneProblem = checkTypedList("zone", zone).problem;
  const actorProblem = checkTypedList("actor", actor).problem;
  const categories = search.category ? splitCommas(search.category) : [];
  const recordTypes = search.record_type ? splitCommas(search.record_type) : [];

  return (
    <form className="ex-filters" role="search" aria-label="Filter the events" onSubmit={(e) => e.preventDefault()}>
      <div className="field">
        <label htmlFor={`${uid}-zone`}>Zones</label>
        <input
          id={`${uid}-zone`}
          type="search"
          value={zone}
          onChange={(e) => setZone(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          placeholder="corp.example"
          aria-invalid={zoneProblem !== null}
          aria-describedby={`${uid}-zone-hint`}
        />
        <p id={`${uid}-zone-hint`} className={zoneProblem ? "field-error" : "sr-only"}>
          {zoneProblem ?? "Comma-separated; each zone with everything under it."}
        </p>
      </div>
      <div className="field">
        <label htmlFor={`${uid}-severity`}>Minimum severity</label>
        <select id={`${uid}-severity`} value={search.min_severity ?? ""} onChange={(e) => void set("min_severity", (e.target.value || undefined) as ExplorerSearch["min_severity"])}>
          <option value="">Any</option>
          {SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {SEVERITY_LABELS[s]}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${uid}-actor`}>Actors</label>
        <input
          id={`${uid}-actor`}
          type="search"
          value={actor}
          onChange={(e) => setActor(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          placeholder="Any user"
          aria-invalid={actorProblem !== null}
          aria-describedby={actorProblem ? `${uid}-actor-error` : undefined}
        />
        {actorProblem && (
          <p id={`${uid}-actor-error`} className="field-error">
            {actorProblem}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor={`${uid}-text`}>Summary contains</label>
        <input id={`${uid}-text`} type="search" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" spellCheck={false} maxLength={128} placeholder="e.g. mail" />
      </div>
      <div className="field">
        <label htmlFor={`${uid}-q`}>Search history</label>
        <input
          id={`${uid}-q`}
          type="search"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          maxLength={200}
          placeholder="Words or prefixes"
          aria-describedby={`${uid}-q-hint`}
        />
        <p id={`${uid}-q-hint`} className="sr-only">
          Full text over stored events: new events are not added while it is set.
        </p>
      </div>
      <div className="field ex-time">
        <label htmlFor={`${uid}-since`}>From (local time)</label>
        <input id={`${uid}-since`} type="datetime-local" value={search.since ? rfc3339ToLocalInput(search.since) : ""} onChange={(e) => void set("since", localInputToRfc3339(e.target.value) ?? undefined)} />
      </div>
      <div className="field ex-time">
        <label htmlFor={`${uid}-until`}>Until (local time)</label>
        <input id={`${uid}-until`} type="datetime-local" value={search.until ? rfc3339ToLocalInput(search.until) : ""} onChange={(e) => void set("until", localInputToRfc3339(e.target.value) ?? undefined)} />
      </div>
      <div className="ex-filter-row">
        <Toggles label="Categories" values={CATEGORIES} labels={CATEGORY_LABELS} selected={categories} onChange={(next) => void set("category", next.join(",") || undefined)} />
        <Toggles label="Record types" values={FILTER_RECORD_TYPES} selected={recordTypes} onChange={(next) => void set("record_type", next.join(",") || undefined)} />
        {isFiltered(search) && (
          <button type="button" className="link-button ex-clear" onClick={onClear}>
            Clear filters
          </button>
        )}
      </div>
    </form>
  );
});

const ExportButtons = memo(function ExportButtons({ search }: { search: ExplorerSearch }) {
  const [running, setRunning] = useState<{ format: ExportFormat; bytes: number; abort: AbortController } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const start = (format: ExportFormat) => {
    const abort = new AbortController();
    setProblem(null);
    setDone(null);
    setRunning({ format, bytes: 0, abort });
    void downloadExport(search, format, {
      signal: abort.signal,
      onProgress: (bytes) => setRunning((r) => (r && r.abort === abort ? { ...r, bytes } : r)),
    })
      .then(({ filename, bytes }) => setDone(`Downloaded ${filename} (${formatBytes(bytes)})`))
      .catch((error: unknown) => {
        if (error instanceof DOMException && error.name === "AbortError") return;
        setProblem(`The export failed: ${errorMessage(error)}`);
      })
      .finally(() => setRunning((r) => (r && r.abort === abort ? null : r)));
  };
  return (
    <div className="ex-export">
      <div className="ex-export-buttons" role="group" aria-label="Export the events that match">
        {running ? (
          <>
            <span className="muted small" role="status">
              Exporting {running.format.toUpperCase()}… {formatBytes(running.bytes)}
            </span>
            <button type="button" className="button small" onClick={() => running.abort.abort()}>
              Cancel
            </button>
          </>
        ) : (
          <>
            <button type="button" className="button" onClick={() => start("ndjson")}>
              Export NDJSON
            </button>
            <button type="button" className="button" onClick={() => start("csv")}>
              Export CSV
            </button>
          </>
        )}
      </div>
      {problem && (
        <p className="inline-error" role="alert">
          {problem}
        </p>
      )}
      {done && !running && (
        <p className="muted small" role="status" data-testid="export-done">
          {done}
        </p>
      )}
    </div>
  );
});

/**
 * "Mark matching as read": one request for every event the view's filter matches, up to now (the
 * server does it in one statement, whatever the number). Any signed-in user may; what it did
 * reaches the rows, the detail panel and the notifications of every tab through `acked`.
 */
function MarkMatchingRead({ viewKey, markMatchingRead }: { viewKey: string; markMatchingRead: () => Promise<AckResult> }) {
  // the outcome belongs to the view it was asked in: another filter starts blank
  const [outcome, setOutcome] = useState<{ view: string; busy: boolean; done: string | null; problem: string | null } | null>(null);
  const shown = outcome !== null && outcome.view === viewKey ? outcome : null;
  const busy = shown?.busy ?? false;
  const run = () => {
    const view = viewKey;
    setOutcome({ view, busy: true, done: null, problem: null });
    markMatchingRead()
      .then((result) => {
        const left = result.unread_count;
        setOutcome({ view, busy: false, done: `Marked as read · ${formatNumber(left)} unread in all`, problem: null });
      })
      .catch((error: unknown) => setOutcome({ view, busy: false, done: null, problem: `Could not mark them as read: ${errorMessage(error)}` }));
  };
  return (
    <div className="ex-mark-read">
      <button type="button" className="button small" onClick={run} disabled={busy} aria-busy={busy || undefined} data-testid="explorer-mark-read">
        {busy ? "Marking as read…" : "Mark matching as read"}
      </button>
      {/* always there, so that what it says next is announced */}
      <p className="muted small ex-mark-read-note" role="status" data-testid="explorer-mark-read-done">
        {shown?.done ?? ""}
      </p>
      {shown?.problem && (
        <p className="inline-error" role="alert">
          {shown.problem}
        </p>
      )}
    </div>
  );
}

const STREAM_WORDS: Record<string, string> = {
  live: "Live",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  refused: "Live updates refused",
  stopped: "Not live",
};

/** Live through the app's own connection (a view without a filter): its state, in a component of its own (it changes often). */
function SharedStreamState() {
  const { main } = useConnection();
  const state = main.state === "connected" ? "live" : main.state === "connecting" ? "connecting" : main.state === "reconnecting" || main.state === "offline" ? "reconnecting" : "refused";
  return (
    <p className="ex-live-text" data-testid="explorer-live-state" data-state={state}>
      <span className={`ex-dot is-${state}`} aria-hidden="true" />
      {STREAM_WORDS[state]}
    </p>
  );
}

const rowKey = (event: ExplorerEvent): string => event.id;
const rowAttributes = (event: ExplorerEvent) => ({
  "data-testid": "explorer-row",
  "data-event-id": event.id,
  "data-seq": event.seq,
  "data-type": event.type,
  "data-severity": event.severity,
});

export function ExplorerPage() {
  const search = useSearch({ from: "/events" });
  const navigate = useNavigate({ from: "/events" });
  const session = useSession();
  const data = useExplorer(search, { username: session.username, role: session.role });
  const listRef = useRef<VirtualListHandle>(null);
  // the open event belongs to the search it was opened in: another filter closes it
  const viewKey = searchKey(search);
  const [selection, setSelection] = useState<{ view: string; id: string } | null>(null);
  const selectedId = selection !== null && selection.view === viewKey ? selection.id : null;
  const setSelectedId = useCallback((id: string | null) => setSelection(id === null ? null : { view: viewKey, id }), [viewKey]);
  const [filtersOpen, setFiltersOpen] = useState(() => typeof window === "undefined" || !window.matchMedia?.("(max-width: 640px)").matches);
  const filtersId = useId();
  const filtered = isFiltered(search);
  const activeFilters = Object.keys(search).length;

  const setSearch = useCallback((next: ExplorerSearch) => navigate({ search: next }), [navigate]);
  const clearFilters = useCallback(() => void navigate({ search: {} }), [navigate]);

  const selected = useMemo(() => (selectedId === null ? null : (data.events.find((e) => e.id === selectedId) ?? null)), [data.events, selectedId]);

  const open = useCallback((event: ExplorerEvent) => setSelectedId(event.id), [setSelectedId]);
  const close = useCallback(() => {
    const id = selectedId;
    setSelectedId(null);
    if (id !== null) requestAnimationFrame(() => listRef.current?.focusRow(id));
  }, [selectedId, setSelectedId]);

  const jumpToLive = () => {
    data.resumeLive();
    listRef.current?.scrollToTop();
  };

  const renderRow = useCallback(
    (event: ExplorerEvent, _index: number, control: RowControl) => (
      <EventRow event={event} selected={event.id === selectedId} tabIndex={control.tabIndex} onFocusRow={control.onFocusRow} onOpen={open} />
    ),
    [selectedId, open],
  );

  let liveBar: ReactNode;
  if (!data.liveView) {
    liveBar = (
      <p className="ex-live-text" data-testid="explorer-live-state" data-state="history">
        <span className="ex-dot is-off" aria-hidden="true" />
        History only: with a full-text search or an end time, new events are not added.
      </p>
    );
  } else if (data.paused) {
    liveBar = (
      <>
        <p className="ex-live-text" data-testid="explorer-live-state" data-state="paused">
          <span className="ex-dot is-paused" aria-hidden="true" />
          Paused ·{" "}
          <strong data-testid="explorer-pending" data-count={data.pendingCount}>
            {pendingLabel(data.pendingCount)}
          </strong>
        </p>
        <button type="button" className="button primary small" onClick={jumpToLive} data-testid="explorer-jump">
          <PlayIcon size={14} /> Jump to live
        </button>
      </>
    );
  } else {
    liveBar = (
      <>
        {data.stream === "shared" ? (
          <SharedStreamState />
        ) : (
          <p className="ex-live-text" data-testid="explorer-live-state" data-state={data.stream}>
            <span className={`ex-dot is-${data.stream}`} aria-hidden="true" />
            {STREAM_WORDS[data.stream] ?? data.stream}
            {data.stream === "refused" && data.streamDetail ? `: ${data.streamDetail}` : ""}
            {data.stream === "stopped" && data.status === "success" ? " (your role receives none of these events live)" : ""}
          </p>
        )}
        <button type="button" className="button small" onClick={data.pauseLive} data-testid="explorer-pause" disabled={data.stream === "stopped"}>
          Pause
        </button>
      </>
    );
  }

  let body: ReactNode;
  if (data.status === "pending") body = <LoadingState label="Loading events…" />;
  else if (data.status === "error" && isForbidden(data.error)) body = <ForbiddenState title="Your role cannot see these events" />;
  else if (data.status === "error") body = <ErrorState title="Could not load the events" error={data.error} onRetry={data.reload} retrying={data.isFetching} />;
  else if (data.events.length === 0)
    body = filtered ? (
      <EmptyState title="No event matches the filters">{data.liveView ? "New events that match will appear here." : "Widen the time range, or clear a filter."}</EmptyState>
    ) : (
      <EmptyState title="No events yet">Changes to zones, records, RPZ rules and forwarders, sign-ins and health changes appear here as they happen.</EmptyState>
    );
  else
    body = (
      <VirtualList
        ref={listRef}
        items={data.events}
        getKey={rowKey}
        rowHeight={EXPLORER_ROW_HEIGHT}
        renderRow={renderRow}
        label={filtered ? "Events matching the filters, newest first" : "Events, newest first"}
        className="ex-list"
        listTestId="explorer-list"
        rowAttributes={rowAttributes}
        roving
        onEndReached={data.hasOlder ? data.loadOlder : undefined}
        footer={
          <div className="ex-list-foot">
            {data.loadingOlder ? (
              <span className="muted small">Loading older events…</span>
            ) : data.olderError ? (
              <span className="inline-error">
                Could not load older events: {errorMessage(data.olderError)}{" "}
                <button type="button" className="link-button" onClick={data.retryOlder}>
                  Retry
                </button>
              </span>
            ) : data.hasOlder ? (
              <button type="button" className="link-button" onClick={data.loadOlder}>
                Load older events
              </button>
            ) : (
              <span className="muted small" data-testid="explorer-end">
                The beginning of the history
              </span>
            )}
          </div>
        }
      />
    );

  return (
    <div className="page explorer-page">
      <PageHeader
        title="Events"
        subtitle={
          data.status === "success" ? (
            <span data-testid="explorer-count">
              {formatNumber(data.events.length)} event{data.events.length === 1 ? "" : "s"}
              {data.hasOlder ? " loaded, more in the history" : ""}
              {filtered ? " matching the filters" : ""}
            </span>
          ) : undefined
        }
        actions={<ExportButtons search={search} />}
      />
      <section className="panel ex-filters-panel" aria-label="Filters">
        <div className="ex-filters-head">
          <button type="button" className="button small ex-filters-toggle" aria-expanded={filtersOpen} aria-controls={filtersId} onClick={() => setFiltersOpen(!filtersOpen)}>
            Filters{activeFilters ? ` (${activeFilters})` : ""}
          </button>
        </div>
        <div id={filtersId} className={`ex-filters-wrap${filtersOpen ? " is-open" : ""}`}>
          <Filters search={search} setSearch={setSearch} onClear={clearFilters} />
        </div>
      </section>
      <section
        className="panel ex-results"
        aria-label="Events"
        onKeyDown={(e) => {
          if (e.key === "Escape" && selectedId !== null) {
            e.preventDefault();
            close();
          }
        }}
      >
        <div className="ex-bar">
          {liveBar}
          {data.markMatchingRead && <MarkMatchingRead viewKey={viewKey} markMatchingRead={data.markMatchingRead} />}
        </div>
        <div className={`ex-body${selected ? " has-detail" : ""}`}>
          <div className="ex-list-wrap" data-testid="explorer-results" data-received={data.received}>
            {body}
          </div>
          {selected && <EventDetail event={selected} role={session.role} onClose={close} />}
        </div>
      </section>
    </div>
  );
}
