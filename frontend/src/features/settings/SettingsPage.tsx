// The live settings (admins): each with what it does and its bounds, checked as typed; saving sends
// only what changed. Live: when another admin changes a setting, the page says who changed what,
// a field this admin has not touched takes the new value, and a field this admin is changing keeps
// the typed value with a note of the new one (saving would replace it; "Use theirs" takes it).

import { zodResolver } from "@hookform/resolvers/zod";
import { useEffect, useMemo, useState } from "react";
import { useForm, useFormState } from "react-hook-form";
import { toast } from "sonner";
import { formatClock } from "../../lib/format";
import { placeServerErrors } from "../../lib/forms";
import { useSession } from "../../lib/session";
import { Field, FormError, fieldA11y } from "../../lib/ui/Field";
import { PageHeader } from "../../lib/ui/Page";
import { ErrorState, ForbiddenState, LoadingState, isForbidden } from "../../lib/ui/StateViews";
import type { RuntimeSettings } from "./api";
import { useLastSettingsChange, useSaveSettings, useSettings } from "./queries";
import {
  SETTINGS,
  SETTING_BY_KEY,
  SETTING_GROUPS,
  SETTING_KEYS,
  boundsText,
  settingsSchema,
  toSettingsValues,
  type SettingKey,
  type SettingsValues,
} from "./schemas";

function formatValue(key: SettingKey, value: number | undefined): string {
  if (value === undefined) return "?";
  const spec = SETTING_BY_KEY[key];
  return `${value}${spec.unit === "ratio" ? "" : ` ${spec.unit}`}`;
}

function SettingsForm({ current }: { current: RuntimeSettings }) {
  const session = useSession();
  const save = useSaveSettings();
  const lastChange = useLastSettingsChange().data;
  const [formError, setFormError] = useState<string | null>(null);
  // The server's values each field started from: a field the user changed keeps its origin, so a
  // change someone else makes to it meanwhile can be pointed out.
  const [origin, setOrigin] = useState<RuntimeSettings>(current);
  const schema = useMemo(() => settingsSchema(current), [current]);
  const { register, handleSubmit, setError, reset, resetField, control } = useForm<SettingsValues, unknown, Partial<RuntimeSettings>>({
    resolver: zodResolver(schema),
    mode: "onChange",
    defaultValues: toSettingsValues(current),
  });
  const { errors, dirtyFields, isSubmitting } = useFormState({ control });

  useEffect(() => {
    // Another admin's change (or this one's save): untouched fields take the server's values.
    reset(toSettingsValues(current), { keepDirtyValues: true, keepErrors: true });
    // Derived from the form's dirty state, which lives in react-hook-form, not in React state.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setOrigin((prev) => {
      const next = { ...prev };
      for (const key of SETTING_KEYS) if (!dirtyFields[key]) next[key] = current[key];
      return next;
    });
    // Only a new answer from the server is a reason to do this, not every change of the dirty set.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [current, reset]);

  async function submit(changes: Partial<RuntimeSettings>) {
    setFormError(null);
    if (Object.keys(changes).length === 0) {
      reset(toSettingsValues(current));
      return;
    }
    try {
      const result = await save.mutateAsync(changes);
      reset(toSettingsValues(result.settings));
      setOrigin(result.settings);
      const count = Object.keys(result.changed).length;
      toast.success(count === 1 ? "Setting saved" : `${count} settings saved`);
    } catch (error) {
      setFormError(placeServerErrors(error, SETTING_KEYS, setError));
    }
  }

  const dirtyCount = SETTING_KEYS.filter((key) => dirtyFields[key]).length;
  const busy = isSubmitting || save.isPending;
  const othersChange = lastChange && lastChange.by !== session.username ? lastChange : null;

  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="settings-form">
      {othersChange && (
        <div className="notice" role="status" data-testid="settings-changed-by">
          <p>
            <strong>{othersChange.by ?? "Someone"}</strong> changed{" "}
            {othersChange.keys.length ? othersChange.keys.map((k) => SETTING_BY_KEY[k as SettingKey]?.label ?? k).join(", ") : "the settings"} at{" "}
            {formatClock(othersChange.at)}; the values below are the current ones.
          </p>
        </div>
      )}
      <FormError message={formError} />
      {SETTING_GROUPS.map((group) => (
        <section key={group} className="panel settings-group" aria-labelledby={`settings-${group.replace(/\W+/g, "-")}`}>
          <h2 className="panel-title" id={`settings-${group.replace(/\W+/g, "-")}`}>
            {group}
          </h2>
          <div className="settings-grid">
            {SETTINGS.filter((s) => s.group === group).map((spec) => {
              const id = `setting-${spec.key}`;
              const error = errors[spec.key]?.message;
              const theirs = dirtyFields[spec.key] && current[spec.key] !== origin[spec.key] ? current[spec.key] : undefined;
              return (
                <Field
                  key={spec.key}
                  id={id}
                  label={spec.label}
                  hint={
                    <>
                      {spec.help} <span className="nowrap">({boundsText(spec)}{spec.unit === "ratio" ? "" : ` ${spec.unit}`})</span>
                    </>
                  }
                  error={error}
                  className="setting"
                >
                  <span className="input-unit">
                    <input {...fieldA11y(id, error, true)} {...register(spec.key)} inputMode="decimal" autoComplete="off" data-setting={spec.key} />
                    {spec.unit !== "ratio" && (
                      <span className="unit" aria-hidden="true">
                        {spec.unit}
                      </span>
                    )}
                    {dirtyFields[spec.key] && <span className="dirty-mark">unsaved</span>}
                  </span>
                  {theirs !== undefined && (
                    <span className="field-note" data-testid={`theirs-${spec.key}`}>
                      Changed meanwhile to {formatValue(spec.key, theirs)}.{" "}
                      <button
                        type="button"
                        className="link-button"
                        onClick={() => {
                          resetField(spec.key, { defaultValue: String(theirs) });
                          setOrigin((prev) => ({ ...prev, [spec.key]: theirs }));
                        }}
                      >
                        Use theirs
                      </button>
                    </span>
                  )}
                </Field>
              );
            })}
          </div>
        </section>
      ))}
      <div className="form-footer">
        <span className="muted small" aria-live="polite">
          {dirtyCount === 0 ? "No unsaved changes." : `${dirtyCount} unsaved change${dirtyCount === 1 ? "" : "s"}.`}
        </span>
        <button
          type="button"
          className="button"
          disabled={dirtyCount === 0 || busy}
          onClick={() => {
            reset(toSettingsValues(current));
            setOrigin(current);
          }}
        >
          Discard changes
        </button>
        <button type="submit" className="button primary" disabled={dirtyCount === 0 || busy} aria-busy={busy}>
          {busy ? "Saving…" : "Save changes"}
        </button>
      </div>
    </form>
  );
}

export function SettingsPage() {
  const settings = useSettings();
  let body;
  if (settings.isPending) body = <LoadingState label="Loading the settings…" />;
  else if (settings.isError && isForbidden(settings.error)) body = <ForbiddenState title="Only admins can see the server's settings" />;
  else if (!settings.data) {
    body = <ErrorState title="Could not load the settings" error={settings.error} onRetry={() => void settings.refetch()} retrying={settings.isFetching} />;
  } else {
    body = <SettingsForm current={settings.data} />;
  }
  return (
    <div className="page">
      <PageHeader title="Settings" subtitle="Changes apply at once on every server instance, without a restart." />
      {settings.data || settings.isPending ? body : <section className="panel">{body}</section>}
    </div>
  );
}
