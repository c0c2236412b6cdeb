// Admin-only buttons that call the demo endpoints, to watch the pipeline end to end.

import { useState } from "react";
import { toast } from "sonner";
import { LayersIcon, PlayIcon, ShieldIcon } from "../../lib/ui/icons";
import { EventType } from "../../types/events";
import { demoEmitSecurityEvent, demoSimulateWorkflow, demoTestAllEvents } from "./api";

type Action = "workflow" | "security" | "all";

const ALERTS = [
  { alert: "query_flood", message: "Query rate from 198.51.100.23 is 40× its baseline" },
  { alert: "nxdomain_spike", message: "NXDOMAIN responses up 380% in the last minute" },
  { alert: "zone_transfer_denied", message: "Refused AXFR of corp.example from 203.0.113.9" },
  { alert: "tunnel_suspected", message: "Long TXT queries suggest DNS tunnelling from 192.0.2.77" },
];

function summary(result: unknown): string {
  if (Array.isArray(result)) {
    const seqs = result
      .map((r: unknown) => (typeof r === "object" && r !== null ? (r as Record<string, unknown>)["seq"] : undefined))
      .filter((s): s is number => typeof s === "number");
    const range = seqs.length ? ` (seq ${Math.min(...seqs)}–${Math.max(...seqs)})` : "";
    return `Emitted ${result.length} event${result.length === 1 ? "" : "s"}${range}`;
  }
  if (typeof result === "object" && result !== null) {
    const seq = (result as Record<string, unknown>)["seq"];
    return `Emitted 1 event${typeof seq === "number" ? ` (seq ${seq})` : ""}`;
  }
  return "Done";
}

export function DemoPanel() {
  const [busy, setBusy] = useState<Record<Action, number>>({ workflow: 0, security: 0, all: 0 });
  const [last, setLast] = useState<string>("");

  async function run(action: Action, call: () => Promise<unknown>) {
    setBusy((b) => ({ ...b, [action]: b[action] + 1 }));
    try {
      setLast(summary(await call()));
    } catch (e) {
      const message = e instanceof Error ? e.message : "Request failed";
      setLast(`Failed: ${message}`);
      toast.error("Demo request failed", { description: message });
    } finally {
      setBusy((b) => ({ ...b, [action]: b[action] - 1 }));
    }
  }

  return (
    <section className="panel demo" aria-labelledby="demo-title">
      <header className="panel-head">
        <h2 id="demo-title">Demo</h2>
        <span className="muted small">Admin only</span>
      </header>
      <p className="muted small">Emit sample events through the real pipeline to see every view update live.</p>
      <div className="demo-actions">
        <button
          type="button"
          className="button"
          aria-busy={busy.workflow > 0}
          onClick={() =>
            void run("workflow", () =>
              demoSimulateWorkflow({
                zone_name: `app${Math.floor(Math.random() * 900 + 100)}.example.com`,
                record_count: 3,
                delay_ms: 300,
              }),
            )
          }
        >
          <PlayIcon size={14} /> Run DNS workflow
        </button>
        <button
          type="button"
          className="button"
          aria-busy={busy.security > 0}
          onClick={() => {
            const sample = ALERTS[Math.floor(Math.random() * ALERTS.length)] ?? ALERTS[0]!;
            void run("security", () =>
              demoEmitSecurityEvent({ event_type: EventType.SecurityAlert, data: { ...sample }, severity: "warning" }),
            );
          }}
        >
          <ShieldIcon size={14} /> Emit security alert
        </button>
        <button type="button" className="button" aria-busy={busy.all > 0} onClick={() => void run("all", demoTestAllEvents)}>
          <LayersIcon size={14} /> Test all events
        </button>
      </div>
      <p className="demo-result small" role="status" aria-live="polite">
        {busy.workflow + busy.security + busy.all > 0 ? "Working…" : last}
      </p>
    </section>
  );
}
