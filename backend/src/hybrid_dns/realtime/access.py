"""Access re-check: an open socket keeps only what its user may still hold.

A socket is authorized once, at connect; the token says nothing about what happens afterwards.
Its user may be disabled, deleted or given a lower role, or its session signed out on another
instance while the broker was down. So every instance re-checks its open sockets against the
database every WEBSOCKET_ACCESS_RECHECK_INTERVAL seconds (one query for their users and one for
their sessions, however many sockets, and none while it has no socket), and at once for one user
when the change is made in this process (`Realtime.recheck_user`).

What is closed, and with which code (docs/protocol.md, "Access re-check"):

- the user was deleted or disabled: every socket, 4403 `user not allowed`, as at connect. It is
  terminal: reconnecting cannot help until an admin acts.
- the session was signed out: its sockets, 4001 `signed out`, as when the sign-out's event arrives.
- the role was lowered: the sockets the new role may not open, 4403 `role <role> may not open
  <type>`. The others stay open and filter account events by the new role from then on.

The realtime layer does not know how users are stored: the app hands it an `AccessCheck`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping

from ..auth.roles import Role
from .events import ROLE_CONNECTION_TYPES, ConnectionType
from .hub import Connection, Hub
from .protocol import CloseCode

log = logging.getLogger("hybrid_dns.realtime")


@dataclasses.dataclass(frozen=True, slots=True)
class AccessSnapshot:
    """What the database says now about the users and sessions that were asked about."""

    roles: Mapping[str, Role]  # every such user that exists and is active, with its role
    revoked: frozenset[str]  # every such session (jti) that was signed out


# (user ids, session ids) -> their snapshot.
AccessCheck = Callable[[frozenset[str], frozenset[str]], Awaitable[AccessSnapshot]]


def verdict(
    user_id: str, connection_type: ConnectionType, jti: str | None, snapshot: AccessSnapshot
) -> tuple[CloseCode, str] | None:
    """Why a socket must close now, as (code, reason); None when it may stay open."""
    role = snapshot.roles.get(user_id)
    if role is None:
        return CloseCode.FORBIDDEN, "user not allowed"
    if jti is not None and jti in snapshot.revoked:
        return CloseCode.SESSION_EXPIRED, "signed out"
    if connection_type not in ROLE_CONNECTION_TYPES[role]:
        return CloseCode.FORBIDDEN, f"role {role.value} may not open {connection_type.value}"
    return None


class AccessGuard:
    def __init__(
        self,
        hub: Hub,
        check: AccessCheck,
        interval: Callable[[], float],
        changed: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.hub = hub
        self.check = check
        # Told (user, None) of a user found changed (role, disabled, gone) and (user, session id) of a
        # session found signed out: what else caches access (the sockets' token check) follows.
        self.changed = changed
        self.interval = interval  # read before every pause: the setting may change while running
        self.sweeps = 0
        self.closed = 0
        self._task: asyncio.Task[None] | None = None
        # One sweep at a time, so that an older snapshot is never applied after a newer one.
        self._lock = asyncio.Lock()
        self._failing = False

    async def sweep(self, users: Collection[str] | None = None) -> int:
        """Re-check the open sockets (of `users` only, when given); returns how many were closed."""
        async with self._lock:
            hub = self.hub
            if users is None:
                conns = [c for c in hub.connections.values() if not c.closing]
            else:
                conns = [c for u in users for c in hub.by_user.get(u, ()) if not c.closing]
            if not conns:
                return 0
            snapshot = await self.check(
                frozenset(c.user_id for c in conns), frozenset(c.jti for c in conns if c.jti is not None)
            )
            self.sweeps += 1
            return self._apply(conns, snapshot)

    def _apply(self, conns: list[Connection], snapshot: AccessSnapshot) -> int:
        closed = 0
        for conn in conns:
            if conn.closing:
                continue  # closed meanwhile (by its client, an event, or overflow)
            decision = verdict(conn.user_id, conn.connection_type, conn.jti, snapshot)
            if self.changed is not None:
                if snapshot.roles.get(conn.user_id) != conn.role:  # another role, disabled or gone
                    self.changed(conn.user_id, None)
                if conn.jti is not None and conn.jti in snapshot.revoked:
                    self.changed(conn.user_id, conn.jti)
            if decision is None:
                conn.role = snapshot.roles[conn.user_id]  # a changed role filters what it sees from now on
                continue
            code, reason = decision
            log.info(
                "ws access re-check closes conn=%s user=%s type=%s code=%d reason=%r",
                conn.id,
                conn.user_id,
                conn.connection_type.value,
                code,
                reason,
            )
            conn.close(code, reason)
            closed += 1
        self.closed += closed
        return closed

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="access-recheck")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval())
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep going, say so once per outage
                if not self._failing:
                    log.warning(
                        "access re-check failed (%s): open sockets keep their access until it works again",
                        type(exc).__name__,
                    )
                self._failing = True
            else:
                if self._failing:
                    log.warning("access re-check works again")
                self._failing = False
