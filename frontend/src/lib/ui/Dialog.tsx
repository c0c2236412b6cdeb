// Modal dialogs on the native <dialog> element: the browser traps focus inside, makes the page
// behind inert, closes on Escape (the `cancel` event) and gives focus back to what opened it.
// The content is mounted only while open, so every opening starts from fresh form state; the focus
// starts on the element marked data-autofocus, else the first field, else the close button.

import { useEffect, useId, useRef, type ReactNode } from "react";
import { XIcon } from "./icons";

export interface DialogProps {
  open: boolean;
  onClose: () => void;
  title: string;
  description?: ReactNode;
  children: ReactNode;
  /** "side" slides in from the left edge (the navigation on a phone). */
  variant?: "center" | "side";
  wide?: boolean;
  testId?: string;
}

export function Dialog({ open, onClose, title, description, children, variant = "center", wide = false, testId }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();

  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    if (open && !el.open) {
      if (typeof el.showModal === "function") el.showModal();
      else el.setAttribute("open", "");
      // showModal() focuses the first focusable element (the close button); a form starts at its first field.
      const first = el.querySelector<HTMLElement>("[data-autofocus], .dialog-content input, .dialog-content select, .dialog-content textarea");
      first?.focus();
    } else if (!open && el.open) {
      el.close();
    }
  }, [open]);

  return (
    <dialog
      ref={ref}
      className={`dialog dialog-${variant}${wide ? " dialog-wide" : ""}`}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      data-testid={testId}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      {open && (
        <div className="dialog-inner">
          <header className="dialog-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" className="icon-button small" aria-label="Close" onClick={onClose}>
              <XIcon size={16} />
            </button>
          </header>
          {description && (
            <div id={descriptionId} className="dialog-description">
              {description}
            </div>
          )}
          <div className="dialog-content">{children}</div>
        </div>
      )}
    </dialog>
  );
}

export interface ConfirmDialogProps {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onClose: () => void;
}

/** "Delete zone example.com?": a destructive action asks first, and says what failed if it did. */
export function ConfirmDialog({ open, title, children, confirmLabel, busy = false, error = null, onConfirm, onClose }: ConfirmDialogProps) {
  return (
    <Dialog open={open} onClose={onClose} title={title} testId="confirm-dialog">
      <div className="confirm-text">{children}</div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="button danger" onClick={onConfirm} disabled={busy} aria-busy={busy}>
          {busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
