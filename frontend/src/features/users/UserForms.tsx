// The user dialogs: create a user, change a role (with If-Match: a change someone else made
// meanwhile is shown, with the choice to apply this one over it or keep theirs), reset a password.
// Validated as typed; the server's refusal on the field it concerns or at the top.

import { zodResolver } from "@hookform/resolvers/zod";
import { useEffect, useId, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { toast } from "sonner";
import { placeServerErrors } from "../../lib/forms";
import { Field, FormError, fieldA11y } from "../../lib/ui/Field";
import { conflictCurrent } from "../../services/api";
import type { Role } from "../../types/events";
import { ROLES, type User, type UserCreateBody } from "./api";
import { useAcceptUser, useCreateUser, useSetPassword, useUpdateUser } from "./queries";
import {
  PASSWORD_FIELDS,
  PASSWORD_MIN,
  ROLE_HINTS,
  USER_CREATE_FIELDS,
  USER_MESSAGE_FIELDS,
  passwordSchema,
  userCreateSchema,
  type PasswordValues,
  type UserCreateValues,
} from "./schemas";
import { ConflictPanel } from "../../lib/ui/ConflictPanel";

function RoleOptions() {
  return (
    <>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r[0]!.toUpperCase() + r.slice(1)}
        </option>
      ))}
    </>
  );
}

export function CreateUserForm({ onDone }: { onDone: () => void }) {
  const create = useCreateUser();
  const [formError, setFormError] = useState<string | null>(null);
  const uid = useId();
  const ids = { username: `${uid}-username`, role: `${uid}-role`, password: `${uid}-password`, confirm: `${uid}-confirm` };
  const {
    register,
    handleSubmit,
    setError,
    control,
    formState: { errors, isSubmitting },
  } = useForm<UserCreateValues, unknown, UserCreateBody>({
    resolver: zodResolver(userCreateSchema),
    mode: "onChange",
    defaultValues: { username: "", role: "viewer", password: "", confirm: "" },
  });
  const role = useWatch({ control, name: "role" });

  async function submit(body: UserCreateBody) {
    setFormError(null);
    try {
      const user = await create.mutateAsync(body);
      toast.success("User created", { description: `${user.username} (${user.role})` });
      onDone();
    } catch (error) {
      setFormError(placeServerErrors(error, USER_CREATE_FIELDS, setError, USER_MESSAGE_FIELDS));
    }
  }

  const busy = isSubmitting || create.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="user-create-form">
      <FormError message={formError} />
      <div className="form-grid">
        <Field id={ids.username} label="Username" hint="Letters, digits, '_', '.', '@' or '-'." error={errors.username?.message}>
          <input {...fieldA11y(ids.username, errors.username?.message, true)} {...register("username")} autoComplete="off" spellCheck={false} data-autofocus />
        </Field>
        <Field id={ids.role} label="Role" hint={ROLE_HINTS[role]} error={errors.role?.message}>
          <select {...fieldA11y(ids.role, errors.role?.message, true)} {...register("role")}>
            <RoleOptions />
          </select>
        </Field>
        <Field id={ids.password} label="Password" hint={`At least ${PASSWORD_MIN} characters.`} error={errors.password?.message}>
          <input {...fieldA11y(ids.password, errors.password?.message, true)} {...register("password", { deps: ["confirm"] })} type="password" autoComplete="new-password" />
        </Field>
        <Field id={ids.confirm} label="Password again" error={errors.confirm?.message}>
          <input {...fieldA11y(ids.confirm, errors.confirm?.message, false)} {...register("confirm")} type="password" autoComplete="new-password" />
        </Field>
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy} aria-busy={busy}>
          {busy ? "Creating…" : "Create user"}
        </button>
      </div>
    </form>
  );
}

export interface RoleFormProps {
  user: User;
  /** The same user as the cache holds it now (changed by someone else meanwhile); null once deleted. */
  live: User | null | undefined;
  self: boolean;
  onDone: () => void;
}

