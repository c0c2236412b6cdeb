// Importing a list of domains (pasted, or read from a file): one domain per line, '#' comments. The
// list is checked line by line as it is typed, so the user sees how many domains are valid, repeated
// or invalid (and why) before sending; the answer says how many rules were added and how many
// domains already had one. The same list can instead remove the rules of its domains.

import { zodResolver } from "@hookform/resolvers/zod";
import { useDeferredValue, useId, useMemo, useState, type ChangeEvent } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { formatNumber } from "../../lib/format";
import { placeServerErrors } from "../../lib/forms";
import { Field, FormError, fieldA11y } from "../../lib/ui/Field";
import { ApiError } from "../../services/api";
import { RPZ_ACTIONS, type BulkDeleteResult, type ImportBody, type ImportResult } from "./api";
import { useBulkDelete, useImportRules } from "./queries";
import {
  ACTION_HINTS,
  ACTION_LABELS,
  COMMON_CATEGORIES,
  IMPORT_FIELDS,
  IMPORT_MESSAGE_FIELDS,
  importOptionsSchema,
  parseDomainList,
  type ImportFormValues,
} from "./schemas";

/** Larger files are refused before reading (the API takes 50,000 domains a request; the page splits longer lists). */
const MAX_FILE_BYTES = 20 * 1024 * 1024;
const SHOWN_INVALID = 8;

type Mode = "add" | "remove";

type Outcome = { mode: "add"; result: ImportResult; invalid: number; repeats: number } | { mode: "remove"; result: BulkDeleteResult; invalid: number };

function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

