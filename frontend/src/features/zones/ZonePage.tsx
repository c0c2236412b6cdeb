// One zone: its settings and its records (add, edit, delete, bulk delete), filtered by text and
// type (both in the URL). Live: records others add, change or delete appear here as it happens, the
// serial follows, and a zone deleted meanwhile says by whom and locks the page. Who else is viewing
// or editing the zone is shown (presence), and this page says what this user is doing.

import { Link, useNavigate, useParams, useSearch } from "@tanstack/react-router";
import { useCallback, useId, useMemo, useState } from "react";
import { toast } from "sonner";
import { formatClock, formatRelative } from "../../lib/format";
import { usePresence } from "../../lib/realtime/presence";
import { useCanWrite, useSession } from "../../lib/session";
import { StatusBadge } from "../../lib/ui/Badges";
import { ConfirmDialog, Dialog } from "../../lib/ui/Dialog";
import { PageHeader } from "../../lib/ui/Page";
import { PresenceBar } from "../../lib/ui/Presence";
import { EmptyState, ErrorState, LoadingState, errorMessage } from "../../lib/ui/StateViews";
import { ArrowLeftIcon, EditIcon, PlusIcon, SearchIcon, SettingsIcon, TrashIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { useUrlText } from "../../lib/useUrlText";
import { ApiError } from "../../services/api";
import { RECORD_TYPES, type DnsRecord, type RecordType } from "./api";
import type { ZoneView } from "./cache";
import { useDeleteRecords, useDeleteZone, useRecords, useZone } from "./queries";
import { RecordForm } from "./RecordForm";
import { ZoneSettingsForm } from "./ZoneForms";
import { zoneTypeLabel } from "./ZonesPage";

type Editing = { kind: "add" } | { kind: "edit"; record: DnsRecord } | { kind: "settings" } | null;

function matches(record: DnsRecord, q: string, type: RecordType | undefined): boolean {
  if (type && record.type !== type) return false;
  if (!q) return true;
  const term = q.trim().toLowerCase();
  return record.name.toLowerCase().includes(term) || record.value.toLowerCase().includes(term);
}

function DeletedBanner({ zone }: { zone: ZoneView }) {
  if (!zone.deleted) return null;
  const { by, at } = zone.deleted;
  return (
    <div className="banner banner-bad" role="alert" data-testid="zone-deleted">
      <p>
        <strong>This zone was deleted{by ? ` by ${by}` : ""}</strong> at {formatClock(at)}. The records below are what it held; nothing here can be changed
        any more.
      </p>
      <Link to="/zones" className="button small">
        Back to zones
      </Link>
    </div>
  );
}

export function ZonePage() {
  const { zoneId: rawId } = useParams({ from: "/zones/$zoneId" });
  const search = useSearch({ from: "/zones/$zoneId" });
  const navigate = useNavigate({ from: "/zones/$zoneId" });
  const session = useSession();
  const canWrite = useCanWrite();
  const now = useNow(30_000);
  const id = /^[0-9]{1,10}$/.test(rawId) ? Number(rawId) : NaN;
  const zoneQuery = useZone(id);
  const zone = zoneQuery.data;
  const recordsQuery = useRecords(id, zone?.zone_type !== "forward");
  const [editing, setEditing] = useState<Editing>(null);
  const [deleting, setDeleting] = useState<DnsRecord[] | null>(null);
  const [deletingZone, setDeletingZone] = useState(false);
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const deleteRecords = useDeleteRecords(id);
  const deleteZone = useDeleteZone();
  const filterId = useId();
  const typeId = useId();

  const members = usePresence(Number.isFinite(id) ? `zone:${id}` : null, editing ? "editing" : "viewing", session.username);

  const commitFilter = useCallback(
    (next: string) => navigate({ search: (prev) => ({ ...prev, q: next.trim() ? next : undefined }), replace: true }),
    [navigate],
  );
  const [filter, setFilter] = useUrlText(search.q ?? "", commitFilter);

  const records = recordsQuery.data;
  const shown = useMemo(() => (records ?? []).filter((r) => matches(r, search.q ?? "", search.type)), [records, search.q, search.type]);
  const selectedShown = shown.filter((r) => selected.has(r.id));
  const locked = zone?.deleted !== undefined;
  const writable = canWrite && !locked;

  if (!Number.isFinite(id) || (zoneQuery.isError && zoneQuery.error instanceof ApiError && zoneQuery.error.notFound)) {
    return (
      <div className="page">
        <PageHeader title="Zone not found" before={<BackLink />} />
        <section className="panel">
          <EmptyState title="There is no such zone">It may have been deleted, or the link is wrong.</EmptyState>
        </section>
      </div>
    );
  }
  if (zoneQuery.isPending) {
    return (
      <div className="page">
        <PageHeader title="Zone" before={<BackLink />} />
        <section className="panel">
          <LoadingState label="Loading the zone…" />
        </section>
      </div>
    );
  }
  if (!zone) {
    return (
      <div className="page">
        <PageHeader title="Zone" before={<BackLink />} />
        <section className="panel">
          <ErrorState title="Could not load the zone" error={zoneQuery.error} onRetry={() => void zoneQuery.refetch()} retrying={zoneQuery.isFetching} />
        </section>
      </div>
    );
  }

  const toggle = (recordId: number) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (next.has(recordId)) next.delete(recordId);
      else next.add(recordId);
      return next;
    });
  const allShownSelected = shown.length > 0 && selectedShown.length === shown.length;

  let recordsBody;
  if (zone.zone_type === "forward") {
    recordsBody = (
      <div className="forward-info">
        <p>Queries for names in this zone are forwarded to:</p>
        <ul className="chip-list">
          {zone.forwarders.map((f) => (
            <li key={f} className="chip mono">
              {f}
            </li>
          ))}
        </ul>
        <p className="muted small">A forward zone holds no records.</p>
      </div>
    );
  } else if (recordsQuery.isPending) {
    recordsBody = <LoadingState label="Loading records…" />;
  } else if (!records) {
    recordsBody = (
      <ErrorState title="Could not load the records" error={recordsQuery.error} onRetry={() => void recordsQuery.refetch()} retrying={recordsQuery.isFetching} />
    );
  } else if (records.length === 0) {
    recordsBody = (
      <EmptyState
        title="No records yet"
        action={
          writable ? (
            <button type="button" className="button primary" onClick={() => setEditing({ kind: "add" })}>
              <PlusIcon size={15} /> Add the first record
            </button>
          ) : undefined
        }
      >
        {writable ? "Add an A record for the zone's web server, an MX for its mail…" : "Records appear here once an operator adds them."}
      </EmptyState>
    );
  } else if (shown.length === 0) {
    recordsBody = <EmptyState title="No record matches the filter">Change the text or the type above.</EmptyState>;
  } else {
    recordsBody = (
      <table className="data-table records-table" data-testid="records-table" aria-busy={recordsQuery.isFetching}>
        <caption className="sr-only">Records of {zone.name}</caption>
        <thead>
          <tr>
            {writable && (
              <th scope="col" className="check-col">
                <input
                  type="checkbox"
                  aria-label={allShownSelected ? "Select no record" : "Select every record shown"}
                  checked={allShownSelected}
                  onChange={() => setSelected(allShownSelected ? new Set() : new Set(shown.map((r) => r.id)))}
                />
              </th>
            )}
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Value</th>
            <th scope="col" className="num">
              TTL
            </th>
            {writable && (
              <th scope="col" className="actions-col">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.id} data-testid="record-row" data-record-id={r.id} data-name={r.name} data-type={r.type} aria-selected={writable ? selected.has(r.id) : undefined}>
              {writable && (
                <td className="check-col">
                  <input type="checkbox" aria-label={`Select ${r.name} ${r.type} ${r.value}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                </td>
              )}
              <th scope="row" className="mono" data-label="Name">
                {r.name}
              </th>
              <td data-label="Type">
                <span className="type-tag">{r.type}</span>
              </td>
              <td className="mono value-cell" data-label="Value">
                {r.value}
              </td>
              <td className="num mono" data-label="TTL">
                {r.ttl ?? <span className="muted" title="The zone's default TTL">{zone.default_ttl}*</span>}
              </td>
              {writable && (
                <td className="actions-col">
                  <button type="button" className="icon-button small" aria-label={`Edit ${r.name} ${r.type} ${r.value}`} onClick={() => setEditing({ kind: "edit", record: r })}>
                    <EditIcon size={15} />
                  </button>
                  <button type="button" className="icon-button small danger" aria-label={`Delete ${r.name} ${r.type} ${r.value}`} onClick={() => setDeleting([r])}>
                    <TrashIcon size={15} />
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    );
  }

  const editedRecord = editing?.kind === "edit" ? editing.record : null;
  const liveEdited = editedRecord === null ? undefined : records === undefined ? undefined : (records.find((r) => r.id === editedRecord.id) ?? null);

  return (
    <div className="page">
      <PageHeader
        before={<BackLink />}
        title={<span className="mono">{zone.name}</span>}
        subtitle={
          <span className="zone-facts" data-testid="zone-facts">
            <StatusBadge tone={zone.zone_type === "forward" ? "info" : "muted"}>{zoneTypeLabel(zone.zone_type)}</StatusBadge>
            <span>
              Serial <span className="mono" data-testid="zone-serial">{zone.serial}</span>
            </span>
            <span>Default TTL {zone.default_ttl}</span>
            {zone.zone_type !== "forward" && (
              <span data-testid="zone-record-count">
                {records?.length ?? zone.record_count} record{(records?.length ?? zone.record_count) === 1 ? "" : "s"}
              </span>
            )}
            <span className="muted">changed {formatRelative(zone.updated_at, now)}</span>
          </span>
        }
        actions={
          writable ? (
            <>
              <button type="button" className="button" onClick={() => setEditing({ kind: "settings" })}>
                <SettingsIcon size={15} /> Settings
              </button>
              <button type="button" className="button danger-outline" onClick={() => setDeletingZone(true)}>
                <TrashIcon size={15} /> Delete zone
              </button>
            </>
          ) : undefined
        }
      />
      <DeletedBanner zone={zone} />
      <PresenceBar members={members} self={session.username} what="this zone" />

      <section className="panel" aria-labelledby={`${filterId}-title`}>
        <div className="panel-head">
          <h2 id={`${filterId}-title`}>{zone.zone_type === "forward" ? "Forwarding" : "Records"}</h2>
          {zone.zone_type !== "forward" && records && records.length > 0 && (
            <span className="muted small">
              {shown.length === records.length ? `${records.length}` : `${shown.length} of ${records.length}`} shown
            </span>
          )}
        </div>
        {zone.zone_type !== "forward" && (
          <div className="toolbar">
            <div className="search-box">
              <label htmlFor={filterId} className="sr-only">
                Filter records by name or value
              </label>
              <SearchIcon size={15} aria-hidden="true" />
              <input id={filterId} type="search" placeholder="Filter by name or value" value={filter} onChange={(e) => setFilter(e.target.value)} autoComplete="off" spellCheck={false} />
            </div>
            <label htmlFor={typeId} className="sr-only">
              Record type
            </label>
            <select
              id={typeId}
              className="select"
              value={search.type ?? ""}
              onChange={(e) => void navigate({ search: (prev) => ({ ...prev, type: (e.target.value || undefined) as RecordType | undefined }), replace: true })}
            >
              <option value="">All types</option>
              {RECORD_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
            {writable && (
              <button type="button" className="button primary toolbar-end" onClick={() => setEditing({ kind: "add" })}>
                <PlusIcon size={15} /> Add record
              </button>
            )}
          </div>
        )}
        {writable && selectedShown.length > 0 && (
          <div className="selection-bar" role="region" aria-label="Selected records">
            <span>
              {selectedShown.length} selected
            </span>
            <button type="button" className="button small danger" onClick={() => setDeleting(selectedShown)}>
              <TrashIcon size={14} /> Delete selected
            </button>
            <button type="button" className="link-button" onClick={() => setSelected(new Set())}>
              Clear selection
            </button>
          </div>
        )}
        {recordsBody}
        {zone.zone_type !== "forward" && records && records.some((r) => r.ttl === null) && <p className="muted tiny table-note">* the zone's default TTL</p>}
      </section>

      <Dialog
        open={editing?.kind === "add" || editing?.kind === "edit"}
        onClose={() => setEditing(null)}
        title={editing?.kind === "edit" ? `Edit ${editing.record.name} ${editing.record.type}` : `Add a record to ${zone.name}`}
        testId="record-dialog"
        wide
      >
        <RecordForm zone={zone} record={editedRecord} live={liveEdited} onDone={() => setEditing(null)} />
      </Dialog>
      <Dialog open={editing?.kind === "settings"} onClose={() => setEditing(null)} title={`Settings of ${zone.name}`} testId="zone-settings-dialog" wide>
        <ZoneSettingsForm zone={zone} onDone={() => setEditing(null)} />
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={deleting && deleting.length === 1 ? "Delete this record?" : `Delete ${deleting?.length ?? 0} records?`}
        confirmLabel={deleting && deleting.length > 1 ? `Delete ${deleting.length} records` : "Delete record"}
        busy={deleteRecords.isPending}
        error={deleteRecords.isError ? errorMessage(deleteRecords.error) : null}
        onClose={() => setDeleting(null)}
        onConfirm={() => {
          if (!deleting) return;
          deleteRecords.mutate(deleting, {
            onSuccess: (result) => {
              setDeleting(null);
              setSelected((prev) => new Set([...prev].filter((rid) => !result.deleted.includes(rid))));
              if (result.failed.length === 0) {
                toast.success(result.deleted.length === 1 ? "Record deleted" : `${result.deleted.length} records deleted`);
              } else {
                const first = result.failed[0];
                toast.error(`${result.failed.length} of ${result.deleted.length + result.failed.length} records were not deleted`, {
                  description: first ? `${first.record.name} ${first.record.type}: ${errorMessage(first.error)}` : undefined,
                });
              }
            },
          });
        }}
      >
        {deleting && deleting.length <= 5 ? (
          <ul className="plain-list mono">
            {deleting.map((r) => (
              <li key={r.id}>
                {r.name} {r.type} {r.value}
              </li>
            ))}
          </ul>
        ) : (
          <p>
            {deleting?.length} records of <span className="mono">{zone.name}</span> will be deleted.
          </p>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        open={deletingZone}
        title={`Delete zone ${zone.name}?`}
        confirmLabel="Delete zone"
        busy={deleteZone.isPending}
        error={deleteZone.isError ? errorMessage(deleteZone.error) : null}
        onClose={() => {
          setDeletingZone(false);
          deleteZone.reset();
        }}
        onConfirm={() =>
          deleteZone.mutate(zone, {
            onSuccess: () => {
              setDeletingZone(false);
              toast.success("Zone deleted", { description: zone.name });
              void navigate({ to: "/zones" });
            },
          })
        }
      >
        <p>
          <strong className="mono">{zone.name}</strong> and its {records?.length ?? zone.record_count} records will be removed from BIND. This cannot be undone.
        </p>
      </ConfirmDialog>
    </div>
  );
}

function BackLink() {
  return (
    <Link to="/zones" className="back-link">
      <ArrowLeftIcon size={14} /> Zones
    </Link>
  );
}
