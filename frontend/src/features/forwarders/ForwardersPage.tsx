// Conditional forwarders: a later part of the work builds this page in this folder.
import { ComingSoon } from "../../lib/ui/Page";

export function ForwardersPage() {
  return (
    <ComingSoon title="Forwarders">
      Conditional forwarders will be managed here with their live health: add, edit and delete them, enable and disable them. Their health is on the
      Overview meanwhile.
    </ComingSoon>
  );
}
