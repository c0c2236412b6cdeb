// The users (admins): who may sign in, with which role; create a user, change a role, disable or
// enable an account, reset a password. Disabling a user or lowering a role ends what the account may
// no longer hold (the server closes those sockets). Live: users other admins create or change appear
// here as it happens. An admin cannot disable their own account here.

import { useState } from "react";
import { toast } from "sonner";
import { formatRelative, formatTimestamp } from "../../lib/format";
import { useSession } from "../../lib/session";
import { StatusBadge } from "../../lib/ui/Badges";
import { ConfirmDialog, Dialog } from "../../lib/ui/Dialog";
import { PageHeader } from "../../lib/ui/Page";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { KeyIcon, PlusIcon, PowerIcon, UsersIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { ApiError, conflictCurrent } from "../../services/api";
import type { User } from "./api";
import { useAcceptUser, useUpdateUser, useUsers } from "./queries";
import { CreateUserForm, PasswordForm, RoleForm } from "./UserForms";

type Dialogs = { kind: "create" } | { kind: "role"; user: User } | { kind: "password"; user: User } | null;

export function UsersPage() {
  const session = useSession();
  const users = useUsers();
  const update = useUpdateUser();
  const accept = useAcceptUser();
  const now = useNow(30_000);
  const [dialog, setDialog] = useState<Dialogs>(null);
  const [disabling, setDisabling] = useState<User | null>(null);
  const [busyUser, setBusyUser] = useState<string | null>(null);
  const data = users.data;

  async function setDisabled(user: User, disabled: boolean) {
    setBusyUser(user.username);
    try {
      await update.mutateAsync({ username: user.username, body: { disabled }, version: user.version });
      toast.success(disabled ? "User disabled" : "User enabled", { description: user.username });
      setDisabling(null);
    } catch (error) {
      const current = conflictCurrent<User>(error);
      if (current !== null) {
        accept(current);
        setDisabling(null);
        toast.error(`Someone else changed ${user.username} meanwhile`, { description: "The list shows their change; choose again." });
      } else if (!disabled) {
        toast.error(`Could not enable ${user.username}`, { description: errorMessage(error) });
      } else {
        throw error;
      }
    } finally {
      setBusyUser(null);
    }
  }

  let body;
  if (users.isPending) body = <LoadingState label="Loading users…" />;
  else if (users.isError && isForbidden(users.error)) body = <ForbiddenState title="Only admins can see users" />;
  else if (users.isError && !data) {
    const missing = users.error instanceof ApiError && (users.error.notFound || users.error.status === 405);
    body = (
      <ErrorState
        title={missing ? "This server does not offer user management yet" : "Could not load the users"}
        error={missing ? new Error("Its API has no /api/users: manage users with the hybrid-dns command (create-user, set-role, disable, enable).") : users.error}
        onRetry={() => void users.refetch()}
        retrying={users.isFetching}
      />
    );
  } else if (data && data.items.length === 0) {
    body = <EmptyState title="No users">Create the first one with the button above.</EmptyState>;
  } else if (data) {
    body = (
      <table className="data-table users-table" data-testid="users-table" aria-busy={users.isFetching}>
        <caption className="sr-only">Users</caption>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Role</th>
            <th scope="col">Status</th>
            <th scope="col">Last sign-in</th>
            <th scope="col">Created</th>
            <th scope="col" className="actions-col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {data.items.map((user) => {
            const self = user.username === session.username;
            return (
              <tr key={user.username} data-testid="user-row" data-user={user.username} data-role={user.role} data-disabled={user.disabled}>
                <th scope="row" data-label="User">
                  <span>
                    {user.username}
                    {self && <span className="muted small"> (you)</span>}
                  </span>
                </th>
                <td data-label="Role">
                  <span className="role-tag">{user.role}</span>
                </td>
                <td data-label="Status">{user.disabled ? <StatusBadge tone="bad">Disabled</StatusBadge> : <StatusBadge tone="ok">Active</StatusBadge>}</td>
                <td data-label="Last sign-in" className="muted">
                  {user.last_login_at ? (
                    <time dateTime={user.last_login_at} title={formatTimestamp(user.last_login_at)}>
                      {formatRelative(user.last_login_at, now)}
                    </time>
                  ) : (
                    "never"
                  )}
                </td>
                <td data-label="Created" className="muted">
                  <time dateTime={user.created_at} title={formatTimestamp(user.created_at)}>
                    {formatRelative(user.created_at, now)}
                  </time>
                </td>
                <td className="actions-col">
                  <button type="button" className="button small" onClick={() => setDialog({ kind: "role", user })} aria-label={`Change the role of ${user.username}`}>
                    <UsersIcon size={14} /> Role
                  </button>
                  <button type="button" className="icon-button small" onClick={() => setDialog({ kind: "password", user })} aria-label={`Reset the password of ${user.username}`} title="Reset password">
                    <KeyIcon size={15} />
                  </button>
                  {!self &&
                    (user.disabled ? (
                      <button type="button" className="button small" disabled={busyUser === user.username} onClick={() => void setDisabled(user, false)} aria-label={`Enable ${user.username}`}>
                        <PowerIcon size={14} /> Enable
                      </button>
                    ) : (
                      <button type="button" className="button small danger-outline" onClick={() => setDisabling(user)} aria-label={`Disable ${user.username}`}>
                        <PowerIcon size={14} /> Disable
                      </button>
                    ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    );
  }

  const liveUser = (username: string) => data?.items.find((u) => u.username === username) ?? null;

  return (
    <div className="page">
      <PageHeader
        title="Users"
        subtitle={data ? `${data.total} user${data.total === 1 ? "" : "s"}` : undefined}
        actions={
          <button type="button" className="button primary" onClick={() => setDialog({ kind: "create" })}>
            <PlusIcon size={15} /> New user
          </button>
        }
      />
      <section className="panel" aria-label="Users">
        {body}
      </section>
      <Dialog open={dialog?.kind === "create"} onClose={() => setDialog(null)} title="New user" testId="user-create-dialog">
        <CreateUserForm onDone={() => setDialog(null)} />
      </Dialog>
      <Dialog open={dialog?.kind === "role"} onClose={() => setDialog(null)} title={dialog?.kind === "role" ? `Role of ${dialog.user.username}` : "Role"} testId="role-dialog">
        {dialog?.kind === "role" && (
          <RoleForm user={dialog.user} live={liveUser(dialog.user.username)} self={dialog.user.username === session.username} onDone={() => setDialog(null)} />
        )}
      </Dialog>
      <Dialog
        open={dialog?.kind === "password"}
        onClose={() => setDialog(null)}
        title={dialog?.kind === "password" ? `New password for ${dialog.user.username}` : "New password"}
        testId="password-dialog"
      >
        {dialog?.kind === "password" && <PasswordForm user={dialog.user} onDone={() => setDialog(null)} />}
      </Dialog>
      <ConfirmDialog
        open={disabling !== null}
        title={`Disable ${disabling?.username ?? ""}?`}
        confirmLabel="Disable user"
        busy={busyUser !== null}
        error={update.isError ? errorMessage(update.error) : null}
        onClose={() => {
          setDisabling(null);
          update.reset();
        }}
        onConfirm={() => {
          if (disabling) void setDisabled(disabling, true).catch(() => undefined);
        }}
      >
        <p>
          <strong>{disabling?.username}</strong> can no longer sign in; their sessions and live connections end. You can enable the account again later.
        </p>
      </ConfirmDialog>
    </div>
  );
}
