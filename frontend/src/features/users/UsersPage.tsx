// Users (admins only): a later part of the work builds this page in this folder.
import { ComingSoon } from "../../lib/ui/Page";

export function UsersPage() {
  return (
    <ComingSoon title="Users">
      Admins will manage users here: list, create, change a role, disable, reset a password. Until then, use <code>hybrid-dns create-user</code>,{" "}
      <code>set-role</code>, <code>disable</code> and <code>enable</code>.
    </ComingSoon>
  );
}
