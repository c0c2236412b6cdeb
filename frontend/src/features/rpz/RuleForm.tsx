// Adding or changing one RPZ rule: validated as the user types (schemas.ts, the server's rules),
// the server's refusal placed on the field it concerns or at the top, and concurrent edits made
// visible: a change someone else saved meanwhile is shown (live, and as a 412 on save) with the
// choice to apply this change over it or to keep theirs. Nothing is silently overwritten.

import { zodResolver } from "@hookform/resolvers/zod";
import { useEffect, useId, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { placeServerErrors } from "../../lib/forms";
import { Field, FormError, fieldA11y } from "../../lib/ui/Field";
import { ApiError, conflictCurrent } from "../../services/api";
import { RPZ_ACTIONS, type RpzRule, type RuleCreateBody, type RuleUpdateBody } from "./api";
import { useAcceptRule, useCreateRule, useUpdateRule } from "./queries";
import {
  ACTION_HINTS,
  ACTION_LABELS,
  COMMON_CATEGORIES,
  RULE_FIELDS,
  RULE_MESSAGE_FIELDS,
  ruleCreateSchema,
  ruleUpdateSchema,
  type RuleFormValues,
} from "./schemas";
import { ConflictPanel } from "../../lib/ui/ConflictPanel";

function toValues(rule: RpzRule | null): RuleFormValues {
  return rule
    ? { domain: rule.domain, action: rule.action, redirect_to: rule.redirect_to ?? "", category: rule.category }
    : { domain: "", action: "block", redirect_to: "", category: "custom" };
}

function sameRule(a: RpzRule, b: RpzRule): boolean {
  return a.action === b.action && a.redirect_to === b.redirect_to && a.category === b.category;
}

export function describeRule(rule: Pick<RpzRule, "action" | "redirect_to" | "category">): string {
  const action = rule.action === "redirect" ? `Redirect to ${rule.redirect_to ?? "?"}` : ACTION_LABELS[rule.action];
  return `${action} · ${rule.category}`;
}

export interface RuleFormProps {
  /** The rule being changed, as it was when the form opened; null to add one. */
  rule: RpzRule | null;
  /** The same rule as the cache holds it now (changed or deleted by someone else meanwhile); undefined when not on the page. */
  live: RpzRule | null | undefined;
  onDone: () => void;
}

export function RuleForm({ rule, live, onDone }: RuleFormProps) {
  const create = useCreateRule();
  const update = useUpdateRule();
  const acceptRule = useAcceptRule();
  const [base, setBase] = useState<RpzRule | null>(rule);
  const [formError, setFormError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<{ current: RpzRule; mine: RuleUpdateBody } | null>(null);
  const uid = useId();
  const ids = { domain: `${uid}-domain`, action: `${uid}-action`, redirect: `${uid}-redirect`, category: `${uid}-category`, list: `${uid}-categories` };

  const {
    register,
    handleSubmit,
    setError,
    reset,
    control,
    formState: { errors, isSubmitting },
  } = useForm<RuleFormValues, unknown, RuleCreateBody | RuleUpdateBody>({
    resolver: zodResolver(rule === null ? ruleCreateSchema : ruleUpdateSchema),
    mode: "onChange",
    defaultValues: toValues(rule),
  });
  const action = useWatch({ control, name: "action" });

  const changedMeanwhile = base !== null && live !== undefined && live !== null && !sameRule(live, base) ? live : null;
  const deletedMeanwhile = base !== null && live === null;

  useEffect(() => {
    if (conflict !== null) document.getElementById(`${uid}-conflict`)?.focus();
  }, [conflict, uid]);

  async function submit(body: RuleCreateBody | RuleUpdateBody, version = base?.version) {
    setFormError(null);
    try {
      if (base === null) {
        const created = await create.mutateAsync(body as RuleCreateBody);
        toast.success("Rule added", { description: created.domain });
      } else {
        await update.mutateAsync({ id: base.id, body: body as RuleUpdateBody, version });
        toast.success("Rule saved", { description: base.domain });
      }
      onDone();
    } catch (error) {
      const current = conflictCurrent<RpzRule>(error);
      if (current !== null && base !== null) {
        acceptRule(current);
        setConflict({ current, mine: body as RuleUpdateBody });
        return;
      }
      if (base !== null && error instanceof ApiError && error.notFound) {
        setFormError("This rule was deleted meanwhile. Add it again if it is still needed.");
        return;
      }
      setFormError(placeServerErrors(error, RULE_FIELDS, setError, RULE_MESSAGE_FIELDS));
    }
  }

  function takeTheirs(current: RpzRule) {
    setBase(current);
    setConflict(null);
    reset(toValues(current));
  }

  const busy = isSubmitting || create.isPending || update.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit((body) => submit(body))} data-testid="rule-form">
      <FormError message={formError} />
      {conflict && (
        <ConflictPanel
          id={`${uid}-conflict`}
          title={`${conflict.current.updated_by ?? "Someone else"} changed this rule while you were editing it.`}
          theirs={describeRule(conflict.current)}
          mine={describeRule(conflict.mine)}
          busy={busy}
          onApplyMine={() => void submit(conflict.mine, conflict.current.version)}
          onKeepTheirs={() => takeTheirs(conflict.current)}
        />
      )}
      {!conflict && changedMeanwhile && (
        <div className="notice" role="status" data-testid="changed-meanwhile">
          <p>This rule was changed meanwhile: now {describeRule(changedMeanwhile)}.</p>
          <button type="button" className="button small" onClick={() => takeTheirs(changedMeanwhile)}>
            Load the new version
          </button>
        </div>
      )}
      {deletedMeanwhile && (
        <p className="notice" role="alert" data-testid="deleted-meanwhile">
          This rule was deleted meanwhile. Saving is not possible; add it again if it is still needed.
        </p>
      )}
      <div className="form-grid">
        {rule === null ? (
          <Field
            id={ids.domain}
            label="Domain"
            hint="A domain of two labels or more (ads.example.com); *.example.com covers only its subdomains."
            error={errors.domain?.message}
            className="span-2"
          >
            <input {...fieldA11y(ids.domain, errors.domain?.message, true)} {...register("domain")} autoComplete="off" spellCheck={false} data-autofocus placeholder="ads.example.com" />
          </Field>
        ) : (
          <div className="field span-2">
            <span className="field-label">Domain</span>
            <p className="mono field-static">{rule.domain}</p>
          </div>
        )}
        <Field id={ids.action} label="Action" hint={ACTION_HINTS[action] ?? ""} error={errors.action?.message}>
          <select {...fieldA11y(ids.action, errors.action?.message, true)} {...register("action", { deps: ["redirect_to"] })}>
            {RPZ_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {ACTION_LABELS[a]}
              </option>
            ))}
          </select>
        </Field>
        <Field id={ids.category} label="Category" hint="Letters, digits, '_', '-' or '.'; used to filter and report." error={errors.category?.message}>
          <input {...fieldA11y(ids.category, errors.category?.message, true)} {...register("category")} list={ids.list} autoComplete="off" spellCheck={false} />
        </Field>
        <datalist id={ids.list}>
          {COMMON_CATEGORIES.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
        {action === "redirect" && (
          <Field id={ids.redirect} label="Redirect to" hint="An IP address (192.0.2.80, 2001:db8::80) or a host name (blocked.example.net)." error={errors.redirect_to?.message} className="span-2">
            <input {...fieldA11y(ids.redirect, errors.redirect_to?.message, true)} {...register("redirect_to")} autoComplete="off" spellCheck={false} />
          </Field>
        )}
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy || deletedMeanwhile || conflict !== null} aria-busy={busy}>
          {busy ? "Saving…" : base ? "Save rule" : "Add rule"}
        </button>
      </div>
    </form>
  );
}
