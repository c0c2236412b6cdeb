// Presence for a page: announces that this user is viewing or editing a topic ("zone:12", "rpz",
// "forwarder:3", "forwarders") and returns who is there, as the server pushes it (one entry per
// user, the strongest state). The server takes presence on any socket, so it goes over the app's
// main one (admin for admins, dns_management otherwise): a page opens no socket of its own. The
// state is kept by the service and sent again after every reconnect.

import { useEffect, useState } from "react";
import type { ConnectionType, PresenceMember, PresenceState } from "../../types/events";
import { useRealtime } from "./RealtimeProvider";
import { useWebSocketService } from "./useWebSocket";

export function usePresence(topic: string | null, state: PresenceState, userId: string, connectionType?: ConnectionType): PresenceMember[] {
  const { mainType } = useRealtime();
  const { service, onFrame } = useWebSocketService(topic === null ? null : (connectionType ?? mainType), userId);
  const [present, setPresent] = useState<{ topic: string | null; members: PresenceMember[] }>({ topic, members: [] });

  useEffect(() => {
    if (topic === null) return undefined;
    return onFrame("presence", (frame) => {
      if (frame.topic === topic) setPresent({ topic, members: frame.members });
    });
  }, [onFrame, topic]);

  useEffect(() => {
    if (service !== null && topic !== null) service.setPresence(topic, state);
  }, [service, topic, state]);

  useEffect(() => {
    if (service === null || topic === null) return undefined;
    return () => service.setPresence(topic, null);
  }, [service, topic]);

  return present.topic === topic ? present.members : [];
}
