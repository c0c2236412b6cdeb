"""What floods leave behind, bounded: security alerts for flooding users, audit rows for refused sockets.

A flood repeats one thing many times a second. Reporting each repeat would drown the security view,
evict real events from the history that resume depends on, and fill the audit table at the
attacker's pace. So repeats of one key are counted within a window: the first is reported at once,
the rest as one count when the window ends, and a key that keeps repeating is reported once per
window. The number of keys is capped; past the cap, newcomers share one overflow key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from typing import Any, Generic, TypeVar

from ..limits import LogThrottle
from .events import ConnectionType, EventType, Severity
from .protocol import FLOODING, PING_FLOODING
from .service import WebSocketEventService

log = logging.getLogger("hybrid_dns.realtime")
_errors = LogThrottle(log, rate=0.2, burst=5)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ALERT_KEYS = 100  # (user, cause) pairs counted apart; a flood of more users shares one alert
REFUSAL_KEYS = 5000  # (address, code, reason, actor) counted apart
MAX_PENDING_ROWS = 10_000  # audit rows waiting for the writer (the database is down or slow)

Spawn = Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]
# Writes audit rows (action, outcome, actor, source, target, details) in one transaction: the app's
# audit log, which the real-time layer knows only through this.
AuditWriter = Callable[[Sequence[dict[str, Any]]], Awaitable[None]]


@dataclasses.dataclass(slots=True)
class _Window(Generic[V]):
    ends: float
    repeats: int
    info: V  # what the window's first hit said


@dataclasses.dataclass(frozen=True, slots=True)
class Repeats(Generic[K, V]):
    key: K
    count: int
    info: V


class WindowCounter(Generic[K, V]):
    """Counts repeats of keys in windows (sans I/O: the caller passes the time).

    The windows are kept in the order they end (every window is equally long and starts now), so
    finding the ended ones costs nothing for those that have not.
    """

    def __init__(self, window: float, max_keys: int, overflow: K) -> None:
        self.window = window
        self.max_keys = max_keys
        self.overflow = overflow
        self._windows: dict[K, _Window[V]] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, key: K, info: V, now: float) -> bool:
        """Count one occurrence; True when it is to be reported now (the first of a window)."""
        windows = self._windows
        window = windows.get(key)
        if window is None and len(windows) >= self.max_keys:
            key = self.overflow
            window = windows.get(key)
        if window is not None:
            if now < window.ends or window.repeats:
                window.repeats += 1  # an ended window with repeats is about to be reported: join it
                return False
            del windows[key]  # ended quietly and not yet collected: this one starts afresh
        windows[key] = _Window(now + self.window, 0, info)
        return True

    def next_due(self) -> float | None:
        for window in self._windows.values():
            return window.ends
        return None

    def due(self, now: float) -> list[Repeats[K, V]]:
        """The repeats of every window that has ended. A key that repeated is counted on for another
        window (a flood that goes on is reported once per window); a quiet one is forgotten."""
        out: list[Repeats[K, V]] = []
        windows = self._windows
        while windows:
            key, window = next(iter(windows.items()))
            if window.ends > now:
                break
            del windows[key]
            if window.repeats:
                out.append(Repeats(key, window.repeats, window.info))
                windows[key] = _Window(now + self.window, 0, window.info)
        return out


class _Windowed(Generic[K, V]):
    """A WindowCounter with the one task that reports each window's repeats when it ends."""

    def __init__(self, spawn: Spawn, window: float, max_keys: int, overflow: K) -> None:
        self.spawn = spawn
        self.counter: WindowCounter[K, V] = WindowCounter(window, max_keys, overflow)
        self._task: asyncio.Task[Any] | None = None

    @property
    def window(self) -> float:
        return self.counter.window

    def _hit(self, key: K, info: V) -> bool:
        first = self.counter.hit(key, info, time.monotonic())
        if self._task is None or self._task.done():
            self._task = self.spawn(self._run())
        return first

    async def _run(self) -> None:
        while (due := self.counter.next_due()) is not None:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            for repeats in self.counter.due(time.monotonic()):
                try:
                    self._repeated(repeats)
                except Exception:
                    log.exception("could not report repeats of %r", repeats.key)

    def _repeated(self, repeats: Repeats[K, V]) -> None:
        raise NotImplementedError


# --- security alerts --------------------------------------------------------------------------

