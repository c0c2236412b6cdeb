"""threat_detected from named's RPZ log: follow the file, parse rewrites, coalesce repeats, emit.

named logs one line per rewritten query in category `rpz` (see render.render_logging_conf), e.g.

    26-Nov-2026 07:12:26.849 client @0x7f62... 127.0.0.1#56705 (x.bad.test): rpz QNAME NXDOMAIN
    rewrite x.bad.test/A/IN via x.bad.test.rpz.local

The file is followed from its end (what was there before start-up is old news), through rotation
(named renames it to .0, .1...) and truncation. The first query of a client for a name is emitted
at once; repeats within `window` seconds are counted and emitted as one event with `count`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("hybrid_dns.bind")

_RPZ_RE = re.compile(
    r"client (?:@0x[0-9a-fA-F]+ )?(?P<client>[0-9A-Fa-f:.%a-z]+)#(?P<port>\d+)"
    r"(?: \((?P<qname>[^)]*)\))?: (?:view (?P<view>\S+): )?"
    r"rpz (?P<trigger>[A-Z-]+) (?P<policy>[A-Za-z-]+) rewrite (?P<name>\S+)/(?P<qtype>[^/\s]+)/(?P<qclass>\S+)"
    r" via (?P<via>\S+)"
)

_ACTIONS = {
    "NXDOMAIN": "block",
    "NODATA": "block",
    "DROP": "block",
    "TCP-ONLY": "block",
    "Local-Data": "redirect",
    "CNAME": "redirect",
    "PASSTHRU": "passthru",
    "DISABLED": "passthru",
}


@dataclasses.dataclass(frozen=True, slots=True)
class RpzHit:
    client: str
    name: str  # the query name, no trailing dot
    qtype: str
    trigger: str  # QNAME | IP | NSDNAME | NSIP | CLIENT-IP
    policy: str  # NXDOMAIN | NODATA | Local-Data | PASSTHRU | DROP | ...
    via: str  # the policy record's owner, relative to the RPZ zone when it is in it

    @property
    def action(self) -> str:
        return _ACTIONS.get(self.policy, self.policy.lower())


def parse_rpz_line(line: str, rpz_zone: str | None = None) -> RpzHit | None:
    """One named log line -> RpzHit, or None when it is not an RPZ rewrite line."""
    match = _RPZ_RE.search(line)
    if match is None:
        return None
    via = match["via"].rstrip(".").lower()
    if rpz_zone:
        suffix = "." + rpz_zone.rstrip(".").lower()
        if via.endswith(suffix):
            via = via[: -len(suffix)]
    return RpzHit(
        client=match["client"],
        name=match["name"].rstrip(".").lower(),
        qtype=match["qtype"],
        trigger=match["trigger"],
        policy=match["policy"],
        via=via,
    )


class FileFollower:
    """`tail -F` as a synchronous poll (run it in a thread): new complete lines since the last poll."""

    def __init__(self, path: Path, from_end: bool = True) -> None:
        self.path = Path(path)
        self.from_end = from_end
        self._fh: IO[bytes] | None = None
        self._ident: tuple[int, int] | None = None
        self._buf = b""
        self._first = True

    def poll(self) -> list[str]:
        lines: list[str] = []
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        first, self._first = self._first, False
        if self._fh is not None:
            assert self._ident is not None
            if st is None or (st.st_dev, st.st_ino) != self._ident:
                lines += self._read()  # rotated away: finish the old file first
                if self._buf:
                    lines.append(self._buf.decode(errors="replace"))
                self.close()
            elif st.st_size < self._fh.tell():  # truncated in place
                self._fh.seek(0)
                self._buf = b""
        if self._fh is None and st is not None:
            try:
                self._fh = open(self.path, "rb")  # kept open between polls
            except FileNotFoundError:
                return lines
            st = os.fstat(self._fh.fileno())
            self._ident = (st.st_dev, st.st_ino)
            if first and self.from_end:
                self._fh.seek(0, os.SEEK_END)
        if self._fh is not None:
            lines += self._read()
        return lines

    def _read(self) -> list[str]:
        assert self._fh is not None
        data = self._fh.read()
        if not data:
            return []
        data = self._buf + data
        *complete, self._buf = data.split(b"\n")
        return [line.decode(errors="replace") for line in complete if line]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh, self._ident, self._buf = None, None, b""


RuleLookup = Callable[[str], Any]  # name -> an object with domain/action/category, or None
Emit = Callable[[dict[str, Any]], Awaitable[object]]


@dataclasses.dataclass(slots=True)
class _Window:
    started: float
    first_pending: float = 0.0
    last_seen: float = 0.0
    pending: int = 0  # repeats not yet emitted
    hit: RpzHit | None = None
    timer: asyncio.TimerHandle | None = None


class ThreatReporter:
    """Turn RPZ hits into threat_detected payloads: one per (client, name), repeats coalesced per window."""

    def __init__(self, emit: Emit, lookup: RuleLookup, window: float = 10.0, max_keys: int = 10_000) -> None:
        self.emit = emit
        self.lookup = lookup
        self.window = window
        self.max_keys = max_keys
        self._windows: dict[tuple[str, str], _Window] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def payload(self, hit: RpzHit, count: int, first_seen: float, last_seen: float) -> dict[str, Any]:
        rule = self.lookup(hit.via) or self.lookup(hit.name)
        return {
            "client": hit.client,
            "name": hit.name,
            "query": hit.name,  # the dashboard's field for the name
            "qtype": hit.qtype,
            "rule": getattr(rule, "domain", None) or hit.via,
            "category": getattr(rule, "category", None) or "unknown",
            "action": getattr(rule, "action", None) or hit.action,
            "policy": hit.policy,
            "trigger": hit.trigger,
            "count": count,
            "first_seen": _iso(first_seen),
            "last_seen": _iso(last_seen),
        }

    async def handle(self, hit: RpzHit) -> None:
        if hit.action == "passthru":
            return  # an explicit allow is not a threat
        now = time.time()
        key = (hit.client, hit.name)
        current = self._windows.get(key)
        if current is not None and now - current.started < self.window:
            if current.pending == 0:
                current.first_pending = now
            current.pending += 1
            current.last_seen = now
            current.hit = hit
            if current.timer is None:
                delay = max(0.0, current.started + self.window - now)
                current.timer = asyncio.get_running_loop().call_later(delay, self._flush_soon, key)
            return
        if current is not None:
            if current.timer is not None:
                current.timer.cancel()
            await self._emit_pending(current)
            self._windows.pop(key, None)
        while len(self._windows) >= self.max_keys:
            old_key = next(iter(self._windows))
            old = self._windows.pop(old_key)
            if old.timer is not None:
                old.timer.cancel()
            await self._emit_pending(old)
        self._windows[key] = _Window(started=now)
        await self._send(self.payload(hit, 1, now, now))

    async def _emit_pending(self, window: _Window) -> None:
        if window.pending and window.hit is not None:
            payload = self.payload(window.hit, window.pending, window.first_pending, window.last_seen)
            payload["coalesced"] = True
            window.pending = 0
            await self._send(payload)

    def _flush_soon(self, key: tuple[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._flush(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, key: tuple[str, str]) -> None:
        window = self._windows.get(key)
        if window is None:
            return
        window.timer = None
        if window.pending == 0:
            self._windows.pop(key, None)  # a quiet window: the next query is news again
            return
        # A new window starts: a client that keeps asking gets one event per window.
        window.started = time.time()
        window.timer = asyncio.get_running_loop().call_later(self.window, self._flush_soon, key)
        await self._emit_pending(window)

    async def _send(self, payload: dict[str, Any]) -> None:
        try:
            await self.emit(payload)
        except Exception:
            log.exception("could not emit threat_detected for %s from %s", payload.get("name"), payload.get("client"))

    async def close(self) -> None:
        for window in self._windows.values():
            if window.timer is not None:
                window.timer.cancel()
        self._windows.clear()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RpzLogWatcher:
    """Follows the RPZ log in a background task and feeds a ThreatReporter; survives any error."""

    def __init__(self, path: Path, reporter: ThreatReporter, rpz_zone: str, poll_interval: float = 0.25) -> None:
        self.follower = FileFollower(path, from_end=True)
        self.reporter = reporter
        self.rpz_zone = rpz_zone
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self.lines_seen = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="rpz-log-watcher")

    async def _run(self) -> None:
        # The first poll places us at the end of the file before anything else happens.
        while True:
            try:
                lines = await asyncio.to_thread(self.follower.poll)
                for line in lines:
                    self.lines_seen += 1
                    hit = parse_rpz_line(line, self.rpz_zone)
                    if hit is not None:
                        await self.reporter.handle(hit)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("RPZ log watcher error on %s; continuing", self.follower.path)
                await asyncio.sleep(max(1.0, self.poll_interval))
            await asyncio.sleep(self.poll_interval)

    @property
    def ready(self) -> bool:
        """True once the first poll happened (the file position is fixed)."""
        return not self.follower._first

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.reporter.close()
        await asyncio.to_thread(self.follower.close)
