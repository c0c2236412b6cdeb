// Creating a zone, and changing a zone's settings (SOA timers and names, default TTL, a forward
// zone's servers): validated as typed, with the server's answer on the field it names or on top.

import { zodResolver } from "@hookform/resolvers/zod";
import { useId, useMemo, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { serverFormErrors } from "../../lib/forms";
import { Field, fieldA11y } from "../../lib/ui/Field";
import { ApiError } from "../../services/api";
import type { Zone, ZoneCreateBody, ZoneUpdateBody } from "./api";
import { useCreateZone, useUpdateZone } from "./queries";
import {
  SOA_BOUNDS,
  TTL_MAX,
  ZONE_CREATE_FIELDS,
  ZONE_SETTINGS_FIELDS,
  zoneCreateSchema,
  zoneSettingsSchema,
  type ZoneCreateValues,
  type ZoneSettingsValues,
} from "./schemas";

function FormError({ message }: { message: string | null }) {
  return message ? (
    <p className="form-error" role="alert" data-testid="form-error">
      {message}
    </p>
  ) : null;
}

export function CreateZoneForm({ onCreated, onCancel }: { onCreated: (zone: Zone) => void; onCancel: () => void }) {
  const create = useCreateZone();
  const [formError, setFormError] = useState<string | null>(null);
  const uid = useId();
  const ids = { name: `${uid}-name`, type: `${uid}-type`, ttl: `${uid}-ttl`, forwarders: `${uid}-fwd` };
  const {
    register,
    handleSubmit,
    setError,
    control,
    formState: { errors, isSubmitting },
  } = useForm<ZoneCreateValues, unknown, ZoneCreateBody>({
    resolver: zodResolver(zoneCreateSchema),
    mode: "onChange",
    defaultValues: { name: "", zone_type: "master", default_ttl: "", forwarders: "" },
  });
  const zoneType = useWatch({ control, name: "zone_type" });

  async function submit(body: ZoneCreateBody) {
    setFormError(null);
    try {
      const zone = await create.mutateAsync(body);
      toast.success("Zone created", { description: zone.name });
      onCreated(zone);
    } catch (error) {
      const placed = serverFormErrors(error, ZONE_CREATE_FIELDS);
      for (const [field, message] of Object.entries(placed.fields)) {
        setError(field as (typeof ZONE_CREATE_FIELDS)[number], { type: "server", message: message as string });
      }
      setFormError(placed.form);
    }
  }

  const busy = isSubmitting || create.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="zone-create-form">
      <FormError message={formError} />
      <div className="form-grid">
        <Field id={ids.name} label="Zone name" hint="A domain, like example.com or 10.in-addr.arpa." error={errors.name?.message} className="span-2">
          <input {...fieldA11y(ids.name, errors.name?.message, true)} {...register("name")} autoComplete="off" spellCheck={false} data-autofocus placeholder="example.com" />
        </Field>
        <Field id={ids.type} label="Type" error={errors.zone_type?.message}>
          <select {...fieldA11y(ids.type, errors.zone_type?.message, false)} {...register("zone_type", { deps: ["forwarders"] })}>
            <option value="master">Primary (holds records)</option>
            <option value="forward">Forward (to other servers)</option>
          </select>
        </Field>
        <Field id={ids.ttl} label="Default TTL (seconds)" hint={`Empty: 3600. 1 to ${TTL_MAX}.`} error={errors.default_ttl?.message}>
          <input {...fieldA11y(ids.ttl, errors.default_ttl?.message, true)} {...register("default_ttl")} inputMode="numeric" placeholder="3600" autoComplete="off" />
        </Field>
        {zoneType === "forward" && (
          <Field
            id={ids.forwarders}
            label="Forward to"
            hint="Server addresses, separated by commas or spaces: 192.0.2.53, 192.0.2.54:5353, [2001:db8::53]:53."
            error={errors.forwarders?.message}
            className="span-2"
          >
            <input {...fieldA11y(ids.forwarders, errors.forwarders?.message, true)} {...register("forwarders")} autoComplete="off" spellCheck={false} />
          </Field>
        )}
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy} aria-busy={busy}>
          {busy ? "Creating…" : "Create zone"}
        </button>
      </div>
    </form>
  );
}

