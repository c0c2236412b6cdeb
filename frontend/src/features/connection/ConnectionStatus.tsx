// The header's connection indicator: a dot and a word; pressed, it opens the details (stream,
// latency, attempts, when the next try is due, the last close) with a "Retry now".

import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { CONNECTION_LABELS, STATE_TEXT, STATE_TONE, canRetry, latencyText, nextTryText } from "../../lib/realtime/connectionText";
import { useConnection, useRealtime } from "../../lib/realtime/RealtimeProvider";
import { RefreshIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";

/** `figures`: the live figures, shown in the details where the header has no room for them (phones). */
export function ConnectionStatus({ figures }: { figures?: ReactNode }) {
  const { main } = useConnection();
  const { mainType, reconnect } = useRealtime();
  const [open, setOpen] = useState(false);
  const now = useNow(1000);
  const panelId = useId();
  const rootRef = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const state = main.state;
  const next = nextTryText(main, now);

  useEffect(() => {
    if (!open) return undefined;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        setOpen(false);
        buttonRef.current?.focus();
      }
    };
    const onPointer = (event: PointerEvent) => {
      if (event.target instanceof Node && rootRef.current && !rootRef.current.contains(event.target)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("pointerdown", onPointer);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", onPointer);
    };
  }, [open]);

  return (
    <div className="conn-status" ref={rootRef}>
      <button
        ref={buttonRef}
        type="button"
        className={`conn-pill tone-${STATE_TONE[state]}`}
        data-testid="connection-status"
        data-state={state}
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen(!open)}
      >
        <span className={`dot tone-${STATE_TONE[state]}${state === "connected" ? " pulse" : ""}`} aria-hidden="true" />
        <span className="conn-text">{STATE_TEXT[state]}</span>
        <span className="sr-only"> (connection details)</span>
      </button>
      {open && (
        <div className="conn-popover" id={panelId} role="region" aria-label="Connection details">
          {figures}
          <dl className="kv">
            <div>
              <dt>Stream</dt>
              <dd>{CONNECTION_LABELS[mainType]}</dd>
            </div>
            <div>
              <dt>Latency</dt>
              <dd>{latencyText(main.latencyMs)}</dd>
            </div>
            {main.reconnectAttempts > 0 && (
              <div>
                <dt>Attempt</dt>
                <dd>{main.reconnectAttempts}</dd>
              </div>
            )}
            {next && (
              <div>
                <dt>Next try</dt>
                <dd>{next}</dd>
              </div>
            )}
            {main.closeCode !== null && state !== "connected" && (
              <div className="kv-wide">
                <dt>Last close</dt>
                <dd>
                  <span className="mono">{main.closeCode}</span>
                  {main.closeReason ? ` ${main.closeReason}` : ""}
                </dd>
              </div>
            )}
          </dl>
          {canRetry(main) && (
            <button type="button" className="button primary small block" onClick={reconnect}>
              <RefreshIcon size={14} /> Retry now
            </button>
          )}
        </div>
      )}
    </div>
  );
}
