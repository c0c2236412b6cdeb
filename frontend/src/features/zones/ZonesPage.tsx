// The zones list: search (kept in the URL, so a search can be bookmarked and shared), create,
// delete, paging; live through the cache (a zone created or deleted by someone else appears or
// disappears here).

import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { useCallback, useId, useState } from "react";
import { toast } from "sonner";
import { formatRelative } from "../../lib/format";
import { useCanWrite } from "../../lib/session";
import { StatusBadge } from "../../lib/ui/Badges";
import { ConfirmDialog, Dialog } from "../../lib/ui/Dialog";
import { PageHeader } from "../../lib/ui/Page";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { PlusIcon, SearchIcon, TrashIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { useUrlText } from "../../lib/useUrlText";
import { ZONE_PAGE_SIZE, type Zone } from "./api";
import { useDeleteZone, useZones } from "./queries";
import { CreateZoneForm } from "./ZoneForms";


export function zoneTypeLabel(type: string): string {
  return type === "forward" ? "Forward" : "Primary";
}

export function ZonesPage() {
  const search = useSearch({ from: "/zones" });
  const navigate = useNavigate({ from: "/zones" });
  const canWrite = useCanWrite();
  const now = useNow(30_000);
  const page = search.page ?? 1;
  const q = search.q ?? "";
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Zone | null>(null);
  const deleteZone = useDeleteZone();
  const searchId = useId();
  const zones = useZones({ search: q.trim(), offset: (page - 1) * ZONE_PAGE_SIZE });

  // Typing updates the URL after a short pause, replacing the entry (no history entry per key).
  const commitSearch = useCallback(
    (next: string) => navigate({ search: (prev) => ({ ...prev, q: next.trim() ? next : undefined, page: undefined }), replace: true }),
    [navigate],
  );
  const [text, setText] = useUrlText(q, commitSearch);

  const data = zones.data;
  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / ZONE_PAGE_SIZE));

  let body;
  if (zones.isPending) body = <LoadingState label="Loading zones…" />;
  else if (zones.isError && isForbidden(zones.error)) body = <ForbiddenState title="Your role cannot list zones" />;
  else if (zones.isError && !data) {
    body = <ErrorState title="Could not load the zones" error={zones.error} onRetry={() => void zones.refetch()} retrying={zones.isFetching} />;
  } else if (data && data.items.length === 0) {
    body = q ? (
      <EmptyState title={`No zone matches “${q}”`}>Try another part of the name.</EmptyState>
    ) : (
      <EmptyState
        title="No zones yet"
        action={
          canWrite ? (
            <button type="button" className="button primary" onClick={() => setCreating(true)}>
              <PlusIcon size={15} /> Create the first zone
            </button>
          ) : undefined
        }
      >
        {canWrite ? "A zone holds the records of one domain." : "Zones appear here once an operator creates them."}
      </EmptyState>
    );
  } else if (data) {
    body = (
      <>
        {zones.isError && (
          <p className="inline-error" role="alert">
            Could not refresh the list: {errorMessage(zones.error)}{" "}
            <button type="button" className="link-button" onClick={() => void zones.refetch()}>
              Retry
            </button>
          </p>
        )}
        <table className="data-table" data-testid="zones-table" aria-busy={zones.isFetching}>
          <caption className="sr-only">Zones{q ? ` matching “${q}”` : ""}</caption>
          <thead>
            <tr>
              <th scope="col">Zone</th>
              <th scope="col">Type</th>
              <th scope="col" className="num">
                Records
              </th>
              <th scope="col" className="num">
                Serial
              </th>
              <th scope="col">Changed</th>
              {canWrite && (
                <th scope="col" className="actions-col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {data.items.map((zone) => (
              <tr key={zone.id} data-testid="zone-row" data-zone={zone.name}>
                <th scope="row" data-label="Zone">
                  <Link to="/zones/$zoneId" params={{ zoneId: String(zone.id) }} className="row-link mono">
                    {zone.name}
                  </Link>
                </th>
                <td data-label="Type">
                  <StatusBadge tone={zone.zone_type === "forward" ? "info" : "muted"}>{zoneTypeLabel(zone.zone_type)}</StatusBadge>
                </td>
                <td data-label="Records" className="num">
                  {zone.zone_type === "forward" ? "—" : zone.record_count}
                </td>
                <td data-label="Serial" className="num mono">
                  {zone.serial}
                </td>
                <td data-label="Changed" className="muted">
                  <time dateTime={zone.updated_at}>{formatRelative(zone.updated_at, now)}</time>
                </td>
                {canWrite && (
                  <td className="actions-col">
                    <button type="button" className="icon-button small danger" aria-label={`Delete zone ${zone.name}`} onClick={() => setDeleting(zone)}>
                      <TrashIcon size={15} />
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {pages > 1 && (
          <nav className="pager" aria-label="Pages of zones">
            <button type="button" className="button small" disabled={page <= 1} onClick={() => void navigate({ search: (prev) => ({ ...prev, page: page - 1 > 1 ? page - 1 : undefined }) })}>
              Previous
            </button>
            <span className="muted small">
              Page {page} of {pages}
            </span>
            <button type="button" className="button small" disabled={page >= pages} onClick={() => void navigate({ search: (prev) => ({ ...prev, page: page + 1 }) })}>
              Next
            </button>
          </nav>
        )}
      </>
    );
  }

  return (
    <div className="page">
      <PageHeader
        title="Zones"
        subtitle={data ? `${total} zone${total === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}` : undefined}
        actions={
          canWrite ? (
            <button type="button" className="button primary" onClick={() => setCreating(true)}>
              <PlusIcon size={15} /> New zone
            </button>
          ) : undefined
        }
      />
      <section className="panel" aria-label="Zones">
        <div className="toolbar">
          <div className="search-box">
            <label htmlFor={searchId} className="sr-only">
              Search zones
            </label>
            <SearchIcon size={15} aria-hidden="true" />
            <input id={searchId} type="search" placeholder="Search zones" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" spellCheck={false} />
          </div>
        </div>
        {body}
      </section>

      <Dialog open={creating} onClose={() => setCreating(false)} title="New zone" testId="zone-create-dialog">
        <CreateZoneForm
          onCancel={() => setCreating(false)}
          onCreated={(zone) => {
            setCreating(false);
            void navigate({ to: "/zones/$zoneId", params: { zoneId: String(zone.id) } });
          }}
        />
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete zone ${deleting?.name ?? ""}?`}
        confirmLabel="Delete zone"
        busy={deleteZone.isPending}
        error={deleteZone.isError ? errorMessage(deleteZone.error) : null}
        onClose={() => {
          setDeleting(null);
          deleteZone.reset();
        }}
        onConfirm={() => {
          if (!deleting) return;
          const zone = deleting;
          deleteZone.mutate(zone, {
            onSuccess: () => {
              setDeleting(null);
              toast.success("Zone deleted", { description: zone.name });
            },
          });
        }}
      >
        <p>
          <strong className="mono">{deleting?.name}</strong> and its {deleting?.record_count ?? 0} record{deleting?.record_count === 1 ? "" : "s"} will be removed
          from BIND. This cannot be undone.
        </p>
      </ConfirmDialog>
    </div>
  );
}
