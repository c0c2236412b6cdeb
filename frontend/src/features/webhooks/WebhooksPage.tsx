// Webhooks (admins): endpoints that receive events over HTTP, signed as the Standard Webhooks
// specification says. Add one (its secret is shown once, with a button to copy it), edit it, enable
// or disable it, delete it, send it a test event, rotate its secret (the old one still signs for a
// grace period), and read its delivery log (status, answer code, duration, next attempt) with a
// "Redeliver" per delivery. The list is polled: failures, backlogs and automatic disabling show up
// without a reload.

import { useState } from "react";
import { toast } from "sonner";
import { formatRelative, formatTimestamp } from "../../lib/format";
import { StatusBadge } from "../../lib/ui/Badges";
import { ConfirmDialog, Dialog } from "../../lib/ui/Dialog";
import { PageHeader } from "../../lib/ui/Page";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { EditIcon, KeyIcon, ListIcon, PlayIcon, PlusIcon, PowerIcon, TrashIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { conflictCurrent } from "../../services/api";
import type { Webhook, WebhookCreated } from "./api";
import { DeliveriesLog } from "./DeliveriesLog";
import { useAcceptWebhook, useDeleteWebhook, useRotateSecret, useSendTest, useUpdateWebhook, useWebhooks } from "./queries";
import { describeEvents } from "./schemas";
import { SecretReveal } from "./SecretReveal";
import { WebhookForm } from "./WebhookForm";
import "./webhooks.css";

type Dialogs = { kind: "add" } | { kind: "edit"; webhook: Webhook } | { kind: "secret"; url: string; secret: string; graceUntil: string | null } | null;

function StateCell({ hook, now }: { hook: Webhook; now: number }) {
  if (!hook.enabled) {
    return (
      <span className="webhook-state">
        <StatusBadge tone="bad">Disabled</StatusBadge>
        {hook.disabled_reason && <span className="muted small">{hook.disabled_reason}</span>}
      </span>
    );
  }
  if (hook.failing_since) {
    return (
      <span className="webhook-state">
        <StatusBadge tone="warn">Failing</StatusBadge>
        <span className="muted small">
          first failure <time dateTime={hook.failing_since} title={formatTimestamp(hook.failing_since)}>{formatRelative(hook.failing_since, now)}</time>
        </span>
      </span>
    );
  }
  return <StatusBadge tone="ok">Enabled</StatusBadge>;
}

function LastDelivery({ hook, now }: { hook: Webhook; now: number }) {
  const success = hook.last_success_at;
  const failure = hook.last_failure_at;
  if (!success && !failure) return <span className="muted">none yet</span>;
  const failedLast = failure !== null && (success === null || Date.parse(failure) > Date.parse(success));
  const at = (failedLast ? failure : success) as string;
  return (
    <span>
      {failedLast ? "failed" : "delivered"}{" "}
      <time dateTime={at} title={formatTimestamp(at)}>
        {formatRelative(at, now)}
      </time>
    </span>
  );
}

export function WebhooksPage() {
  const webhooks = useWebhooks();
  const update = useUpdateWebhook();
  const accept = useAcceptWebhook();
  const remove = useDeleteWebhook();
  const rotate = useRotateSecret();
  const test = useSendTest();
  const now = useNow(10_000);
  const [dialog, setDialog] = useState<Dialogs>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [rotating, setRotating] = useState<Webhook | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const data = webhooks.data;
  const shown = data?.items.find((h) => h.id === selected) ?? null;

  async function setEnabled(hook: Webhook, enabled: boolean) {
    setBusy(hook.id);
    try {
      await update.mutateAsync({ id: hook.id, body: { enabled }, version: hook.version });
      toast.success(enabled ? "Webhook enabled" : "Webhook disabled", { description: hook.url });
    } catch (error) {
      const current = conflictCurrent<Webhook>(error);
      if (current !== null) {
        accept(current);
        toast.error("Someone else changed this webhook meanwhile", { description: "The list shows their change; choose again." });
      } else {
        toast.error(enabled ? "Could not enable the webhook" : "Could not disable the webhook", { description: errorMessage(error) });
      }
    } finally {
      setBusy(null);
    }
  }

  async function sendTest(hook: Webhook) {
    setBusy(hook.id);
    try {
      await test.mutateAsync(hook.id);
      setSelected(hook.id);
      toast.success("Test event queued", { description: `Its delivery shows in the log of ${hook.url}` });
    } catch (error) {
      toast.error("Could not send a test event", { description: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  }

  async function confirmRotate(hook: Webhook) {
    try {
      const rotated = await rotate.mutateAsync(hook.id);
      setRotating(null);
      setDialog({ kind: "secret", url: hook.url, secret: rotated.secret, graceUntil: rotated.previous_secret_expires_at });
    } catch {
      // shown in the dialog (rotate.error)
    }
  }

  async function confirmDelete(hook: Webhook) {
    try {
      await remove.mutateAsync({ id: hook.id, version: hook.version });
      toast.success("Webhook deleted", { description: hook.url });
      if (selected === hook.id) setSelected(null);
      setDeleting(null);
    } catch (error) {
      const current = conflictCurrent<Webhook>(error);
      if (current !== null) {
        accept(current);
        setDeleting(null);
        toast.error("Someone else changed this webhook meanwhile", { description: "Look at it again before deleting it." });
      }
    }
  }

  let body;
  if (webhooks.isPending) body = <LoadingState label="Loading webhooks…" />;
  else if (webhooks.isError && isForbidden(webhooks.error)) body = <ForbiddenState title="Only admins can manage webhooks" />;
  else if (webhooks.isError && !data) body = <ErrorState title="Could not load the webhooks" error={webhooks.error} onRetry={() => void webhooks.refetch()} retrying={webhooks.isFetching} />;
  else if (data && data.items.length === 0)
    body = (
      <EmptyState title="No webhooks">
        Add an endpoint to have events POSTed to another system (a chat, a ticketing tool, your own service), signed so that it can tell they are ours.
      </EmptyState>
    );
  else if (data)
    body = (
      <table className="data-table webhooks-table" data-testid="webhooks-table" aria-busy={webhooks.isFetching}>
        <caption className="sr-only">Webhook endpoints</caption>
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Events</th>
            <th scope="col">State</th>
            <th scope="col" className="num">
              Waiting
            </th>
            <th scope="col">Last delivery</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {data.items.map((hook) => (
            <tr key={hook.id} data-testid="webhook-row" data-id={hook.id} data-enabled={hook.enabled} aria-selected={selected === hook.id}>
              <th scope="row" data-label="Endpoint" className="webhook-url">
                <span>
                  <span className="mono">{hook.url}</span>
                  {hook.ordered && <span className="badge webhook-tag">in order</span>}
                  {hook.previous_secret_expires_at && (
                    <span className="badge webhook-tag" title={`The previous secret signs until ${formatTimestamp(hook.previous_secret_expires_at)}`}>
                      two secrets
                    </span>
                  )}
                </span>
              </th>
              <td data-label="Events">{describeEvents(hook)}</td>
              <td data-label="State">
                <StateCell hook={hook} now={now} />
              </td>
              <td data-label="Waiting" className="num" data-testid="webhook-backlog">
                {hook.backlog}
              </td>
              <td data-label="Last" className="muted">
                <LastDelivery hook={hook} now={now} />
              </td>
              <td className="webhook-row-actions">
                <button type="button" className="button small" aria-pressed={selected === hook.id} onClick={() => setSelected(selected === hook.id ? null : hook.id)} aria-label={`Deliveries of ${hook.url}`}>
                  <ListIcon size={13} /> Deliveries
                </button>
                <button type="button" className="button small" disabled={busy === hook.id} onClick={() => void sendTest(hook)} aria-label={`Send test event to ${hook.url}`}>
                  <PlayIcon size={13} /> Send test event
                </button>
                <button type="button" className="icon-button small" onClick={() => setDialog({ kind: "edit", webhook: hook })} aria-label={`Edit ${hook.url}`} title="Edit">
                  <EditIcon size={15} />
                </button>
                <button type="button" className="icon-button small" onClick={() => setRotating(hook)} aria-label={`Rotate the secret of ${hook.url}`} title="Rotate secret">
                  <KeyIcon size={15} />
                </button>
                <button
                  type="button"
                  className="icon-button small"
                  disabled={busy === hook.id}
                  onClick={() => void setEnabled(hook, !hook.enabled)}
                  aria-label={`${hook.enabled ? "Disable" : "Enable"} ${hook.url}`}
                  title={hook.enabled ? "Disable" : "Enable"}
                >
                  <PowerIcon size={15} />
                </button>
                <button type="button" className="icon-button small danger" onClick={() => setDeleting(hook)} aria-label={`Delete ${hook.url}`} title="Delete">
                  <TrashIcon size={15} />
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    );

  return (
    <div className="page">
      <PageHeader
        title="Webhooks"
        subtitle={data ? `${data.total} endpoint${data.total === 1 ? "" : "s"} · events POSTed and signed (Standard Webhooks), retried with backoff` : undefined}
        actions={
          <button type="button" className="button primary" onClick={() => setDialog({ kind: "add" })}>
            <PlusIcon size={15} /> New webhook
          </button>
        }
      />
      <section className="panel" aria-label="Webhook endpoints">
        {body}
      </section>
      {shown && <DeliveriesLog key={shown.id} webhook={shown} />}
      <Dialog open={dialog?.kind === "add"} onClose={() => setDialog(null)} title="New webhook" testId="webhook-dialog" wide>
        {dialog?.kind === "add" && (
          <WebhookForm
            webhook={null}
            onDone={() => setDialog((d) => (d?.kind === "add" ? null : d))}
            onCreated={(hook: WebhookCreated) => {
              setSelected(hook.id);
              setDialog({ kind: "secret", url: hook.url, secret: hook.secret, graceUntil: null });
            }}
          />
        )}
      </Dialog>
      <Dialog open={dialog?.kind === "edit"} onClose={() => setDialog(null)} title="Edit webhook" testId="webhook-dialog" wide>
        {dialog?.kind === "edit" && <WebhookForm webhook={dialog.webhook} onDone={() => setDialog(null)} />}
      </Dialog>
      <Dialog open={dialog?.kind === "secret"} onClose={() => setDialog(null)} title="Signing secret" testId="secret-dialog" description={dialog?.kind === "secret" ? <span className="mono small">{dialog.url}</span> : undefined}>
        {dialog?.kind === "secret" && <SecretReveal secret={dialog.secret} graceUntil={dialog.graceUntil} onDone={() => setDialog(null)} />}
      </Dialog>
      <ConfirmDialog
        open={rotating !== null}
        title="Rotate the signing secret?"
        confirmLabel="Rotate secret"
        busy={rotate.isPending}
        error={rotate.isError ? errorMessage(rotate.error) : null}
        onClose={() => {
          setRotating(null);
          rotate.reset();
        }}
        onConfirm={() => {
          if (rotating) void confirmRotate(rotating);
        }}
      >
        <p>
          A new secret is made and shown once. The current one keeps signing beside it for a grace period, so the receiver can switch over without missing a delivery.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this webhook?"
        confirmLabel="Delete webhook"
        busy={remove.isPending}
        error={remove.isError ? errorMessage(remove.error) : null}
        onClose={() => {
          setDeleting(null);
          remove.reset();
        }}
        onConfirm={() => {
          if (deleting) void confirmDelete(deleting);
        }}
      >
        <p>
          <span className="mono">{deleting?.url}</span> gets no more events; its delivery log and the deliveries still waiting are deleted with it.
        </p>
      </ConfirmDialog>
    </div>
  );
}
