// The audit log (admins): who did what, when, from where, and how it ended; newest first, in pages.
// Filtered by actor, action (exact, or a prefix ending in '.': "rpz." is every RPZ change), outcome
// and a time range, all in the URL, so a filtered view can be bookmarked and shared. Times are shown
// in full with their time zone (local; UTC on hover); each entry's details open in place.

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { useCallback, useId } from "react";
import { formatNumber, formatTimestamp, formatUtc } from "../../lib/format";
import { StatusBadge, type Tone } from "../../lib/ui/Badges";
import { PageHeader } from "../../lib/ui/Page";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { RefreshIcon } from "../../lib/ui/icons";
import { useUrlText } from "../../lib/useUrlText";
import { AUDIT_PAGE_SIZE, OUTCOMES, auditKeys, listAudit, type AuditEntry, type Outcome } from "./api";
import { localInputToRfc3339, rfc3339ToLocalInput, type AuditSearch } from "./search";

const ACTION_SUGGESTIONS = [
  "auth.",
  "auth.login",
  "auth.logout",
  "zone.",
  "record.",
  "rpz.",
  "forwarder.",
  "settings.update",
  "user.",
  "http.refused",
];

const OUTCOME_TONES: Record<string, Tone> = { success: "ok", failure: "bad", refused: "warn" };

function Details({ entry }: { entry: AuditEntry }) {
  const details = entry.details;
  const empty = details === null || details === undefined || (typeof details === "object" && Object.keys(details as object).length === 0);
  if (empty) return <span className="muted">—</span>;
  return (
    <details className="audit-details">
      <summary>
        Details<span className="sr-only"> of {entry.action} at {formatTimestamp(entry.time)}</span>
      </summary>
      <pre className="mono">{JSON.stringify(details, null, 2)}</pre>
    </details>
  );
}

