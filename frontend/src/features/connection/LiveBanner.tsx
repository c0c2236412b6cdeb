// The strip under the header while the live connection is down: what is shown may be out of
// date, when the next try is, and a "Retry now". The connection never gives up by itself (it keeps
// probing at a slow pace), and this says so instead of leaving the page looking live.

import { STATE_TEXT, canRetry, retryText } from "../../lib/realtime/connectionText";
import { useConnection, useRealtime } from "../../lib/realtime/RealtimeProvider";
import { formatClock } from "../../lib/format";
import { RefreshIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";

export function LiveBanner() {
  const { main, live, downSince } = useConnection();
  const { reconnect } = useRealtime();
  const now = useNow(1000);
  if (live || downSince === null || main.state === "unauthorized") return null;
  const retry = retryText(main, now);
  const slow = main.state === "offline";
  return (
    <div className={`live-banner${slow ? " is-offline" : ""}`} role="status" data-testid="live-banner" data-state={main.state}>
      <p>
        <strong>{STATE_TEXT[main.state]}</strong> Live updates paused since {formatClock(new Date(downSince).toISOString())}: what is shown may be out of
        date{retry ? `; ${retry}` : ""}.
      </p>
      {canRetry(main) && (
        <button type="button" className="button small" onClick={reconnect}>
          <RefreshIcon size={14} /> Retry now
        </button>
      )}
    </div>
  );
}
