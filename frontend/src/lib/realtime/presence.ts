// Presence for a page: announces that this user is viewing or editing a topic ("zone:12", "rpz",
// "forwarder:3", "forwarders") and returns who is there, as the server pushes it (one entry per
// user, the strongest state). The socket is the connection type that carries the topic's changes
// (dns_management for zones and forwarders, security for RPZ); it is shared with the app's own
// socket of that type, or opened for the page (admins hold only the admin socket otherwise).
// The state is kept by the service and sent again after every reconnect.

import { useEffect, useState } from "react";
import type { ConnectionType, PresenceMember, PresenceState } from "../../types/events";
import { useWebSocketService } from "./useWebSocket";

export function usePresence(
  topic: string | null,
  state: PresenceState,
  userId: string,
  connectionType: ConnectionType = "dns_management",
): PresenceMember[] {
  const { service, onFrame } = useWebSocketService(topic === null ? null : connectionType, userId);
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