export function AuditPage() {
  const search = useSearch({ from: "/audit" });
  const navigate = useNavigate({ from: "/audit" });
  const uid = useId();
  const page = search.page ?? 1;
  const filters = { actor: search.actor, action: search.action, outcome: search.outcome, since: search.since, until: search.until };
  const audit = useQuery({
    queryKey: auditKeys.page({ ...filters, page }),
    queryFn: ({ signal }) => listAudit({ ...filters, offset: (page - 1) * AUDIT_PAGE_SIZE }, signal),
    placeholderData: keepPreviousData,
    staleTime: 0,
  });

  const setFilter = useCallback(
    (patch: Partial<AuditSearch>) => navigate({ search: (prev) => ({ ...prev, ...patch, page: undefined }), replace: true }),
    [navigate],
  );
  const [actor, setActor] = useUrlText(
    search.actor ?? "",
    useCallback((next: string) => setFilter({ actor: next.trim() || undefined }), [setFilter]),
  );
  const [action, setAction] = useUrlText(
    search.action ?? "",
    useCallback((next: string) => setFilter({ action: next.trim() || undefined }), [setFilter]),
  );
  const filtered = Object.values(filters).some((v) => v !== undefined);

  const data = audit.data;
  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE));
  const first = (page - 1) * AUDIT_PAGE_SIZE + 1;

  let body;
  if (audit.isPending) body = <LoadingState label="Loading the audit log…" />;
  else if (audit.isError && isForbidden(audit.error)) body = <ForbiddenState title="Only admins can see the audit log" />;
  else if (audit.isError && !data) {
    body = <ErrorState title="Could not load the audit log" error={audit.error} onRetry={() => void audit.refetch()} retrying={audit.isFetching} />;
  } else if (data && data.entries.length === 0) {
    body = filtered ? (
      <EmptyState title="No entry matches the filters">Widen the time range, or clear a filter.</EmptyState>
    ) : (
      <EmptyState title="The audit log is empty">Sign-ins and every change to zones, RPZ rules, forwarders, users and settings are recorded here.</EmptyState>
    );
  } else if (data) {
    body = (
      <>
        {audit.isError && (
          <p className="inline-error" role="alert">
            Could not refresh the log: {errorMessage(audit.error)}{" "}
            <button type="button" className="link-button" onClick={() => void audit.refetch()}>
              Retry
            </button>
          </p>
        )}
        <table className="data-table audit-table" data-testid="audit-table" aria-busy={audit.isFetching}>
          <caption className="sr-only">Audit log entries{filtered ? " matching the filters" : ""}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
              <th scope="col">Source</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {data.entries.map((entry) => (
              <tr key={entry.id} data-testid="audit-row" data-action={entry.action} data-actor={entry.actor ?? ""} data-outcome={entry.outcome}>
                <th scope="row" data-label="Time" className="audit-time">
                  <time dateTime={entry.time} title={formatUtc(entry.time)}>
                    {formatTimestamp(entry.time)}
                  </time>
                </th>
                <td data-label="Actor">{entry.actor ?? <span className="muted">—</span>}</td>
                <td data-label="Action" className="mono">
                  {entry.action}
                </td>
                <td data-label="Target" className="value-cell">
                  {entry.target ?? <span className="muted">—</span>}
                </td>
                <td data-label="Outcome">
                  <StatusBadge tone={OUTCOME_TONES[entry.outcome] ?? "muted"}>{entry.outcome}</StatusBadge>
                </td>
                <td data-label="Source" className="mono small">
                  {entry.source ?? <span className="muted">—</span>}
                </td>
                <td data-label="Details">
                  <Details entry={entry} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <nav className="pager" aria-label="Pages of the audit log">
          <button type="button" className="button small" disabled={page <= 1} onClick={() => void navigate({ search: (prev) => ({ ...prev, page: page - 1 > 1 ? page - 1 : undefined }) })}>
            Newer
          </button>
          <span className="muted small" data-testid="audit-range">
            {formatNumber(first)}–{formatNumber(first + data.entries.length - 1)} of {formatNumber(total)}
          </span>
          <button type="button" className="button small" disabled={page >= pages} onClick={() => void navigate({ search: (prev) => ({ ...prev, page: page + 1 }) })}>
            Older
          </button>
        </nav>
      </>
    );
  }

  return (
    <div className="page">
      <PageHeader
        title="Audit log"
        subtitle={data ? `${formatNumber(total)} entr${total === 1 ? "y" : "ies"}${filtered ? " matching the filters" : ""}` : undefined}
        actions={
          <button type="button" className="button" onClick={() => void audit.refetch()} disabled={audit.isFetching} aria-busy={audit.isFetching}>
            <RefreshIcon size={15} /> Refresh
          </button>
        }
      />
      <section className="panel" aria-label="Audit log">
        <form className="filter-grid" role="search" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
          <div className="field">
            <label htmlFor={`${uid}-actor`}>Actor</label>
            <input id={`${uid}-actor`} type="search" value={actor} onChange={(e) => setActor(e.target.value)} autoComplete="off" spellCheck={false} placeholder="Any user" />
          </div>
          <div className="field">
            <label htmlFor={`${uid}-action`}>Action</label>
            <input
              id={`${uid}-action`}
              type="search"
              value={action}
              onChange={(e) => setAction(e.target.value)}
              list={`${uid}-actions`}
              autoComplete="off"
              spellCheck={false}
              placeholder="e.g. rpz. or auth.login"
              aria-describedby={`${uid}-action-hint`}
            />
            <datalist id={`${uid}-actions`}>
              {ACTION_SUGGESTIONS.map((a) => (
                <option key={a} value={a} />
              ))}
            </datalist>
            <p id={`${uid}-action-hint`} className="field-hint">
              Exact, or a prefix ending in a dot.
            </p>
          </div>
          <div className="field">
            <label htmlFor={`${uid}-outcome`}>Outcome</label>
            <select id={`${uid}-outcome`} value={search.outcome ?? ""} onChange={(e) => void setFilter({ outcome: (e.target.value || undefined) as Outcome | undefined })}>
              <option value="">Any</option>
              {OUTCOMES.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${uid}-since`}>From (local time)</label>
            <input
              id={`${uid}-since`}
              type="datetime-local"
              value={search.since ? rfc3339ToLocalInput(search.since) : ""}
              onChange={(e) => void setFilter({ since: localInputToRfc3339(e.target.value) ?? undefined })}
            />
          </div>
          <div className="field">
            <label htmlFor={`${uid}-until`}>Until (local time)</label>
            <input
              id={`${uid}-until`}
              type="datetime-local"
              value={search.until ? rfc3339ToLocalInput(search.until) : ""}
              onChange={(e) => void setFilter({ until: localInputToRfc3339(e.target.value) ?? undefined })}
            />
          </div>
          {filtered && (
            <div className="filter-clear">
              <button type="button" className="link-button" onClick={() => void navigate({ search: {}, replace: false })}>
                Clear filters
              </button>
            </div>
          )}
        </form>
        {body}
      </section>
    </div>
  );
}
