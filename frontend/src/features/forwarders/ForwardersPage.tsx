// The conditional forwarders: each with its domains, servers and live health (the periodic health
// report, and status changes the moment they happen; marked stale while the connection is down);
// add, edit, delete, enable and disable. Live through the cache: forwarders others add, change or
// delete appear here as it happens. Who else is on the page, or editing a forwarder, is shown.

import { Fragment, useState } from "react";
import { toast } from "sonner";
import { formatRelative, formatTimestamp } from "../../lib/format";
import { healthOf, useHealthReport, type ForwarderHealthEntry } from "../../lib/health";
import { useConnection } from "../../lib/realtime/RealtimeProvider";
import { usePresence } from "../../lib/realtime/presence";
import { canWrite as roleCanWrite, useSession } from "../../lib/session";
import { StatusBadge, capitalize, forwarderTone } from "../../lib/ui/Badges";
import { ConfirmDialog, Dialog } from "../../lib/ui/Dialog";
import { DomainName } from "../../lib/ui/DomainName";
import { PageHeader } from "../../lib/ui/Page";
import { PresenceBar } from "../../lib/ui/Presence";
import { StaleMark } from "../../lib/ui/StaleMark";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { EditIcon, PlusIcon, PowerIcon, TrashIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { conflictCurrent } from "../../services/api";
import type { Forwarder } from "./api";
import { ForwarderForm } from "./ForwarderForm";
import { useAcceptForwarder, useDeleteForwarder, useForwarders, useSaveForwarder } from "./queries";
import { TYPE_LABELS } from "./schemas";

type Editing = { kind: "add" } | { kind: "edit"; forwarder: Forwarder } | null;

function HealthCell({ forwarder, health, reportKnown }: { forwarder: Forwarder; health: ForwarderHealthEntry | null; reportKnown: boolean }) {
  if (!forwarder.enabled) return <StatusBadge tone="muted">Not checked (disabled)</StatusBadge>;
  if (health === null) return <StatusBadge tone="muted">{reportKnown ? "Waiting for the first check" : "Unknown"}</StatusBadge>;
  const times = (health.servers ?? []).map((s) => s.response_ms).filter((v): v is number => typeof v === "number");
  const avg = typeof health["avg_response_ms"] === "number" ? (health["avg_response_ms"] as number) : times.length ? times.reduce((a, b) => a + b, 0) / times.length : null;
  return (
    <span className="health-cell">
      <StatusBadge tone={forwarderTone(health.status)} title={health.reason}>
        {capitalize(health.status)}
      </StatusBadge>
      {avg !== null && <span className="mono small">{Math.round(avg)} ms</span>}
    </span>
  );
}

function ServerList({ forwarder, health }: { forwarder: Forwarder; health: ForwarderHealthEntry | null }) {
  return (
    <ul className="server-list">
      {forwarder.servers.map((address) => {
        const server = health?.servers?.find((s) => s.address === address);
        const status = forwarder.enabled && server ? server.status : null;
        return (
          <li key={address} className="mono" data-server={address} data-status={status ?? "unknown"}>
            {status !== null && <span className={`dot tone-${forwarderTone(status)}`} aria-hidden="true" />}
            {address}
            {status !== null && <span className="sr-only"> ({status})</span>}
          </li>
        );
      })}
    </ul>
  );
}

export function ForwardersPage() {
  const session = useSession();
  const writable = roleCanWrite(session.role);
  const forwarders = useForwarders();
  const health = useHealthReport();
  const { live, downSince } = useConnection();
  const now = useNow(10_000);
  const [editing, setEditing] = useState<Editing>(null);
  const [deleting, setDeleting] = useState<Forwarder | null>(null);
  const [toggling, setToggling] = useState<number | null>(null);
  const deleteForwarder = useDeleteForwarder();
  const save = useSaveForwarder();
  const accept = useAcceptForwarder();
  const members = usePresence("forwarders", editing ? "editing" : "viewing", session.username);

  const data = forwarders.data;
  const report = health.data ?? null;
  const editedId = editing?.kind === "edit" ? editing.forwarder.id : null;
  const liveEdited = editedId === null || !data ? undefined : (data.items.find((f) => f.id === editedId) ?? null);

  async function toggle(forwarder: Forwarder) {
    setToggling(forwarder.id);
    try {
      const saved = await save.mutateAsync({ id: forwarder.id, body: { enabled: !forwarder.enabled }, version: forwarder.version });
      toast.success(saved.enabled ? "Forwarder enabled" : "Forwarder disabled", { description: saved.name });
    } catch (error) {
      const current = conflictCurrent<Forwarder>(error);
      if (current !== null) {
        accept(current);
        toast.error("Someone else changed this forwarder meanwhile", { description: "The list shows their change; choose again." });
      } else {
        toast.error(`Could not ${forwarder.enabled ? "disable" : "enable"} ${forwarder.name}`, { description: errorMessage(error) });
      }
    } finally {
      setToggling(null);
    }
  }

  const counts = { healthy: 0, troubled: 0 };
  for (const f of data?.items ?? []) {
    const h = f.enabled ? healthOf(report, f.name) : null;
    if (h?.status === "healthy") counts.healthy += 1;
    else if (h && (h.status === "degraded" || h.status === "unhealthy")) counts.troubled += 1;
  }

  let body;
  if (forwarders.isPending) body = <LoadingState label="Loading forwarders…" />;
  else if (forwarders.isError && isForbidden(forwarders.error)) body = <ForbiddenState title="Your role cannot list forwarders" />;
  else if (forwarders.isError && !data) {
    body = <ErrorState title="Could not load the forwarders" error={forwarders.error} onRetry={() => void forwarders.refetch()} retrying={forwarders.isFetching} />;
  } else if (data && data.items.length === 0) {
    body = (
      <EmptyState
        title="No forwarders yet"
        action={
          writable ? (
            <button type="button" className="button primary" onClick={() => setEditing({ kind: "add" })}>
              <PlusIcon size={15} /> Add the first forwarder
            </button>
          ) : undefined
        }
      >
        {writable ? "A forwarder sends the queries for some domains (an Active Directory, an intranet) to other servers." : "Forwarders appear here once an operator adds them."}
      </EmptyState>
    );
  } else if (data) {
    body = (
      <>
        {forwarders.isError && (
          <p className="inline-error" role="alert">
            Could not refresh the list: {errorMessage(forwarders.error)}{" "}
            <button type="button" className="link-button" onClick={() => void forwarders.refetch()}>
              Retry
            </button>
          </p>
        )}
        {health.isError && !report && (
          <p className="inline-error" role="alert">
            Could not load the health report: {errorMessage(health.error)}{" "}
            <button type="button" className="link-button" onClick={() => void health.refetch()}>
              Retry
            </button>
          </p>
        )}
        <table className="data-table forwarders-table" data-testid="forwarders-table" aria-busy={forwarders.isFetching}>
          <caption className="sr-only">Forwarders</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Domains</th>
              <th scope="col">Servers</th>
              <th scope="col">
                Health {!live && report && <StaleMark since={downSince} />}
              </th>
              {writable && (
                <th scope="col" className="actions-col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {data.items.map((f) => {
              const h = healthOf(report, f.name);
              return (
                <tr key={f.id} data-testid="forwarder-row" data-name={f.name} data-enabled={f.enabled} data-health={f.enabled ? (h?.status ?? "unknown") : "disabled"}>
                  <th scope="row" data-label="Name">
                    <span className="forwarder-name">
                      {f.name}
                      {!f.enabled && <span className="muted small"> (disabled)</span>}
                    </span>
                  </th>
                  <td data-label="Type">{TYPE_LABELS[f.type] ?? f.type}</td>
                  <td data-label="Domains" className={f.domains.length ? "mono value-cell" : "value-cell"}>
                    {f.domains.length ? (
                      <span>
                        {f.domains.map((d, i) => (
                          <Fragment key={d}>
                            {i > 0 ? ", " : ""}
                            <DomainName name={d} />
                          </Fragment>
                        ))}
                      </span>
                    ) : (
                      <span className="muted">every other name</span>
                    )}
                  </td>
                  <td data-label="Servers">
                    <ServerList forwarder={f} health={h} />
                  </td>
                  <td data-label="Health" data-testid="forwarder-health">
                    <HealthCell forwarder={f} health={f.enabled ? h : null} reportKnown={report !== null} />
                    {f.enabled && h?.changed_at && (
                      <span className="cell-note muted" title={formatTimestamp(h.changed_at)}>
                        {" "}
                        · changed {formatRelative(h.changed_at, now)}
                      </span>
                    )}
                  </td>
                  {writable && (
                    <td className="actions-col">
                      <button
                        type="button"
                        className="icon-button small"
                        aria-label={`${f.enabled ? "Disable" : "Enable"} forwarder ${f.name}`}
                        title={f.enabled ? "Disable" : "Enable"}
                        disabled={toggling === f.id}
                        onClick={() => void toggle(f)}
                      >
                        <PowerIcon size={15} />
                      </button>
                      <button type="button" className="icon-button small" aria-label={`Edit forwarder ${f.name}`} onClick={() => setEditing({ kind: "edit", forwarder: f })}>
                        <EditIcon size={15} />
                      </button>
                      <button type="button" className="icon-button small danger" aria-label={`Delete forwarder ${f.name}`} onClick={() => setDeleting(f)}>
                        <TrashIcon size={15} />
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
        <p className="muted tiny table-note" data-testid="health-as-of">
          {report ? (
            <>
              Health as of <time dateTime={report.at}>{formatRelative(report.at, now)}</time>; status changes show as they happen.
            </>
          ) : health.isPending ? (
            "Loading the health report…"
          ) : (
            "Waiting for the first health report."
          )}
        </p>
      </>
    );
  }

  return (
    <div className="page">
      <PageHeader
        title="Forwarders"
        subtitle={
          data ? (
            <span className="zone-facts">
              <span>
                {data.total} forwarder{data.total === 1 ? "" : "s"}
              </span>
              {report && (
                <>
                  <StatusBadge tone="ok">{counts.healthy} healthy</StatusBadge>
                  {counts.troubled > 0 && <StatusBadge tone="warn">{counts.troubled} with problems</StatusBadge>}
                </>
              )}
            </span>
          ) : undefined
        }
        actions={
          writable ? (
            <button type="button" className="button primary" onClick={() => setEditing({ kind: "add" })}>
              <PlusIcon size={15} /> New forwarder
            </button>
          ) : undefined
        }
      />
      <PresenceBar members={members} self={session.username} what="the forwarders" />
      <section className="panel" aria-label="Forwarders">
        {body}
      </section>

      <Dialog
        open={editing !== null}
        onClose={() => setEditing(null)}
        title={editing?.kind === "edit" ? `Edit forwarder ${editing.forwarder.name}` : "New forwarder"}
        testId="forwarder-dialog"
        wide
      >
        <ForwarderForm forwarder={editing?.kind === "edit" ? editing.forwarder : null} live={liveEdited} onDone={() => setEditing(null)} />
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete forwarder ${deleting?.name ?? ""}?`}
        confirmLabel="Delete forwarder"
        busy={deleteForwarder.isPending}
        error={deleteForwarder.isError ? errorMessage(deleteForwarder.error) : null}
        onClose={() => {
          setDeleting(null);
          deleteForwarder.reset();
        }}
        onConfirm={() => {
          if (!deleting) return;
          const forwarder = deleting;
          deleteForwarder.mutate(forwarder, {
            onSuccess: () => {
              setDeleting(null);
              toast.success("Forwarder deleted", { description: forwarder.name });
            },
          });
        }}
      >
        <p>
          Queries for {deleting?.domains.length ? <span className="mono">{deleting.domains.join(", ")}</span> : "every other name"} will no longer go to{" "}
          <span className="mono">{deleting?.servers.join(", ")}</span>.
        </p>
      </ConfirmDialog>
    </div>
  );
}
