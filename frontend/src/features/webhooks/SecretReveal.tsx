// A new signing secret, shown once (after a creation or a rotation) with a button to copy it: the
// server never shows it again. Receivers verify each delivery's `webhook-signature` with it.

import { useId, useState } from "react";
import { CheckIcon, KeyIcon } from "../../lib/ui/icons";

async function copyText(text: string, input: HTMLInputElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard access (an insecure origin, a denied permission): select it for Ctrl+C instead.
    input?.focus();
    input?.select();
    return false;
  }
}

export function SecretReveal({ secret, graceUntil, onDone }: { secret: string; graceUntil?: string | null; onDone: () => void }) {
  const id = useId();
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <div className="form" data-testid="secret-reveal">
      <p className="notice" role="status">
        <span>
          <KeyIcon size={14} /> Copy this secret now: it is not shown again. Give it to the receiver, which verifies each delivery&apos;s signature with it.
          {graceUntil ? ` The previous secret still signs, beside this one, until ${new Date(graceUntil).toLocaleString()}.` : ""}
        </span>
      </p>
      <div className="field">
        <label htmlFor={id}>Signing secret</label>
        <div className="secret-box">
          <input id={id} className="mono" readOnly value={secret} data-testid="webhook-secret" onFocus={(e) => e.currentTarget.select()} data-autofocus />
          <button
            type="button"
            className="button"
            onClick={() => void copyText(secret, document.getElementById(id) as HTMLInputElement | null).then(setCopied)}
            data-testid="copy-secret"
          >
            {copied ? <CheckIcon size={14} /> : null} {copied ? "Copied" : "Copy"}
          </button>
        </div>
        <p className="field-hint" aria-live="polite">
          {copied === false ? "The browser did not allow copying: the secret is selected, press Ctrl+C." : copied ? "Copied to the clipboard." : "\u00a0"}
        </p>
      </div>
      <div className="dialog-actions">
        <button type="button" className="button primary" onClick={onDone}>
          I have copied it
        </button>
      </div>
    </div>
  );
}
