import { useRealTimeEvents } from "../contexts/RealTimeEventContext";
import { ConnectionCard } from "./ConnectionStatus";
import { DemoPanel } from "./DemoPanel";
import { EventFeed } from "./EventFeed";
import { ForwarderHealth } from "./ForwarderHealth";
import { StatCards } from "./StatCards";
import { GlobeIcon, ShieldIcon } from "./icons";

export function RealTimeDashboard() {
  const { session, dnsEvents, securityEvents, securityAccess } = useRealTimeEvents();
  return (
    <main className="dashboard" id="main">
      <StatCards />
      <div className="dash-grid">
        <div className="dash-main">
          <div className="feeds">
            <EventFeed
              title="DNS activity"
              icon={<GlobeIcon size={15} />}
              events={dnsEvents}
              listTestId="recent-dns-events"
              itemTestId="dns-event"
              empty="No DNS changes yet. Zone, record and reload events appear here as they happen."
            />
            <EventFeed
              title="Security"
              icon={<ShieldIcon size={15} />}
              events={securityEvents}
              listTestId="recent-security-events"
              itemTestId="security-event"
              empty="No security events. Alerts, RPZ updates and detected threats appear here."
              unavailable={securityAccess.available ? null : securityAccess.reason}
              unavailableHint={
                session.role === "viewer"
                  ? "Security alerts, RPZ updates and detected threats are shown to operators and admins."
                  : "Check your role with an administrator, then sign in again."
              }
            />
          </div>
          <ForwarderHealth />
        </div>
        <aside className="dash-rail" aria-label="Connection and tools">
          <ConnectionCard />
          {session.role === "admin" && <DemoPanel />}
        </aside>
      </div>
    </main>
  );
}