export function ImportForm({ onDone }: { onDone: () => void }) {
  const importRules = useImportRules();
  const bulkDelete = useBulkDelete();
  const [mode, setMode] = useState<Mode>("add");
  const [text, setText] = useState("");
  const [fileNote, setFileNote] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const uid = useId();
  const ids = { list: `${uid}-list`, file: `${uid}-file`, action: `${uid}-action`, redirect: `${uid}-redirect`, category: `${uid}-category`, categories: `${uid}-categories` };
  const deferred = useDeferredValue(text);
  const parsed = useMemo(() => parseDomainList(deferred), [deferred]);

  const {
    register,
    handleSubmit,
    setError,
    control,
    formState: { errors, isSubmitting },
  } = useForm<ImportFormValues, unknown, Omit<ImportBody, "domains">>({
    resolver: zodResolver(importOptionsSchema),
    mode: "onChange",
    defaultValues: { action: "block", redirect_to: "", category: "custom" },
  });
  const action = useWatch({ control, name: "action" });

  async function readFile(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = "";
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      setFileNote(`${file.name} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB; split it into smaller files.`);
      return;
    }
    try {
      setText(await file.text());
      setFileNote(`Read ${file.name}.`);
      setOutcome(null);
    } catch {
      setFileNote(`Could not read ${file.name}.`);
    }
  }

  async function submit(options: Omit<ImportBody, "domains">) {
    setFormError(null);
    setOutcome(null);
    const list = parseDomainList(text);
    if (list.domains.length === 0) {
      setFormError(list.invalid.length ? "No valid domain in the list: correct the lines below." : "The list is empty: paste domains or choose a file.");
      return;
    }
    try {
      if (mode === "add") {
        const result = await importRules.mutateAsync({ ...options, domains: list.domains });
        setOutcome({ mode, result, invalid: list.invalid.length, repeats: list.duplicates + result.duplicates });
        toast.success(`${plural(result.imported, "rule")} added`, { description: result.skipped_existing ? `${plural(result.skipped_existing, "domain")} already listed` : undefined });
      } else {
        const result = await bulkDelete.mutateAsync(list.domains);
        setOutcome({ mode, result, invalid: list.invalid.length });
        toast.success(`${plural(result.removed, "rule")} removed`);
      }
    } catch (error) {
      if (error instanceof ApiError && error.errors.length > 0 && error.errors.every((e) => e.field.startsWith("domains"))) {
        // Domains the server refused (rules only it knows, like its RPZ zone's name length): its summary names them.
        setFormError(error.message);
        return;
      }
      setFormError(placeServerErrors(error, IMPORT_FIELDS, setError, IMPORT_MESSAGE_FIELDS));
    }
  }

  const busy = isSubmitting || importRules.isPending || bulkDelete.isPending;
  const invalidShown = parsed.invalid.slice(0, SHOWN_INVALID);
  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="import-form">
      <FormError message={formError} />
      <div className="segmented" role="group" aria-label="What to do with the list">
        <button type="button" className="seg" aria-pressed={mode === "add"} onClick={() => setMode("add")}>
          Add rules
        </button>
        <button type="button" className="seg" aria-pressed={mode === "remove"} onClick={() => setMode("remove")}>
          Remove rules
        </button>
      </div>
      <Field
        id={ids.list}
        label="Domains"
        hint="One per line; text after # is a comment. Hosts-file lines (0.0.0.0 ads.example) work too."
        className="span-2"
      >
        <textarea
          {...fieldA11y(ids.list, undefined, true)}
          className="textarea mono"
          rows={8}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setOutcome(null);
          }}
          spellCheck={false}
          autoComplete="off"
          data-autofocus
          placeholder={"# a blocklist\nads.example.com\n*.tracker.example"}
        />
      </Field>
      <div className="file-row">
        <label htmlFor={ids.file}>Or read the list from a file</label>
        <input id={ids.file} type="file" accept=".txt,.list,.hosts,text/plain" onChange={(e) => void readFile(e)} aria-describedby={fileNote ? `${ids.file}-note` : undefined} />
        {fileNote && (
          <span id={`${ids.file}-note`} className="muted small" data-testid="file-note">
            {fileNote}
          </span>
        )}
      </div>
      <div className="list-summary" role="status" aria-live="polite" data-testid="import-summary">
        <span data-testid="import-valid">{plural(parsed.domains.length, "valid domain")}</span>
        {parsed.duplicates > 0 && <span data-testid="import-repeats">{plural(parsed.duplicates, "repeat")} (sent once)</span>}
        {parsed.invalid.length > 0 && (
          <span className="bad-text" data-testid="import-invalid">
            {plural(parsed.invalid.length, "invalid line")} (not sent)
          </span>
        )}
      </div>
      {invalidShown.length > 0 && (
        <ul className="invalid-lines" aria-label="Invalid lines">
          {invalidShown.map((line) => (
            <li key={line.line}>
              <span className="mono">
                line {line.line}: {line.text}
              </span>{" "}
              · {line.problem}
            </li>
          ))}
          {parsed.invalid.length > SHOWN_INVALID && <li className="muted">…and {formatNumber(parsed.invalid.length - SHOWN_INVALID)} more</li>}
        </ul>
      )}
      {mode === "add" && (
        <div className="form-grid">
          <Field id={ids.action} label="Action" hint={ACTION_HINTS[action] ?? ""} error={errors.action?.message}>
            <select {...fieldA11y(ids.action, errors.action?.message, true)} {...register("action", { deps: ["redirect_to"] })}>
              {RPZ_ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {ACTION_LABELS[a]}
                </option>
              ))}
            </select>
          </Field>
          <Field id={ids.category} label="Category" error={errors.category?.message}>
            <input {...fieldA11y(ids.category, errors.category?.message, false)} {...register("category")} list={ids.categories} autoComplete="off" spellCheck={false} />
          </Field>
          <datalist id={ids.categories}>
            {COMMON_CATEGORIES.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
          {action === "redirect" && (
            <Field id={ids.redirect} label="Redirect to" hint="An IP address or a host name." error={errors.redirect_to?.message} className="span-2">
              <input {...fieldA11y(ids.redirect, errors.redirect_to?.message, true)} {...register("redirect_to")} autoComplete="off" spellCheck={false} />
            </Field>
          )}
        </div>
      )}
      {outcome && (
        <div className="result-box" role="status" data-testid="import-result">
          {outcome.mode === "add" ? (
            <>
              <strong>{plural(outcome.result.imported, "rule")} added</strong>
              <span>{plural(outcome.result.skipped_existing, "domain")} already listed</span>
              {outcome.repeats > 0 && <span>{plural(outcome.repeats, "repeat")}</span>}
              <span>{plural(outcome.invalid, "invalid line")} not sent</span>
            </>
          ) : (
            <>
              <strong>{plural(outcome.result.removed, "rule")} removed</strong>
              <span>{plural(outcome.result.not_found, "domain")} had no rule</span>
              <span>{plural(outcome.invalid, "invalid line")} not sent</span>
            </>
          )}
        </div>
      )}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          {outcome ? "Close" : "Cancel"}
        </button>
        <button type="submit" className={`button ${mode === "remove" ? "danger" : "primary"}`} disabled={busy || parsed.domains.length === 0} aria-busy={busy}>
          {busy ? "Working…" : mode === "add" ? `Import ${plural(parsed.domains.length, "domain")}` : `Remove ${plural(parsed.domains.length, "rule")}`}
        </button>
      </div>
    </form>
  );
}
