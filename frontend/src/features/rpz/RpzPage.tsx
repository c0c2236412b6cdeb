// RPZ security rules: a later part of the work builds this page in this folder.
import { ComingSoon } from "../../lib/ui/Page";

export function RpzPage() {
  return (
    <ComingSoon title="RPZ rules">
      Response Policy Zone rules will be managed here: search and filter by category, add, edit and delete rules, import a list and delete in bulk, live as
      others change them.
    </ComingSoon>
  );
}
