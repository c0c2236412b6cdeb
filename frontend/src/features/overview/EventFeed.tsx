// A dense, newest-first list of recent events of one kind, with its four states: loading, empty,
// error (the request's message and a retry: a failed request never reads "no events") and
// forbidden (what the role cannot see, and why).

import type { ReactNode } from "react";
import { describeEvent, formatClock } from "../../lib/format";
import { SeverityBadge } from "../../lib/ui/Badges";
import { ErrorState, LoadingState } from "../../lib/ui/StateViews";
import { LockIcon } from "../../lib/ui/icons";
import type { StoredEvent } from "../../services/eventStore";
import type { ServerEvent } from "../../types/events";

export interface EventFeedProps {
  title: string;
  icon: ReactNode;
  events: (ServerEvent | StoredEvent)[];
  /** The events are not known yet, or could not be loaded. */
  loading?: boolean;
  error?: unknown;
  onRetry?: () => void;
  retrying?: boolean;
  listTestId: string;
  itemTestId: string;
  empty: string;
  limit?: number;
  /** Shown instead of the list when the stream is not available (role, refusal). */
  unavailable?: string | null;
  unavailableHint?: string;
}

function isUnread(event: ServerEvent | StoredEvent): boolean {
  return "read" in event && event.read === false;
}

export function EventFeed({
  title,
  icon,
  events,
  loading = false,
  error = null,
  onRetry,
  retrying = false,
  listTestId,
  itemTestId,
  empty,
  limit = 40,
  unavailable,
  unavailableHint,
}: EventFeedProps) {
  const failed = error !== null && error !== undefined;
  const shown = events.slice(0, limit);
  const headingId = `${listTestId}-title`;
  return (
    <section className="panel feed" aria-labelledby={headingId}>
      <header className="panel-head">
        <h2 id={headingId}>
          <span className="panel-icon" aria-hidden="true">
            {icon}
          </span>
          {title}
        </h2>
        {!unavailable && !loading && !failed && <span className="muted small">{events.length === 0 ? "No events" : `${events.length} recent`}</span>}
      </header>
      {unavailable ? (
        <div className="unavailable-box">
          <span className="unavailable-icon" aria-hidden="true">
            <LockIcon size={16} />
          </span>
          <div className="unavailable" data-testid="security-unavailable">
            {unavailable}
          </div>
          {unavailableHint && <p className="muted small">{unavailableHint}</p>}
        </div>
      ) : loading ? (
        <LoadingState label={`Loading ${title.toLowerCase()}…`} />
      ) : failed && events.length === 0 ? (
        <ErrorState title={`Could not load ${title.toLowerCase()}`} error={error} onRetry={onRetry} retrying={retrying} />
      ) : (
        <div className="feed-scroll" tabIndex={0} role="region" aria-label={`${title}: recent events`}>
          <ol className="feed-list" data-testid={listTestId}>
            {shown.map((event) => {
              const { title: label, detail } = describeEvent(event);
              return (
                <li
                  key={event.id}
                  className={`feed-row sev-${event.severity}${isUnread(event) ? " is-unread" : ""}`}
                  data-testid={itemTestId}
                  data-seq={event.seq}
                  data-type={event.type}
                >
                  <time className="feed-time mono" dateTime={event.timestamp}>
                    {formatClock(event.timestamp)}
                  </time>
                  <span className="feed-main">
                    <span className="feed-line">
                      <SeverityBadge severity={event.severity} />
                      <span className="feed-title">{label}</span>
                    </span>
                    {detail && <span className="feed-detail" title={detail}>{detail}</span>}
                  </span>
                  <span className="feed-actor muted">{event.actor ?? "system"}</span>
                </li>
              );
            })}
          </ol>
          {shown.length === 0 && <p className="empty" data-testid="state-empty">{empty}</p>}
        </div>
      )}
    </section>
  );
}
