// The mark on a figure that is not live: the connection is down, so it shows what was known when
// it dropped. Said in words (and a title with the time), not by colour alone.

import { formatClock } from "../format";
import { ClockIcon } from "./icons";

export function StaleMark({ since, label = "stale" }: { since: number | null; label?: string }) {
  const at = since === null ? "" : formatClock(new Date(since).toISOString());
  const title = at ? `Not live: last updated before ${at}, when the connection dropped` : "Not live: the connection is down";
  return (
    <span className="stale-mark" data-testid="stale-mark" title={title}>
      <ClockIcon size={11} />
      <span>{label}</span>
      <span className="sr-only">{title}</span>
    </span>
  );
}
