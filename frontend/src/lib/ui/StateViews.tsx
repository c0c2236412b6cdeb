// The four states of anything loaded from the server, each with its own look and words: loading,
// empty, error (the API's message and a retry) and forbidden (what the role does not allow). A
// failed request is never shown as an empty list.

import type { ReactNode } from "react";
import { ApiError } from "../../services/api";
import { AlertIcon, InboxIcon, LockIcon, RefreshIcon } from "./icons";

export function LoadingState({ label, compact = false }: { label: string; compact?: boolean }) {
  return (
    <div className={`state state-loading${compact ? " compact" : ""}`} role="status" data-testid="state-loading">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function EmptyState({
  title,
  children,
  action,
  compact = false,
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  compact?: boolean;
}) {
  return (
    <div className={`state state-empty${compact ? " compact" : ""}`} data-testid="state-empty">
      <span className="state-icon" aria-hidden="true">
        <InboxIcon size={18} />
      </span>
      <p className="state-title">{title}</p>
      {children && <div className="state-text">{children}</div>}
      {action}
    </div>
  );
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError || (error instanceof Error && error.message)) return error.message;
  return "Something went wrong.";
}

export function ErrorState({
  title,
  error,
  onRetry,
  retrying = false,
  compact = false,
}: {
  title: string;
  error: unknown;
  onRetry?: () => void;
  retrying?: boolean;
  compact?: boolean;
}) {
  return (
    <div className={`state state-error${compact ? " compact" : ""}`} role="alert" data-testid="state-error">
      <span className="state-icon" aria-hidden="true">
        <AlertIcon size={18} />
      </span>
      <p className="state-title">{title}</p>
      <p className="state-text" data-testid="state-error-message">
        {errorMessage(error)}
      </p>
      {onRetry && (
        <button type="button" className="button small" onClick={onRetry} disabled={retrying} aria-busy={retrying}>
          <RefreshIcon size={14} /> {retrying ? "Retrying…" : "Retry"}
        </button>
      )}
    </div>
  );
}

export function ForbiddenState({ title, children, compact = false }: { title: string; children?: ReactNode; compact?: boolean }) {
  return (
    <div className={`state state-forbidden${compact ? " compact" : ""}`} data-testid="state-forbidden">
      <span className="state-icon" aria-hidden="true">
        <LockIcon size={18} />
      </span>
      <p className="state-title">{title}</p>
      {children && <div className="state-text">{children}</div>}
    </div>
  );
}

export function isForbidden(error: unknown): boolean {
  return error instanceof ApiError && error.status === 403;
}
