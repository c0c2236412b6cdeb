// One endpoint's delivery log, newest first: each event (or test message) with its status, the
// answer's code, how long the last attempt took, the attempts so far and when the next one is due
// (or why the last one failed); "Redeliver" sends a finished one again (same webhook-id). Polled
// every two seconds while open: the server makes deliveries on its own time.

import { useState } from "react";
import { toast } from "sonner";
import { formatRelative, formatTimestamp } from "../../lib/format";
import { StatusBadge, type Tone } from "../../lib/ui/Badges";
import { EmptyState, ErrorState, LoadingState, errorMessage } from "../../lib/ui/StateViews";
import { RefreshIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { DELIVERY_PAGE, type Delivery, type DeliveryStatus, type Webhook } from "./api";
import { useDeliveries, useRedeliver } from "./queries";
import { typeLabel } from "./schemas";

const STATUS_TONE: Record<DeliveryStatus, Tone> = { pending: "warn", succeeded: "ok", failed: "bad" };
const STATUS_LABEL: Record<DeliveryStatus, string> = { pending: "Pending", succeeded: "Delivered", failed: "Failed" };
const FILTERS: [DeliveryStatus | null, string][] = [
  [null, "All"],
  ["pending", "Pending"],
  ["succeeded", "Delivered"],
  ["failed", "Failed"],
];

/** "in 12s", "in 5m", "in 2h", or "now" once due. */
export function untilLabel(iso: string, now: number): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (!Number.isFinite(seconds) || seconds <= 0) return "now";
  if (seconds < 60) return `in ${seconds}s`;
  if (seconds < 3600) return `in ${Math.round(seconds / 60)}m`;
  return `in ${Math.round(seconds / 3600)}h`;
}

function NextOrError({ delivery, now }: { delivery: Delivery; now: number }) {
  if (delivery.status === "pending") {
    const next = delivery.next_attempt_at;
    const when = next ? `next ${untilLabel(next, now)}` : "waiting";
    return (
      <span>
        {delivery.attempts === 0 ? "not tried yet" : when}
        {delivery.error && <span className="muted small block">{delivery.error}</span>}
      </span>
    );
  }
  if (delivery.status === "failed") return <span>{delivery.error ?? "gave up"}</span>;
  return <span className="muted">—</span>;
}

export function DeliveriesLog({ webhook }: { webhook: Webhook }) {
  const [status, setStatus] = useState<DeliveryStatus | null>(null);
  const [offset, setOffset] = useState(0);
  const deliveries = useDeliveries(webhook.id, status, offset);
  const redeliver = useRedeliver();
  const now = useNow(2_000);
  const page = deliveries.data;

  async function again(delivery: Delivery) {
    try {
      await redeliver.mutateAsync({ id: webhook.id, deliveryId: delivery.id });
      toast.success("Redelivery queued", { description: typeLabel(delivery.event_type) });
    } catch (error) {
      toast.error("Could not redeliver", { description: errorMessage(error) });
    }
  }

  let body;
  if (deliveries.isPending) body = <LoadingState label="Loading deliveries…" compact />;
  else if (deliveries.isError && !page) body = <ErrorState title="Could not load the deliveries" error={deliveries.error} onRetry={() => void deliveries.refetch()} retrying={deliveries.isFetching} compact />;
  else if (page && page.items.length === 0)
    body = (
      <EmptyState title={status ? `No ${STATUS_LABEL[status].toLowerCase()} deliveries` : "No deliveries yet"} compact>
        Events this endpoint asked for appear here as they are sent; &ldquo;Send test event&rdquo; sends one now.
      </EmptyState>
    );
  else if (page)
    body = (
      <>
        <div className="table-scroll">
          <table className="data-table deliveries-table" data-testid="deliveries-table" aria-busy={deliveries.isFetching}>
            <caption className="sr-only">Deliveries to {webhook.url}</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Code
                </th>
                <th scope="col" className="num">
                  Duration
                </th>
                <th scope="col" className="num">
                  Attempts
                </th>
                <th scope="col">Next attempt / error</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((d) => (
                <tr key={d.id} data-testid="delivery-row" data-status={d.status} data-event-id={d.event_id} data-test={d.test}>
                  <th scope="row" data-label="Event">
                    <span>
                      {typeLabel(d.event_type)}
                      {d.test && <span className="badge webhook-tag">test</span>}
                      {d.redelivery_of !== null && <span className="badge webhook-tag">redelivery</span>}
                      {d.event_seq !== null && <span className="muted small mono"> #{d.event_seq}</span>}
                    </span>
                  </th>
                  <td data-label="Status">
                    <StatusBadge tone={STATUS_TONE[d.status]}>{STATUS_LABEL[d.status]}</StatusBadge>
                  </td>
                  <td data-label="Code" className="num mono">
                    {d.response_code ?? "—"}
                  </td>
                  <td data-label="Duration" className="num mono">
                    {d.duration_ms !== null ? `${Math.round(d.duration_ms)} ms` : "—"}
                  </td>
                  <td data-label="Attempts" className="num">
                    {d.attempts}
                  </td>
                  <td data-label="Next / error" className="webhook-next">
                    <NextOrError delivery={d} now={now} />
                  </td>
                  <td data-label="Created" className="muted">
                    <time dateTime={d.created_at} title={formatTimestamp(d.created_at)}>
                      {formatRelative(d.created_at, now)}
                    </time>
                  </td>
                  <td className="webhook-row-actions">
                    {d.status !== "pending" && (
                      <button
                        type="button"
                        className="button small"
                        onClick={() => void again(d)}
                        disabled={redeliver.isPending || (!webhook.enabled && !d.test)}
                        aria-label={`Redeliver ${typeLabel(d.event_type)} (delivery ${d.id})`}
                        title={!webhook.enabled && !d.test ? "Enable the endpoint first" : undefined}
                      >
                        <RefreshIcon size={13} /> Redeliver
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {page.total > DELIVERY_PAGE && (
          <nav className="pager" aria-label="Delivery pages">
            <button type="button" className="button small" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - DELIVERY_PAGE))}>
              Newer
            </button>
            <span className="muted small">
              {offset + 1}–{Math.min(offset + DELIVERY_PAGE, page.total)} of {page.total}
            </span>
            <button type="button" className="button small" disabled={offset + DELIVERY_PAGE >= page.total} onClick={() => setOffset(offset + DELIVERY_PAGE)}>
              Older
            </button>
          </nav>
        )}
      </>
    );

  return (
    <section className="panel" aria-labelledby="deliveries-title" data-testid="deliveries-panel">
      <div className="webhook-log-head">
        <h2 id="deliveries-title" className="webhook-log-title">
          Deliveries <span className="muted small mono webhook-url">{webhook.url}</span>
        </h2>
        <div className="segmented" role="group" aria-label="Show deliveries">
          {FILTERS.map(([value, label]) => (
            <button
              key={label}
              type="button"
              className="seg"
              aria-pressed={status === value}
              onClick={() => {
                setStatus(value);
                setOffset(0);
              }}
            >
              {label}
            </button>
          ))}
        </div>
      </div>
      {body}
    </section>
  );
}
