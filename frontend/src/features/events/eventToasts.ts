// Toasts for the events that deserve one, without flooding: a burst becomes one summary toast.
import { toast } from "sonner";
import { EventType, NOT_NOTIFICATIONS, type ServerEvent } from "../../types/events";
import { describeEvent } from "../../lib/format";

/** DNS events worth a toast even at info severity. */
const KEY_DNS_EVENTS: ReadonlySet<EventType> = new Set([EventType.ZoneCreated, EventType.ZoneDeleted, EventType.BindReload]);

export function isToastWorthy(event: ServerEvent): boolean {
  if (NOT_NOTIFICATIONS.has(event.type)) return false;
  return event.severity !== "info" || KEY_DNS_EVENTS.has(event.type);
}

export const BURST_LIMIT = 5;
export const BURST_WINDOW_MS = 1000;
export const SUMMARY_TOAST_ID = "event-burst-summary";

export interface ToastSink {
  show(event: ServerEvent): string | number;
  summary(count: number): void;
  dismiss(id: string | number): void;
}

export const sonnerSink = (onView?: () => void): ToastSink => ({
  show(event) {
    const { title, detail } = describeEvent(event);
    const options = {
      description: detail || undefined,
      duration: event.severity === "critical" ? 10_000 : 5_000,
    };
    if (event.type === EventType.BindReload && event.data && (event.data as Record<string, unknown>)["success"] !== false) {
      return toast.success(title, options);
    }
    switch (event.severity) {
      case "critical":
      case "error":
        return toast.error(title, options);
      case "warning":
        return toast.warning(title, options);
      default:
        return toast.info(title, options);
    }
  },
  summary(count) {
    toast.info(`${count} new events`, {
      id: SUMMARY_TOAST_ID,
      description: "A burst of events arrived. Open the notifications to review them.",
      duration: 6_000,
      action: onView ? { label: "View", onClick: onView } : undefined,
    });
  },
  dismiss(id) {
    toast.dismiss(id);
  },
});

/** During a burst the summary toast shows the count as of at most this long ago (each update re-lays out the toasts). */
export const SUMMARY_INTERVAL_MS = 400;

/**
 * Turns a stream of events into toasts without flooding: up to BURST_LIMIT individual toasts per
 * BURST_WINDOW_MS; beyond that the individual ones are replaced by a single "N new events" summary,
 * which keeps counting (one toast, updated in place, at most every SUMMARY_INTERVAL_MS) for as long
 * as the burst lasts.
 */
export class ToastCoalescer {
  private recent: { at: number; id: string | number }[] = [];
  private burstCount = 0;
  private burstUntil = 0;
  private summaryShownAt = Number.NEGATIVE_INFINITY;
  private summaryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly sink: ToastSink,
    private readonly now: () => number = () => Date.now(),
  ) {}

  push(events: ServerEvent[]): void {
    const worthy = events.filter(isToastWorthy);
    if (worthy.length === 0) return;
    const now = this.now();
    this.recent = this.recent.filter((r) => now - r.at < BURST_WINDOW_MS);

    if (now < this.burstUntil) {
      this.burstCount += worthy.length;
      this.burstUntil = now + BURST_WINDOW_MS;
      this.showSummary(now);
      return;
    }
    if (this.recent.length + worthy.length > BURST_LIMIT) {
      this.burstCount = this.recent.length + worthy.length;
      this.burstUntil = now + BURST_WINDOW_MS;
      for (const r of this.recent) this.sink.dismiss(r.id);
      this.recent = [];
      this.showSummary(now);
      return;
    }
    for (const event of worthy) this.recent.push({ at: now, id: this.sink.show(event) });
  }

  /** The summary now, or (within SUMMARY_INTERVAL_MS of the last one) once that interval is over, with the count then. */
  private showSummary(now: number): void {
    if (this.summaryTimer !== null) return;
    const wait = this.summaryShownAt + SUMMARY_INTERVAL_MS - now;
    if (wait <= 0) {
      this.summaryShownAt = now;
      this.sink.summary(this.burstCount);
      return;
    }
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      this.summaryShownAt = this.now();
      this.sink.summary(this.burstCount);
    }, wait);
  }
}
