// Adding or editing one record: validated as the user types (schemas.ts, the server's rules), the
// server's answer placed on the field it names or at the top, and concurrent edits made visible:
// a change someone else saved meanwhile is shown (live, and as a 412 on save) with the choice to
// apply this change over it or to take theirs. Nothing is silently overwritten.

import { zodResolver } from "@hookform/resolvers/zod";
import { useEffect, useId, useMemo, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { serverFormErrors } from "../../lib/forms";
import { Field, fieldA11y } from "../../lib/ui/Field";
import { ApiError } from "../../services/api";
import { RECORD_TYPES, type DnsRecord, type RecordBody, type Zone } from "./api";
import { useAcceptCurrent, useSaveRecord } from "./queries";
import { RECORD_FIELDS, VALUE_EXAMPLES, VALUE_HINTS, recordSchema, type RecordFormValues } from "./schemas";
import { ConflictPanel } from "../../lib/ui/ConflictPanel";

function toValues(record: DnsRecord | null): RecordFormValues {
  return record
    ? { name: record.name, type: record.type, value: record.value, ttl: record.ttl === null ? "" : String(record.ttl) }
    : { name: "", type: "A", value: "", ttl: "" };
}

function sameData(a: DnsRecord, b: DnsRecord): boolean {
  return a.name === b.name && a.type === b.type && a.value === b.value && a.ttl === b.ttl;
}

function describe(record: DnsRecord, zone: Zone): string {
  return `${record.name} ${record.type} ${record.value} · TTL ${record.ttl ?? `${zone.default_ttl} (zone default)`}`;
}

export interface RecordFormProps {
  zone: Zone;
  /** The record being edited, as it was when the form opened; null to add one. */
  record: DnsRecord | null;
  /** The same record as the cache holds it now (changed or deleted by someone else meanwhile). */
  live: DnsRecord | null | undefined;
  onDone: () => void;
}

export function RecordForm({ zone, record, live, onDone }: RecordFormProps) {
  const schema = useMemo(() => recordSchema(zone.name), [zone.name]);
  const save = useSaveRecord(zone.id);
  const acceptCurrent = useAcceptCurrent(zone.id);
  const [base, setBase] = useState<DnsRecord | null>(record);
  const [formError, setFormError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<{ current: DnsRecord; mine: RecordBody } | null>(null);
  const uid = useId();
  const ids = { name: `${uid}-name`, type: `${uid}-type`, value: `${uid}-value`, ttl: `${uid}-ttl` };

  const {
    register,
    handleSubmit,
    setError,
    reset,
    control,
    formState: { errors, isSubmitting },
  } = useForm<RecordFormValues, unknown, RecordBody>({
    resolver: zodResolver(schema),
    mode: "onChange",
    defaultValues: toValues(record),
  });
  const type = useWatch({ control, name: "type" });

  // A change saved by someone else while this form is open (the cache follows the live events).
  const changedMeanwhile = base !== null && live !== undefined && live !== null && !sameData(live, base) ? live : null;
  const deletedMeanwhile = base !== null && live === null;

  useEffect(() => {
    if (conflict === null) return;
    document.getElementById(`${uid}-conflict`)?.focus();
  }, [conflict, uid]);

  async function submit(body: RecordBody, version = base?.version) {
    setFormError(null);
    try {
      await save.mutateAsync({ id: base?.id, body, version });
      toast.success(base ? "Record saved" : "Record added", { description: `${body.name} ${body.type} ${body.value}` });
      onDone();
    } catch (error) {
      if (error instanceof ApiError && error.conflict) {
        const current = (error.body as { current?: DnsRecord } | undefined)?.current;
        if (current) {
          acceptCurrent(current);
          setConflict({ current, mine: body });
          return;
        }
      }
      const placed = serverFormErrors(error, RECORD_FIELDS);
      for (const [field, message] of Object.entries(placed.fields)) {
        setError(field as (typeof RECORD_FIELDS)[number], { type: "server", message: message as string });
      }
      setFormError(placed.form);
    }
  }

  function takeTheirs(current: DnsRecord) {
    setBase(current);
    setConflict(null);
    reset(toValues(current));
  }

  const busy = isSubmitting || save.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit((body) => submit(body))} data-testid="record-form">
      {formError && (
        <p className="form-error" role="alert" data-testid="form-error">
          {formError}
        </p>
      )}
      {conflict && (
        <ConflictPanel
          id={`${uid}-conflict`}
          title="Someone else changed this record while you were editing it."
          theirs={describe(conflict.current, zone)}
          mine={`${conflict.mine.name} ${conflict.mine.type} ${conflict.mine.value} · TTL ${conflict.mine.ttl ?? `${zone.default_ttl} (zone default)`}`}
          mono
          busy={busy}
          onApplyMine={() => void submit(conflict.mine, conflict.current.version)}
          onKeepTheirs={() => takeTheirs(conflict.current)}
        />
      )}
      {!conflict && changedMeanwhile && (
        <div className="notice" role="status" data-testid="changed-meanwhile">
          <p>
            This record was changed meanwhile: now <span className="mono">{describe(changedMeanwhile, zone)}</span>.
          </p>
          <button type="button" className="button small" onClick={() => takeTheirs(changedMeanwhile)}>
            Load the new version
          </button>
        </div>
      )}
      {deletedMeanwhile && (
        <p className="notice" role="alert" data-testid="deleted-meanwhile">
          This record was deleted meanwhile. Saving is not possible; add it again if it is still needed.
        </p>
      )}
      <div className="form-grid">
        <Field id={ids.name} label="Name" hint={`Relative to ${zone.name}; @ for the zone itself, * for a wildcard.`} error={errors.name?.message}>
          <input
            {...fieldA11y(ids.name, errors.name?.message, true)}
            {...register("name")}
            placeholder="@"
            autoComplete="off"
            spellCheck={false}
            data-autofocus
          />
        </Field>
        <Field id={ids.type} label="Type" error={errors.type?.message}>
          <select {...fieldA11y(ids.type, errors.type?.message, false)} {...register("type", { deps: ["value", "name"] })}>
            {RECORD_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <Field id={ids.value} label="Value" hint={VALUE_HINTS[type]} error={errors.value?.message} className="span-2">
          <input
            {...fieldA11y(ids.value, errors.value?.message, true)}
            {...register("value")}
            placeholder={VALUE_EXAMPLES[type]}
            autoComplete="off"
            spellCheck={false}
          />
        </Field>
        <Field id={ids.ttl} label="TTL (seconds)" hint={`Empty: the zone's default (${zone.default_ttl}). 1 to 604800.`} error={errors.ttl?.message}>
          <input
            {...fieldA11y(ids.ttl, errors.ttl?.message, true)}
            {...register("ttl")}
            inputMode="numeric"
            placeholder={String(zone.default_ttl)}
            autoComplete="off"
          />
        </Field>
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy || deletedMeanwhile || conflict !== null} aria-busy={busy}>
          {busy ? "Saving…" : base ? "Save record" : "Add record"}
        </button>
      </div>
    </form>
  );
}