function settingsValues(zone: Zone): ZoneSettingsValues {
  return {
    default_ttl: String(zone.default_ttl),
    refresh: String(zone.refresh),
    retry: String(zone.retry),
    expire: String(zone.expire),
    minimum: String(zone.minimum),
    primary_ns: zone.primary_ns,
    admin_email: zone.admin_email,
    forwarders: zone.forwarders.join(", "),
  };
}

export function ZoneSettingsForm({ zone, onDone }: { zone: Zone; onDone: () => void }) {
  const schema = useMemo(() => zoneSettingsSchema(zone.zone_type), [zone.zone_type]);
  const update = useUpdateZone(zone.id);
  const [formError, setFormError] = useState<string | null>(null);
  const [version, setVersion] = useState(zone.version);
  const uid = useId();
  const {
    register,
    handleSubmit,
    setError,
    reset,
    formState: { errors, isSubmitting, isDirty },
  } = useForm<ZoneSettingsValues, unknown, ZoneUpdateBody>({
    resolver: zodResolver(schema),
    mode: "onChange",
    defaultValues: settingsValues(zone),
  });

  async function submit(body: ZoneUpdateBody) {
    setFormError(null);
    try {
      await update.mutateAsync({ body, version });
      toast.success("Zone settings saved", { description: zone.name });
      onDone();
    } catch (error) {
      if (error instanceof ApiError && error.conflict) {
        const current = (error.body as { current?: Zone } | undefined)?.current;
        if (current) {
          setVersion(current.version);
          reset(settingsValues(current), { keepDirty: false });
          setFormError("Someone else changed these settings meanwhile; the form now shows theirs. Make your change again and save.");
          return;
        }
      }
      const placed = serverFormErrors(error, ZONE_SETTINGS_FIELDS);
      for (const [field, message] of Object.entries(placed.fields)) {
        setError(field as (typeof ZONE_SETTINGS_FIELDS)[number], { type: "server", message: message as string });
      }
      setFormError(placed.form);
    }
  }

  const number = (name: "default_ttl" | "refresh" | "retry" | "expire" | "minimum", label: string, min: number, max: number) => {
    const id = `${uid}-${name}`;
    const error = errors[name]?.message;
    return (
      <Field id={id} label={label} hint={`${min} to ${max} seconds.`} error={error}>
        <input {...fieldA11y(id, error, true)} {...register(name, { deps: name === "expire" ? [] : ["expire"] })} inputMode="numeric" autoComplete="off" />
      </Field>
    );
  };
  const text = (name: "primary_ns" | "admin_email" | "forwarders", label: string, hint: string) => {
    const id = `${uid}-${name}`;
    const error = errors[name]?.message;
    return (
      <Field id={id} label={label} hint={hint} error={error} className="span-2">
        <input {...fieldA11y(id, error, true)} {...register(name)} autoComplete="off" spellCheck={false} />
      </Field>
    );
  };

  const busy = isSubmitting || update.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="zone-settings-form">
      <FormError message={formError} />
      <div className="form-grid">
        {number("default_ttl", "Default TTL", 1, TTL_MAX)}
        {number("minimum", "Negative-answer TTL (minimum)", ...SOA_BOUNDS.minimum)}
        {number("refresh", "Refresh", ...SOA_BOUNDS.refresh)}
        {number("retry", "Retry", ...SOA_BOUNDS.retry)}
        {number("expire", "Expire", ...SOA_BOUNDS.expire)}
        {zone.zone_type === "forward"
          ? text("forwarders", "Forward to", "Server addresses, separated by commas or spaces.")
          : (
              <>
                {text("primary_ns", "Primary name server", "A name relative to the zone (ns1), or a full name ending in a dot (ns.provider.net.).")}
                {text("admin_email", "Admin email", "An address (hostmaster@example.com) or a mailbox name.")}
              </>
            )}
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy || !isDirty} aria-busy={busy}>
          {busy ? "Saving…" : "Save settings"}
        </button>
      </div>
    </form>
  );
}
