// The RPZ rules: a server-side search by domain, category and action (all in the URL, so a filtered
// list can be bookmarked and shared), paged; add, edit and delete a rule, import a list, delete the
// selected rules at once. Live through the cache: rules others add, change or remove appear here as
// it happens (a bulk change arrives as several events in one frame and refreshes the page once).
// Who else is on the page, or editing a rule, is shown (presence).

import { useNavigate, useSearch } from "@tanstack/react-router";
import { useCallback, useId, useState } from "react";
import { toast } from "sonner";
import { formatNumber, formatRelative, formatTimestamp } from "../../lib/format";
import { usePresence } from "../../lib/realtime/presence";
import { canWrite as roleCanWrite, useSession } from "../../lib/session";
import { StatusBadge, type Tone } from "../../lib/ui/Badges";
import { ConfirmDialog, Dialog } from "../../lib/ui/Dialog";
import { DomainName } from "../../lib/ui/DomainName";
import { PageHeader } from "../../lib/ui/Page";
import { PresenceBar } from "../../lib/ui/Presence";
import { EmptyState, ErrorState, ForbiddenState, LoadingState, errorMessage, isForbidden } from "../../lib/ui/StateViews";
import { EditIcon, PlusIcon, SearchIcon, TrashIcon, UploadIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { useUrlText } from "../../lib/useUrlText";
import { RPZ_ACTIONS, RULE_PAGE_SIZE, type RpzAction, type RpzRule } from "./api";
import { ImportForm } from "./ImportDialog";
import { useBulkDelete, useDeleteRule, useRules } from "./queries";
import { RuleForm } from "./RuleForm";
import { ACTION_LABELS, COMMON_CATEGORIES } from "./schemas";

const ACTION_TONES: Record<RpzAction, Tone> = { block: "bad", redirect: "info", passthru: "ok" };

type Editing = { kind: "add" } | { kind: "edit"; rule: RpzRule } | { kind: "import" } | null;

export function RpzPage() {
  const search = useSearch({ from: "/rpz" });
  const navigate = useNavigate({ from: "/rpz" });
  const session = useSession();
  const writable = roleCanWrite(session.role);
  const now = useNow(30_000);
  const page = search.page ?? 1;
  const q = search.q ?? "";
  const category = search.category ?? "";
  const [editing, setEditing] = useState<Editing>(null);
  const [deleting, setDeleting] = useState<RpzRule[] | null>(null);
  const [selected, setSelected] = useState<ReadonlyMap<number, RpzRule>>(new Map());
  const deleteRule = useDeleteRule();
  const bulkDelete = useBulkDelete();
  const uid = useId();

  // RPZ changes reach the security stream; a viewer's role does not hold it, so the list polls instead.
  const rules = useRules({ search: q.trim(), category, action: search.action ?? "", offset: (page - 1) * RULE_PAGE_SIZE }, writable);
  const members = usePresence("rpz", editing ? "editing" : "viewing", session.username);

  const setSearch = useCallback(
    (patch: { q?: string; category?: string; action?: RpzAction }) =>
      navigate({ search: (prev) => ({ ...prev, ...patch, page: undefined }), replace: true }),
    [navigate],
  );
  const [text, setText] = useUrlText(
    q,
    useCallback((next: string) => setSearch({ q: next.trim() ? next : undefined }), [setSearch]),
  );
  const [categoryText, setCategoryText] = useUrlText(
    category,
    useCallback((next: string) => setSearch({ category: next.trim() ? next.trim().toLowerCase() : undefined }), [setSearch]),
  );

  const data = rules.data;
  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / RULE_PAGE_SIZE));
  const filtered = Boolean(q || category || search.action);
  // The rule being edited as the page holds it now (a change someone else made shows in the form).
  const liveEdited = editing?.kind === "edit" ? data?.items.find((r) => r.id === editing.rule.id) : undefined;

  const toggle = (rule: RpzRule) =>
    setSelected((prev) => {
      const next = new Map(prev);
      if (next.has(rule.id)) next.delete(rule.id);
      else next.set(rule.id, rule);
      return next;
    });
  const shown = data?.items ?? [];
  const allShownSelected = shown.length > 0 && shown.every((r) => selected.has(r.id));

  let body;
  if (rules.isPending) body = <LoadingState label="Loading RPZ rules…" />;
  else if (rules.isError && isForbidden(rules.error)) body = <ForbiddenState title="Your role cannot list RPZ rules" />;
  else if (rules.isError && !data) {
    body = <ErrorState title="Could not load the RPZ rules" error={rules.error} onRetry={() => void rules.refetch()} retrying={rules.isFetching} />;
  } else if (data && data.items.length === 0) {
    body = filtered ? (
      <EmptyState title="No rule matches the filters">Try another part of the domain, or another category or action.</EmptyState>
    ) : (
      <EmptyState
        title="No RPZ rules yet"
        action={
          writable ? (
            <span className="state-actions">
              <button type="button" className="button primary" onClick={() => setEditing({ kind: "add" })}>
                <PlusIcon size={15} /> Add the first rule
              </button>
              <button type="button" className="button" onClick={() => setEditing({ kind: "import" })}>
                <UploadIcon size={15} /> Import a list
              </button>
            </span>
          ) : undefined
        }
      >
        {writable ? "A rule blocks, redirects or lets through one domain and its subdomains." : "Rules appear here once an operator adds them."}
      </EmptyState>
    );
  } else if (data) {
    body = (
      <>
        {rules.isError && (
          <p className="inline-error" role="alert">
            Could not refresh the list: {errorMessage(rules.error)}{" "}
            <button type="button" className="link-button" onClick={() => void rules.refetch()}>
              Retry
            </button>
          </p>
        )}
        <table className="data-table rules-table" data-testid="rules-table" aria-busy={rules.isFetching}>
          <caption className="sr-only">RPZ rules{filtered ? " matching the filters" : ""}</caption>
          <thead>
            <tr>
              {writable && (
                <th scope="col" className="check-col">
                  <input
                    type="checkbox"
                    aria-label={allShownSelected ? "Select no rule on this page" : "Select every rule on this page"}
                    checked={allShownSelected}
                    onChange={() =>
                      setSelected((prev) => {
                        const next = new Map(prev);
                        for (const r of shown) {
                          if (allShownSelected) next.delete(r.id);
                          else next.set(r.id, r);
                        }
                        return next;
                      })
                    }
                  />
                </th>
              )}
              <th scope="col">Domain</th>
              <th scope="col">Action</th>
              <th scope="col">Category</th>
              <th scope="col">Added</th>
              {writable && (
                <th scope="col" className="actions-col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {data.items.map((rule) => (
              <tr key={rule.id} data-testid="rule-row" data-domain={rule.domain} data-action={rule.action} aria-selected={writable ? selected.has(rule.id) : undefined}>
                {writable && (
                  <td className="check-col">
                    <input type="checkbox" aria-label={`Select ${rule.domain}`} checked={selected.has(rule.id)} onChange={() => toggle(rule)} />
                  </td>
                )}
                <th scope="row" className="mono value-cell" data-label="Domain">
                  <span>
                    <DomainName name={rule.domain} />
                  </span>
                </th>
                <td data-label="Action">
                  <span className="rule-action">
                    <StatusBadge tone={ACTION_TONES[rule.action]}>{ACTION_LABELS[rule.action]}</StatusBadge>
                    {rule.action === "redirect" && rule.redirect_to && (
                      <span className="mono small">
                        → <DomainName name={rule.redirect_to} />
                      </span>
                    )}
                  </span>
                </td>
                <td data-label="Category">
                  <span className="type-tag category-tag">{rule.category}</span>
                </td>
                <td data-label="Added" className="muted">
                  <time dateTime={rule.created_at} title={formatTimestamp(rule.created_at)}>
                    {formatRelative(rule.created_at, now)}
                  </time>
                </td>
                {writable && (
                  <td className="actions-col">
                    <button type="button" className="icon-button small" aria-label={`Edit rule ${rule.domain}`} onClick={() => setEditing({ kind: "edit", rule })}>
                      <EditIcon size={15} />
                    </button>
                    <button type="button" className="icon-button small danger" aria-label={`Delete rule ${rule.domain}`} onClick={() => setDeleting([rule])}>
                      <TrashIcon size={15} />
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {pages > 1 && (
          <nav className="pager" aria-label="Pages of rules">
            <button type="button" className="button small" disabled={page <= 1} onClick={() => void navigate({ search: (prev) => ({ ...prev, page: page - 1 > 1 ? page - 1 : undefined }) })}>
              Previous
            </button>
            <span className="muted small">
              Page {page} of {pages}
            </span>
            <button type="button" className="button small" disabled={page >= pages} onClick={() => void navigate({ search: (prev) => ({ ...prev, page: page + 1 }) })}>
              Next
            </button>
          </nav>
        )}
      </>
    );
  }

  const deletingOne = deleting !== null && deleting.length === 1 ? deleting[0] : undefined;
  const pendingDelete = deleteRule.isPending || bulkDelete.isPending;
  const deleteError = deleteRule.isError ? errorMessage(deleteRule.error) : bulkDelete.isError ? errorMessage(bulkDelete.error) : null;

  return (
    <div className="page">
      <PageHeader
        title="RPZ rules"
        subtitle={data ? `${formatNumber(total)} rule${total === 1 ? "" : "s"}${filtered ? " matching the filters" : ""}` : undefined}
        actions={
          writable ? (
            <>
              <button type="button" className="button" onClick={() => setEditing({ kind: "import" })}>
                <UploadIcon size={15} /> Import list
              </button>
              <button type="button" className="button primary" onClick={() => setEditing({ kind: "add" })}>
                <PlusIcon size={15} /> New rule
              </button>
            </>
          ) : undefined
        }
      />
      <PresenceBar members={members} self={session.username} what="the RPZ rules" />
      {!writable && (
        <p className="muted small page-note" data-testid="not-live-note">
          Your role does not receive live RPZ changes: this list refreshes every 30 seconds.
        </p>
      )}
      <section className="panel" aria-label="RPZ rules">
        <div className="toolbar">
          <div className="search-box">
            <label htmlFor={`${uid}-q`} className="sr-only">
              Search domains
            </label>
            <SearchIcon size={15} aria-hidden="true" />
            <input id={`${uid}-q`} type="search" placeholder="Search domains" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" spellCheck={false} />
          </div>
          <label htmlFor={`${uid}-category`} className="sr-only">
            Category
          </label>
          <input
            id={`${uid}-category`}
            className="select filter-input"
            type="search"
            placeholder="Any category"
            list={`${uid}-categories`}
            value={categoryText}
            onChange={(e) => setCategoryText(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
          <datalist id={`${uid}-categories`}>
            {COMMON_CATEGORIES.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
          <label htmlFor={`${uid}-action`} className="sr-only">
            Action
          </label>
          <select id={`${uid}-action`} className="select" value={search.action ?? ""} onChange={(e) => void setSearch({ action: (e.target.value || undefined) as RpzAction | undefined })}>
            <option value="">Any action</option>
            {RPZ_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {ACTION_LABELS[a]}
              </option>
            ))}
          </select>
        </div>
        {writable && selected.size > 0 && (
          <div className="selection-bar" role="region" aria-label="Selected rules">
            <span>{formatNumber(selected.size)} selected</span>
            <button type="button" className="button small danger" onClick={() => setDeleting([...selected.values()])}>
              <TrashIcon size={14} /> Delete selected
            </button>
            <button type="button" className="link-button" onClick={() => setSelected(new Map())}>
              Clear selection
            </button>
          </div>
        )}
        {body}
      </section>

      <Dialog
        open={editing?.kind === "add" || editing?.kind === "edit"}
        onClose={() => setEditing(null)}
        title={editing?.kind === "edit" ? `Edit rule ${editing.rule.domain}` : "New RPZ rule"}
        testId="rule-dialog"
      >
        <RuleForm rule={editing?.kind === "edit" ? editing.rule : null} live={liveEdited} onDone={() => setEditing(null)} />
      </Dialog>
      <Dialog open={editing?.kind === "import"} onClose={() => setEditing(null)} title="Import a list of domains" testId="import-dialog" wide>
        <ImportForm onDone={() => setEditing(null)} />
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={deletingOne ? `Delete the rule for ${deletingOne.domain}?` : `Delete ${formatNumber(deleting?.length ?? 0)} rules?`}
        confirmLabel={deletingOne ? "Delete rule" : `Delete ${formatNumber(deleting?.length ?? 0)} rules`}
        busy={pendingDelete}
        error={deleteError}
        onClose={() => {
          setDeleting(null);
          deleteRule.reset();
          bulkDelete.reset();
        }}
        onConfirm={() => {
          if (!deleting) return;
          const chosen = deleting;
          const done = (count: number) => {
            setDeleting(null);
            setSelected((prev) => {
              const next = new Map(prev);
              for (const r of chosen) next.delete(r.id);
              return next;
            });
            toast.success(count === 1 ? "Rule deleted" : `${formatNumber(count)} rules deleted`, { description: chosen.length === 1 ? chosen[0]?.domain : undefined });
          };
          if (chosen.length === 1 && chosen[0]) deleteRule.mutate(chosen[0], { onSuccess: () => done(1) });
          else bulkDelete.mutate(chosen.map((r) => r.domain), { onSuccess: (result) => done(result.removed) });
        }}
      >
        {deleting && deleting.length <= 5 ? (
          <ul className="plain-list mono">
            {deleting.map((r) => (
              <li key={r.id}>{r.domain}</li>
            ))}
          </ul>
        ) : (
          <p>{formatNumber(deleting?.length ?? 0)} rules will be removed from the RPZ zone.</p>
        )}
        <p className="muted small">Clients resolve these domains normally again once BIND reloads.</p>
      </ConfirmDialog>
    </div>
  );
}