AlertKey = tuple[str | None, str]  # (user, cause); (None, "") is the overflow
_CAUSES = {
    FLOODING: "exceeded the message rate",
    PING_FLOODING: "sent too many pings",
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Flood:
    cause: str
    connection_type: str


class FloodAlerts(_Windowed[AlertKey, _Flood]):
    """`security_alert`s for users whose connections were closed for flooding, per user and cause."""

    def __init__(self, spawn: Spawn, service: WebSocketEventService, window: float) -> None:
        super().__init__(spawn, window, ALERT_KEYS, (None, ""))
        self.service = service

    def report(self, user_id: str, cause: str, connection_type: ConnectionType, connection_id: str) -> None:
        if not self._hit((user_id, cause), _Flood(cause, connection_type.value)):
            return
        self._emit(
            user_id,
            {
                "alert": cause,
                "user_id": user_id,
                "connection_type": connection_type.value,
                "connection_id": connection_id,
                "message": f"{user_id} {_CAUSES.get(cause, cause)} and was disconnected",
            },
        )

    def _repeated(self, repeats: Repeats[AlertKey, _Flood]) -> None:
        user_id, _ = repeats.key
        cause = repeats.info.cause
        count, window = repeats.count, self.window
        times = "time" if count == 1 else "times"
        who = user_id if user_id is not None else "other users"
        self._emit(
            user_id,
            {
                "alert": cause,
                "user_id": user_id,
                "connection_type": repeats.info.connection_type,
                "count": count,
                "window": window,
                "message": f"{who} {_CAUSES.get(cause, cause)} {count} more {times} in the last {window:g} s",
            },
        )

    def _emit(self, user_id: str | None, data: dict[str, Any]) -> None:
        self.spawn(self._publish(user_id, data))

    async def _publish(self, user_id: str | None, data: dict[str, Any]) -> None:
        try:
            await self.service.emit(EventType.SECURITY_ALERT, data, actor=user_id, severity=Severity.WARNING)
        except Exception:
            _errors.log(logging.ERROR, "could not emit a %s security_alert", data.get("alert"))


# --- refused sockets in the audit log ---------------------------------------------------------

# (source address, close code, reason, authenticated actor): the reasons are the server's own few texts.
RefusalKey = tuple[str | None, int, str, str | None]
_OVERFLOW: RefusalKey = ("*", 0, "", None)


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    claimed_user: str  # the path's user_id: whatever the client wrote, never an actor
    target: str


class RefusalAudit(_Windowed[RefusalKey, Refusal]):
    """`ws.refused` audit rows, one per (address, code, reason, actor) and window, with the count.

    The actor is the authenticated user when the refusal came after authentication (a role that may
    not open the type, a token for another user's path), else NULL; the name in the path is kept in
    `details.claimed_user` only. Rows are written by one task, in batches, through `write` (the app's
    audit log), so that a flood of refusals never waits on the database nor piles up writes.
    """

    def __init__(self, spawn: Spawn, write: AuditWriter | None, window: float) -> None:
        """`write`: None for an app without an audit log (refusals are then counted and logged only)."""
        super().__init__(spawn, window, REFUSAL_KEYS, _OVERFLOW)
        self.write = write
        self._rows: list[dict[str, Any]] = []
        self._writer: asyncio.Task[Any] | None = None
        self._dropped = 0

    def note(self, source: str | None, code: int, reason: str, actor: str | None, refusal: Refusal) -> None:
        if self.write is None:
            return
        key = (source, code, reason, actor)
        if self._hit(key, refusal):
            self._add(key, refusal, 1)

    def _repeated(self, repeats: Repeats[RefusalKey, Refusal]) -> None:
        self._add(repeats.key, repeats.info, repeats.count)

    def _add(self, key: RefusalKey, refusal: Refusal, count: int) -> None:
        if len(self._rows) >= MAX_PENDING_ROWS:
            self._dropped += 1
            _errors.log(logging.WARNING, "audit writer behind: %d ws.refused rows dropped", self._dropped)
            return
        source, code, reason, actor = key
        details: dict[str, Any] = {"code": code, "count": count, "window": self.window}
        if key == _OVERFLOW:
            source = None
            details["overflow"] = True  # from more addresses than are counted apart
        else:
            details["claimed_user"] = refusal.claimed_user
            details["reason"] = reason
        self._rows.append(
            {
                "action": "ws.refused",
                "outcome": "refused",
                "actor": actor,
                "source": source,
                "target": refusal.target,
                "details": details,
            }
        )
        if self._writer is None or self._writer.done():
            self._writer = self.spawn(self._write())

    async def _write(self) -> None:
        while self._rows:
            rows, self._rows = self._rows, []
            try:
                if self.write is not None:
                    await self.write(rows)
            except Exception:
                _errors.log(logging.ERROR, "could not write %d ws.refused audit rows", len(rows))


# --- one set per instance -------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class AbuseReports:
    alerts: FloodAlerts
    refusals: RefusalAudit
