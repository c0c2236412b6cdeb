// Live settings (admins only): a later part of the work builds this page in this folder.
import { ComingSoon } from "../../lib/ui/Page";

export function SettingsPage() {
  return (
    <ComingSoon title="Settings">
      The server's live settings, with their bounds, will be changed here; a change applies to every instance at once.
    </ComingSoon>
  );
}
