// Who else is here: the other users present in a topic (a zone, the RPZ rules, the forwarders, one
// forwarder), viewing or editing, as the server reports them. Said in words, not only by the avatars.

import type { PresenceMember } from "../../types/events";

export function PresenceBar({ members, self, what, testId = "presence" }: { members: PresenceMember[]; self: string; what: string; testId?: string }) {
  const others = members.filter((m) => m.user_id !== self);
  if (others.length === 0) return null;
  const editing = others.filter((m) => m.state === "editing");
  return (
    <div className="presence" data-testid={testId} aria-live="polite">
      <span className="presence-avatars" aria-hidden="true">
        {others.slice(0, 4).map((m) => (
          <span key={m.user_id} className={`avatar${m.state === "editing" ? " is-editing" : ""}`} title={`${m.user_id} (${m.state})`}>
            {m.user_id.slice(0, 1).toUpperCase()}
          </span>
        ))}
      </span>
      <span>
        {others.map((m, i) => (
          <span key={m.user_id} data-testid="presence-member" data-user={m.user_id} data-state={m.state}>
            {i > 0 ? ", " : ""}
            <strong>{m.user_id}</strong> {m.state === "editing" ? "is editing" : "is viewing"}
          </span>
        ))}
        {editing.length > 0 ? ": changes they save appear here at once." : ` ${what}.`}
      </span>
    </div>
  );
}
