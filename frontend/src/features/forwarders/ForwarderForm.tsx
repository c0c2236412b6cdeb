// Adding or changing a forwarder: validated as the user types (schemas.ts, the server's rules), the
// server's refusal placed on the field it concerns or at the top. An update sends only the fields
// this user changed. Concurrent edits are visible: who else is editing this forwarder (presence), a
// change someone else saved meanwhile (live, and as a 412 on save), with the choice to apply this
// change over it or to keep theirs.

import { zodResolver } from "@hookform/resolvers/zod";
import { useEffect, useId, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { placeServerErrors } from "../../lib/forms";
import { usePresence } from "../../lib/realtime/presence";
import { useSession } from "../../lib/session";
import { Field, FormError, fieldA11y } from "../../lib/ui/Field";
import { PresenceBar } from "../../lib/ui/Presence";
import { ApiError, conflictCurrent } from "../../services/api";
import { FORWARDER_TYPES, type Forwarder, type ForwarderBody } from "./api";
import { useAcceptForwarder, useSaveForwarder } from "./queries";
import {
  FORWARDER_FIELDS,
  FORWARDER_MESSAGE_FIELDS,
  TYPE_HINTS,
  TYPE_LABELS,
  changedFields,
  forwarderSchema,
  toFormValues,
  type ForwarderFormValues,
} from "./schemas";
import { ConflictPanel } from "../../lib/ui/ConflictPanel";

function sameForwarder(a: Forwarder, b: Forwarder): boolean {
  return JSON.stringify([a.name, a.type, a.domains, a.servers, a.enabled]) === JSON.stringify([b.name, b.type, b.domains, b.servers, b.enabled]);
}

export function describeForwarder(f: Pick<Forwarder, "name" | "type" | "domains" | "servers" | "enabled">): string {
  const domains = f.domains.length ? f.domains.join(", ") : "every other name";
  return `${f.name} · ${TYPE_LABELS[f.type]} · ${domains} → ${f.servers.join(", ")}${f.enabled ? "" : " · disabled"}`;
}

export interface ForwarderFormProps {
  /** The forwarder being changed, as it was when the form opened; null to add one. */
  forwarder: Forwarder | null;
  /** The same forwarder as the cache holds it now; null once deleted, undefined when not known. */
  live: Forwarder | null | undefined;
  onDone: () => void;
}

export function ForwarderForm({ forwarder, live, onDone }: ForwarderFormProps) {
  const session = useSession();
  const save = useSaveForwarder();
  const accept = useAcceptForwarder();
  const [base, setBase] = useState<Forwarder | null>(forwarder);
  const [formError, setFormError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<{ current: Forwarder; mine: ForwarderBody } | null>(null);
  const uid = useId();
  const ids = { name: `${uid}-name`, type: `${uid}-type`, domains: `${uid}-domains`, servers: `${uid}-servers`, enabled: `${uid}-enabled` };
  const editors = usePresence(forwarder ? `forwarder:${forwarder.id}` : null, "editing", session.username);

  const {
    register,
    handleSubmit,
    setError,
    reset,
    control,
    formState: { errors, isSubmitting },
  } = useForm<ForwarderFormValues, unknown, ForwarderBody>({
    resolver: zodResolver(forwarderSchema),
    mode: "onChange",
    defaultValues: toFormValues(forwarder),
  });
  const type = useWatch({ control, name: "type" });

  const changedMeanwhile = base !== null && live !== undefined && live !== null && !sameForwarder(live, base) ? live : null;
  const deletedMeanwhile = base !== null && live === null;

  useEffect(() => {
    if (conflict !== null) document.getElementById(`${uid}-conflict`)?.focus();
  }, [conflict, uid]);

  async function submit(body: ForwarderBody, version = base?.version, over: Forwarder | null = base) {
    setFormError(null);
    const sent = over === null ? body : changedFields(over, body);
    if (over !== null && Object.keys(sent).length === 0) {
      onDone();
      return;
    }
    try {
      const saved = await save.mutateAsync({ id: over?.id, body: sent, version });
      toast.success(over ? "Forwarder saved" : "Forwarder added", { description: saved.name });
      onDone();
    } catch (error) {
      const current = conflictCurrent<Forwarder>(error);
      if (current !== null && over !== null) {
        accept(current);
        setConflict({ current, mine: body });
        return;
      }
      if (over !== null && error instanceof ApiError && error.notFound) {
        setFormError("This forwarder was deleted meanwhile. Add it again if it is still needed.");
        return;
      }
      setFormError(placeServerErrors(error, FORWARDER_FIELDS, setError, FORWARDER_MESSAGE_FIELDS));
    }
  }

  function takeTheirs(current: Forwarder) {
    setBase(current);
    setConflict(null);
    reset(toFormValues(current));
  }

  const busy = isSubmitting || save.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit((body) => submit(body))} data-testid="forwarder-form">
      {forwarder && <PresenceBar members={editors} self={session.username} what="this forwarder" testId="forwarder-presence" />}
      <FormError message={formError} />
      {conflict && (
        <ConflictPanel
          id={`${uid}-conflict`}
          title={`${conflict.current.updated_by ?? "Someone else"} changed this forwarder while you were editing it.`}
          theirs={describeForwarder(conflict.current)}
          mine={describeForwarder(conflict.mine)}
          mono
          busy={busy}
          onApplyMine={() => void submit(conflict.mine, conflict.current.version, conflict.current)}
          onKeepTheirs={() => takeTheirs(conflict.current)}
        />
      )}
      {!conflict && changedMeanwhile && (
        <div className="notice" role="status" data-testid="changed-meanwhile">
          <p>
            This forwarder was changed meanwhile: now <span className="mono">{describeForwarder(changedMeanwhile)}</span>.
          </p>
          <button type="button" className="button small" onClick={() => takeTheirs(changedMeanwhile)}>
            Load the new version
          </button>
        </div>
      )}
      {deletedMeanwhile && (
        <p className="notice" role="alert" data-testid="deleted-meanwhile">
          This forwarder was deleted meanwhile. Saving is not possible; add it again if it is still needed.
        </p>
      )}
      <div className="form-grid">
        <Field id={ids.name} label="Name" hint="Letters, digits, spaces, '_', '-' or '.'." error={errors.name?.message}>
          <input {...fieldA11y(ids.name, errors.name?.message, true)} {...register("name")} autoComplete="off" spellCheck={false} data-autofocus placeholder="Corp AD" />
        </Field>
        <Field id={ids.type} label="Type" hint={TYPE_HINTS[type] ?? ""} error={errors.type?.message}>
          <select {...fieldA11y(ids.type, errors.type?.message, true)} {...register("type", { deps: ["domains"] })}>
            {FORWARDER_TYPES.map((t) => (
              <option key={t} value={t}>
                {TYPE_LABELS[t]}
              </option>
            ))}
          </select>
        </Field>
        <Field
          id={ids.domains}
          label="Domains"
          hint={type === "public" ? "Optional: without domains, every name no zone or other forwarder covers. One per line, or separated by commas." : "One per line, or separated by commas: corp.example, _msdcs.corp.example."}
          error={errors.domains?.message}
          className="span-2"
        >
          <textarea {...fieldA11y(ids.domains, errors.domains?.message, true)} {...register("domains")} className="textarea mono" rows={3} autoComplete="off" spellCheck={false} />
        </Field>
        <Field
          id={ids.servers}
          label="Servers"
          hint="IP addresses with an optional port: 192.0.2.53, 192.0.2.54:5353, [2001:db8::53]:53. One per line, or separated by commas."
          error={errors.servers?.message}
          className="span-2"
        >
          <textarea {...fieldA11y(ids.servers, errors.servers?.message, true)} {...register("servers")} className="textarea mono" rows={3} autoComplete="off" spellCheck={false} />
        </Field>
        <div className="field span-2 check-field">
          <input id={ids.enabled} type="checkbox" {...register("enabled")} aria-describedby={`${ids.enabled}-hint`} />
          <label htmlFor={ids.enabled}>Enabled</label>
          <p id={`${ids.enabled}-hint`} className="field-hint">
            A disabled forwarder stays listed but is not written into BIND's configuration, and its health is not checked.
          </p>
        </div>
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy || deletedMeanwhile || conflict !== null} aria-busy={busy}>
          {busy ? "Saving…" : base ? "Save forwarder" : "Add forwarder"}
        </button>
      </div>
    </form>
  );
}
