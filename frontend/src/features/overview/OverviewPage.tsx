// The overview: host and hub figures, recent DNS and security events, forwarder health, the
// connection, and (for admins) the demo buttons. Everything follows the event stream live.

import { useMemo } from "react";
import { useConnection } from "../../lib/realtime/RealtimeProvider";
import { useSession } from "../../lib/session";
import { PageHeader } from "../../lib/ui/Page";
import { GlobeIcon, ShieldIcon } from "../../lib/ui/icons";
import { EventType } from "../../types/events";
import { ConnectionCard } from "./ConnectionCard";
import { DemoPanel } from "./DemoPanel";
import { EventFeed } from "./EventFeed";
import { ForwarderHealth } from "./ForwarderHealth";
import { StatCards } from "./StatCards";
import { useRecentEvents } from "./queries";

export function OverviewPage() {
  const session = useSession();
  const { securityAccess } = useConnection();
  const recent = useRecentEvents();
  const events = recent.data?.events;
  // DNS activity = what the dns_management stream carries: zones, records, reloads and config changes
  const dnsEvents = useMemo(() => (events ?? []).filter((e) => e.category === "dns" || e.type === EventType.ConfigChange), [events]);
  const securityEvents = useMemo(() => (events ?? []).filter((e) => e.category === "security"), [events]);
  const feedState = {
    loading: recent.isPending,
    error: recent.isError ? recent.error : null,
    onRetry: () => void recent.refetch(),
    retrying: recent.isFetching,
  };

  return (
    <div className="page dashboard">
      <PageHeader title="Overview" subtitle="Live operations of this DNS server" />
      <StatCards />
      <div className="dash-grid">
        <div className="dash-main">
          <div className="feeds">
            <EventFeed
              title="DNS activity"
              icon={<GlobeIcon size={15} />}
              events={dnsEvents}
              {...feedState}
              listTestId="recent-dns-events"
              itemTestId="dns-event"
              empty="No DNS changes yet. Zone, record and reload events appear here as they happen."
            />
            <EventFeed
              title="Security"
              icon={<ShieldIcon size={15} />}
              events={securityEvents}
              {...feedState}
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
    </div>
  );
}
