// The 412 panel every edit form shows: someone else saved first; theirs and yours side by side, and
// the choice to apply mine over theirs or keep theirs. Focused when it appears (the form does that
// with `id`), announced as an alert.
import type { ReactNode } from "react";

export interface ConflictPanelProps {
  id: string;
  /** The sentence at the top, e.g. "alice changed this rule while you were editing it." */
  title: string;
  theirs: ReactNode;
  mine: ReactNode;
  /** Monospace descriptions (records, forwarders). */
  mono?: boolean;
  busy: boolean;
  onApplyMine: () => void;
  onKeepTheirs: () => void;
}

export function ConflictPanel({ id, title, theirs, mine, mono = false, busy, onApplyMine, onKeepTheirs }: ConflictPanelProps) {
  const cls = mono ? "mono" : undefined;
  return (
    <div className="conflict" role="alert" tabIndex={-1} id={id} data-testid="conflict">
      <p className="conflict-title">{title}</p>
      <dl className="conflict-diff">
        <div>
          <dt>Theirs (saved)</dt>
          <dd className={cls}>{theirs}</dd>
        </div>
        <div>
          <dt>Yours (not saved)</dt>
          <dd className={cls}>{mine}</dd>
        </div>
      </dl>
      <div className="conflict-actions">
        <button type="button" className="button primary small" disabled={busy} onClick={onApplyMine}>
          Apply mine over theirs
        </button>
        <button type="button" className="button small" onClick={onKeepTheirs}>
          Discard mine, keep theirs
        </button>
      </div>
    </div>
  );
}
