// The bell in the header, its unread badge, and the notifications panel (a dialog: a dropdown on a
// wide screen, a sheet across the whole width on a phone, always fully on screen).

import { memo, useCallback, useEffect, useId, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { CATEGORY_LABELS, describeEvent, formatClock, formatRelative, formatUtc } from "../../lib/format";
import { SeverityBadge } from "../../lib/ui/Badges";
import { ErrorState, LoadingState } from "../../lib/ui/StateViews";
import { VirtualList } from "../../lib/ui/VirtualList";
import { ActivityIcon, BellIcon, CheckIcon, GlobeIcon, ServerIcon, ShieldIcon, UserIcon, XIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import type { StoredEvent } from "../../services/eventStore";
import type { Category } from "../../types/events";
import { useNotifications } from "./NotificationsProvider";

type CategoryFilter = "all" | Category;

const FILTERS: { value: CategoryFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "dns", label: "DNS" },
  { value: "security", label: "Security" },
  { value: "health", label: "Health" },
  { value: "system", label: "System" },
  { value: "user", label: "User" },
];

export function CategoryIcon({ category, size = 15 }: { category: Category; size?: number }) {
  switch (category) {
    case "dns":
      return <GlobeIcon size={size} />;
    case "security":
      return <ShieldIcon size={size} />;
    case "health":
      return <ActivityIcon size={size} />;
    case "system":
      return <ServerIcon size={size} />;
    default:
      return <UserIcon size={size} />;
  }
}

/** A notification's row: a fixed height (the list renders only the rows on screen); taller on a phone, where its details wrap. */
export const NOTIFICATION_ROW_HEIGHT = 86;
export const NOTIFICATION_ROW_HEIGHT_NARROW = 112;
const NARROW = "(max-width: 640px)";

let narrowQuery: MediaQueryList | null | undefined;
function narrowList(): MediaQueryList | null {
  if (narrowQuery === undefined) narrowQuery = typeof window !== "undefined" && window.matchMedia ? window.matchMedia(NARROW) : null;
  return narrowQuery;
}

function subscribeNarrow(notify: () => void): () => void {
  const query = narrowList();
  query?.addEventListener("change", notify);
  return () => query?.removeEventListener("change", notify);
}

function isNarrow(): boolean {
  return narrowList()?.matches ?? false;
}

const NotificationItem = memo(function NotificationItem({ event, now, onRead }: { event: StoredEvent; now: number; onRead: (id: string) => void }) {
  const { title, detail } = describeEvent(event);
  return (
    <>
      <span className={`cat-icon cat-${event.category}`} aria-hidden="true">
        <CategoryIcon category={event.category} />
      </span>
      <div className="notification-body">
        <div className="notification-title">
          {!event.read && <span className="unread-dot" role="img" aria-label="Unread" />}
          <span className="title-text">{title}</span>
        </div>
        {detail && (
          <div className="notification-detail" title={detail}>
            {detail}
          </div>
        )}
        <div className="notification-meta">
          <SeverityBadge severity={event.severity} />
          <span>{CATEGORY_LABELS[event.category]}</span>
          {event.actor && <span>by {event.actor}</span>}
          <time dateTime={event.timestamp} title={`${formatClock(event.timestamp)} · ${formatUtc(event.timestamp)}`}>
            {formatRelative(event.timestamp, now)}
          </time>
          {!event.read && (
            <button type="button" className="button ghost small mark-read" onClick={() => onRead(event.id)}>
              Mark as read
            </button>
          )}
        </div>
      </div>
    </>
  );
});

const notificationKey = (event: StoredEvent): string => event.id;
const notificationAttributes = (event: StoredEvent) => ({
  "data-testid": "notification-item",
  "data-event-id": event.id,
  "data-seq": event.seq,
  "data-type": event.type,
  "data-read": event.read ? "true" : "false",
});
const notificationClass = (event: StoredEvent): string => `notification ${event.read ? "is-read" : "is-unread"} sev-${event.severity}`;

export function NotificationsBell() {
  const {
    events,
    unreadCount,
    acknowledgeEvent,
    acknowledgeAll,
    loadOlder,
    hasMore,
    loadingOlder,
    olderError,
    clearAll,
    loading,
    loadError,
    refresh,
    open,
    setOpen,
  } = useNotifications();
  const [category, setCategory] = useState<CategoryFilter>("all");
  const [unreadOnly, setUnreadOnly] = useState(false);
  const now = useNow(15_000);
  const rootRef = useRef<HTMLDivElement>(null);
  const bellRef = useRef<HTMLButtonElement>(null);
  const panelRef = useRef<HTMLDivElement>(null);
  const unreadTextId = useId();
  // Older notifications load by themselves once the list is scrolled to its end (and by the button).
  const [scrolled, setScrolled] = useState(0);
  const onRead = useCallback((id: string) => void acknowledgeEvent(id), [acknowledgeEvent]);
  const onEndReached = useCallback(() => void loadOlder(), [loadOlder]);
  const narrow = useSyncExternalStore(subscribeNarrow, isNarrow, () => false);
  const titleId = useId();

  const shown = useMemo(
    () => events.filter((e) => (category === "all" || e.category === category) && (!unreadOnly || !e.read)),
    [events, category, unreadOnly],
  );

  // Escape closes and gives focus back to the bell; a click outside closes.
  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.preventDefault();
        setOpen(false);
        bellRef.current?.focus();
      }
    };
    const onPointer = (event: PointerEvent) => {
      const target = event.target;
      if (target instanceof Node && rootRef.current && !rootRef.current.contains(target)) {
        // toasts live outside the panel; clicking them must not close it
        if (target instanceof Element && target.closest("[data-sonner-toaster]")) return;
        setOpen(false);
      }
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("pointerdown", onPointer);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", onPointer);
    };
  }, [open, setOpen]);

  useEffect(() => {
    if (open) panelRef.current?.focus();
  }, [open]);

  return (
    <div className="notifications" ref={rootRef}>
      <button
        ref={bellRef}
        type="button"
        className={`icon-button bell${unreadCount > 0 ? " has-unread" : ""}`}
        aria-label="Notifications"
        aria-describedby={unreadTextId}
        aria-expanded={open}
        aria-haspopup="dialog"
        onClick={() => setOpen(!open)}
      >
        <BellIcon size={18} />
      </button>
      {/* Beside the button, not in it: the button's name stays "Notifications", the count is its description. */}
      {unreadCount > 0 && (
        <span className="unread-badge" data-testid="unread-badge" aria-hidden="true">
          {unreadCount > 999 ? "999+" : unreadCount}
        </span>
      )}
      <span id={unreadTextId} className="sr-only">
        {unreadCount === 1 ? "1 unread notification" : `${unreadCount} unread notifications`}
      </span>

      {open && (
        <div
          ref={panelRef}
          className="notification-panel"
          role="dialog"
          aria-label="Notifications"
          aria-describedby={titleId}
          tabIndex={-1}
        >
          <div className="np-head">
            <div>
              <h2>Notifications</h2>
              <p id={titleId} className="muted small">
                {unreadCount === 0 ? "You're all caught up" : `${unreadCount} unread`}
              </p>
            </div>
            <div className="np-head-actions">
              <button type="button" className="button ghost small" onClick={() => void acknowledgeAll()} disabled={unreadCount === 0}>
                <CheckIcon size={14} /> Mark all as read
              </button>
              <button
                type="button"
                className="icon-button small"
                aria-label="Close notifications"
                onClick={() => {
                  setOpen(false);
                  bellRef.current?.focus();
                }}
              >
                <XIcon size={16} />
              </button>
            </div>
          </div>
          <div className="np-filters">
            <div className="segmented" role="group" aria-label="Filter by category">
              {FILTERS.map((f) => (
                <button
                  key={f.value}
                  type="button"
                  className="seg"
                  aria-pressed={category === f.value}
                  onClick={() => setCategory(f.value)}
                >
                  {f.label}
                </button>
              ))}
            </div>
            <button type="button" className="seg toggle" aria-pressed={unreadOnly} onClick={() => setUnreadOnly(!unreadOnly)}>
              Unread
            </button>
          </div>
          {shown.length > 0 && (
            <VirtualList
              items={shown}
              getKey={notificationKey}
              rowHeight={narrow ? NOTIFICATION_ROW_HEIGHT_NARROW : NOTIFICATION_ROW_HEIGHT}
              label="Notification list"
              className="np-list"
              rowAttributes={notificationAttributes}
              rowClassName={notificationClass}
              renderRow={(event) => <NotificationItem event={event} now={now} onRead={onRead} />}
              onScrollOffset={setScrolled}
              onEndReached={scrolled > 0 && hasMore && !loadingOlder && olderError === null ? onEndReached : undefined}
              endThreshold={5}
            />
          )}
          {shown.length === 0 &&
            (loading ? (
              <LoadingState label="Loading notifications…" compact />
            ) : loadError !== null && events.length === 0 ? (
              <ErrorState title="Could not load the notifications" error={new Error(loadError)} onRetry={() => void refresh()} compact />
            ) : (
              <p className="empty">
                {unreadOnly ? "No unread notifications" : "No notifications"}
                {category !== "all" ? ` in ${CATEGORY_LABELS[category]}` : ""}.
              </p>
            ))}
          {olderError && (
            <p className="inline-error" role="alert">
              Could not load older notifications: {olderError}
            </p>
          )}
          <div className="np-foot">
            {hasMore ? (
              <button type="button" className="button small" onClick={() => void loadOlder()} disabled={loadingOlder} aria-busy={loadingOlder}>
                {loadingOlder ? "Loading…" : "Load older"}
              </button>
            ) : (
              <span className="muted small">{events.length > 0 ? "No older events" : ""}</span>
            )}
            <button
              type="button"
              className="link-button"
              onClick={() => void clearAll()}
              disabled={events.length === 0 && unreadCount === 0}
              title="Marks every notification read and empties this list"
            >
              Clear all
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
