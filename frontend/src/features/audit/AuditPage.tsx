// The audit log (admins only): a later part of the work builds this page in this folder.
import { ComingSoon } from "../../lib/ui/Page";

export function AuditPage() {
  return (
    <ComingSoon title="Audit log">
      Every change and sign-in, paged and filtered by actor, action and time, will be readable here.
    </ComingSoon>
  );
}
