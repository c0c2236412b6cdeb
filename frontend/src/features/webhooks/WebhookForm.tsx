// Adding or changing a webhook endpoint: validated as typed (schemas.ts, the server's rules), the
// server's refusal placed on the field it concerns (its `filter.zones.0` on Zones) or at the top.
// An update sends only the fields this user changed, with If-Match: a change someone else saved
// meanwhile comes back as 412, and the form then shows their version to start again from.

import { zodResolver } from "@hookform/resolvers/zod";
import { useId, useMemo, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { SEVERITY_LABELS } from "../../lib/format";
import { Field, FormError, fieldA11y } from "../../lib/ui/Field";
import { ApiError, conflictCurrent } from "../../services/api";
import type { Webhook, WebhookBody, WebhookCreated } from "./api";
import { useAcceptWebhook, useCreateWebhook, useUpdateWebhook } from "./queries";
import { SEVERITIES, TEXT_MAX, TYPE_OPTIONS, ZONES_MAX, changedFields, formField, makeWebhookSchema, toFormValues, type WebhookFormValues } from "./schemas";

export interface WebhookFormProps {
  /** The endpoint being changed; null to add one. */
  webhook: Webhook | null;
  onDone: () => void;
  /** After a creation: the new endpoint, its secret included (shown once). */
  onCreated?: (hook: WebhookCreated) => void;
}

export function WebhookForm({ webhook, onDone, onCreated }: WebhookFormProps) {
  const create = useCreateWebhook();
  const update = useUpdateWebhook();
  const accept = useAcceptWebhook();
  const [base, setBase] = useState<Webhook | null>(webhook);
  const [formError, setFormError] = useState<string | null>(null);
  const uid = useId();
  const ids = {
    url: `${uid}-url`,
    types: `${uid}-types`,
    zones: `${uid}-zones`,
    minSeverity: `${uid}-severity`,
    text: `${uid}-text`,
    enabled: `${uid}-enabled`,
    ordered: `${uid}-ordered`,
  };
  const schema = useMemo(() => makeWebhookSchema(base), [base]);
  const {
    register,
    handleSubmit,
    setError,
    reset,
    control,
    formState: { errors, isSubmitting },
  } = useForm<WebhookFormValues, unknown, WebhookBody>({
    resolver: zodResolver(schema),
    mode: "onChange",
    defaultValues: toFormValues(webhook),
  });
  const scope = useWatch({ control, name: "scope" });

  function placeErrors(error: unknown): void {
    if (error instanceof ApiError && error.errors.length) {
      const unplaced: string[] = [];
      for (const item of error.errors) {
        const field = formField(item.field);
        if (field) setError(field, { type: "server", message: item.message });
        else unplaced.push(`${item.field}: ${item.message}`);
      }
      setFormError(unplaced.length ? unplaced.join("; ") : null);
      return;
    }
    setFormError(error instanceof ApiError ? error.message : "Something went wrong. Try again.");
  }

  async function submit(body: WebhookBody) {
    setFormError(null);
    try {
      if (base === null) {
        const created = await create.mutateAsync(body);
        toast.success("Webhook added", { description: created.url });
        onCreated?.(created);
        onDone();
        return;
      }
      const sent = changedFields(base, body);
      if (Object.keys(sent).length === 0) {
        onDone();
        return;
      }
      const saved = await update.mutateAsync({ id: base.id, body: sent, version: base.version });
      toast.success("Webhook saved", { description: saved.url });
      onDone();
    } catch (error) {
      const current = conflictCurrent<Webhook>(error);
      if (current !== null && base !== null) {
        accept(current);
        setBase(current);
        reset(toFormValues(current));
        setFormError(`${current.updated_by ?? "Someone else"} changed this webhook meanwhile: the form now shows their version. Make your change again to save it.`);
        return;
      }
      if (base !== null && error instanceof ApiError && error.notFound) {
        setFormError("This webhook was deleted meanwhile.");
        return;
      }
      placeErrors(error);
    }
  }

  const busy = isSubmitting || create.isPending || update.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="webhook-form">
      <FormError message={formError} />
      <div className="form-grid">
        <Field
          id={ids.url}
          label="URL"
          hint="http:// or https://. Events are POSTed here, signed (Standard Webhooks). Loopback and private addresses are refused unless the server allows them."
          error={errors.url?.message}
          className="span-2"
        >
          <input
            {...fieldA11y(ids.url, errors.url?.message, true)}
            {...register("url")}
            inputMode="url"
            autoComplete="off"
            spellCheck={false}
            placeholder="https://hooks.example.com/dns"
            data-autofocus
          />
        </Field>
        <fieldset className="radio-group span-2" aria-describedby={errors.types?.message ? `${ids.types}-error` : undefined}>
          <legend>Events</legend>
          <label className="radio">
            <input type="radio" value="all" {...register("scope", { deps: ["types"] })} />
            <span>
              <strong>All notifications</strong>
              <span className="muted small">Every event type but the periodic health and system status reports.</span>
            </span>
          </label>
          <label className="radio">
            <input type="radio" value="chosen" {...register("scope", { deps: ["types"] })} />
            <span>
              <strong>Chosen types</strong>
              <span className="muted small">Only the types ticked below.</span>
            </span>
          </label>
          {scope === "chosen" && (
            <div className="webhook-types" role="group" aria-label="Event types" data-testid="webhook-types">
              {TYPE_OPTIONS.map((option) => (
                <label key={option.value} className="webhook-type">
                  <input type="checkbox" value={option.value} {...register("types")} />
                  <span>{option.label}</span>
                </label>
              ))}
            </div>
          )}
          {errors.types?.message && (
            <p id={`${ids.types}-error`} className="field-error" data-testid={`field-error-${ids.types}`}>
              {errors.types.message}
            </p>
          )}
        </fieldset>
        <Field id={ids.zones} label="Zones (optional)" hint={`Only events about these zones or names under them. One per line, or separated by commas; at most ${ZONES_MAX}.`} error={errors.zones?.message}>
          <textarea {...fieldA11y(ids.zones, errors.zones?.message, true)} {...register("zones")} className="textarea mono" rows={2} autoComplete="off" spellCheck={false} placeholder="corp.example" />
        </Field>
        <div className="webhook-filter-pair">
          <Field id={ids.minSeverity} label="Least severity" error={errors.minSeverity?.message}>
            <select {...fieldA11y(ids.minSeverity, errors.minSeverity?.message, false)} {...register("minSeverity")}>
              <option value="">Any</option>
              {SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {SEVERITY_LABELS[s]} or worse
                </option>
              ))}
            </select>
          </Field>
          <Field id={ids.text} label="Summary contains (optional)" hint={`Up to ${TEXT_MAX} characters.`} error={errors.text?.message}>
            <input {...fieldA11y(ids.text, errors.text?.message, true)} {...register("text")} autoComplete="off" />
          </Field>
        </div>
        <div className="field span-2 check-field">
          <input id={ids.enabled} type="checkbox" {...register("enabled")} aria-describedby={`${ids.enabled}-hint`} />
          <label htmlFor={ids.enabled}>Enabled</label>
          <p id={`${ids.enabled}-hint`} className="field-hint">
            A disabled endpoint gets nothing; what waited for it is sent once it is enabled again.
          </p>
        </div>
        <div className="field span-2 check-field">
          <input id={ids.ordered} type="checkbox" {...register("ordered")} aria-describedby={`${ids.ordered}-hint`} />
          <label htmlFor={ids.ordered}>In order</label>
          <p id={`${ids.ordered}-hint`} className="field-hint">
            One delivery at a time, in event order: a failing one holds back the later ones until it succeeds or its retries run out.
          </p>
        </div>
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy} aria-busy={busy}>
          {busy ? "Saving…" : base ? "Save webhook" : "Add webhook"}
        </button>
      </div>
    </form>
  );
}