export function RoleForm({ user, live, self, onDone }: RoleFormProps) {
  const update = useUpdateUser();
  const accept = useAcceptUser();
  const [base, setBase] = useState(user);
  const [role, setRole] = useState<Role>(user.role);
  const [formError, setFormError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<User | null>(null);
  const uid = useId();
  const changedMeanwhile = live && live.role !== base.role && !conflict ? live : null;

  useEffect(() => {
    if (conflict !== null) document.getElementById(`${uid}-conflict`)?.focus();
  }, [conflict, uid]);

  async function save(version = base.version) {
    setFormError(null);
    try {
      const saved = await update.mutateAsync({ username: user.username, body: { role }, version });
      toast.success("Role changed", { description: `${saved.username} is now ${saved.role}` });
      onDone();
    } catch (error) {
      const current = conflictCurrent<User>(error);
      if (current !== null) {
        accept(current);
        setConflict(current);
        return;
      }
      setFormError(placeServerErrors(error, [] as const, () => undefined));
    }
  }

  return (
    <form
      className="form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      data-testid="role-form"
    >
      <FormError message={formError} />
      {conflict && (
        <ConflictPanel
          id={`${uid}-conflict`}
          title={`${conflict.updated_by ?? "Someone else"} changed this user meanwhile.`}
          theirs={`${conflict.role}${conflict.disabled ? ", disabled" : ""}`}
          mine={role}
          busy={update.isPending}
          onApplyMine={() => void save(conflict.version)}
          onKeepTheirs={() => {
            setBase(conflict);
            setRole(conflict.role);
            setConflict(null);
          }}
        />
      )}
      {changedMeanwhile && (
        <p className="notice" role="status" data-testid="changed-meanwhile">
          Someone else made {user.username} {changedMeanwhile.role} meanwhile.
        </p>
      )}
      <fieldset className="radio-group">
        <legend>Role of {user.username}</legend>
        {ROLES.map((r) => (
          <label key={r} className="radio">
            <input
              type="radio"
              name={`${uid}-role`}
              value={r}
              checked={role === r}
              disabled={self && ROLES.indexOf(r) < ROLES.indexOf(base.role)}
              onChange={() => setRole(r)}
            />
            <span>
              <strong>{r[0]!.toUpperCase() + r.slice(1)}</strong>
              <span className="field-hint">{ROLE_HINTS[r]}</span>
            </span>
          </label>
        ))}
      </fieldset>
      {self && (
        <p className="muted small">This is your own account: another admin can lower its role, you cannot.</p>
      )}
      <p className="muted small">Live connections the new role may not hold are closed.</p>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={update.isPending || role === base.role || conflict !== null} aria-busy={update.isPending}>
          {update.isPending ? "Saving…" : "Change role"}
        </button>
      </div>
    </form>
  );
}

export function PasswordForm({ user, onDone }: { user: User; onDone: () => void }) {
  const setPassword = useSetPassword();
  const [formError, setFormError] = useState<string | null>(null);
  const uid = useId();
  const ids = { password: `${uid}-password`, confirm: `${uid}-confirm` };
  const {
    register,
    handleSubmit,
    setError,
    formState: { errors, isSubmitting },
  } = useForm<PasswordValues, unknown, string>({ resolver: zodResolver(passwordSchema), mode: "onChange", defaultValues: { password: "", confirm: "" } });

  async function submit(password: string) {
    setFormError(null);
    try {
      await setPassword.mutateAsync({ username: user.username, password });
      toast.success("Password reset", { description: user.username });
      onDone();
    } catch (error) {
      setFormError(placeServerErrors(error, PASSWORD_FIELDS, setError, [[/^password\b/, "password"]]));
    }
  }

  const busy = isSubmitting || setPassword.isPending;
  return (
    <form className="form" noValidate onSubmit={handleSubmit(submit)} data-testid="password-form">
      <FormError message={formError} />
      <div className="form-grid">
        <Field id={ids.password} label="New password" hint={`At least ${PASSWORD_MIN} characters.`} error={errors.password?.message}>
          <input {...fieldA11y(ids.password, errors.password?.message, true)} {...register("password", { deps: ["confirm"] })} type="password" autoComplete="new-password" data-autofocus />
        </Field>
        <Field id={ids.confirm} label="New password again" error={errors.confirm?.message}>
          <input {...fieldA11y(ids.confirm, errors.confirm?.message, false)} {...register("confirm")} type="password" autoComplete="new-password" />
        </Field>
      </div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="button primary" disabled={busy} aria-busy={busy}>
          {busy ? "Saving…" : "Reset password"}
        </button>
      </div>
    </form>
  );
}
