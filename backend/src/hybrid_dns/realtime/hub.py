"""The hub: live connections, who may see what, and the fan-out of each event to them.

Fan-out (`dispatch`) is synchronous: for each event it looks up the connections subscribed to the
event's type (an index kept per type, so nothing scans every connection), applies the audience
rule, and hands the event's already-encoded frame to each connection (connection.py). A single
event goes straight to every socket that takes it now, its bytes encoded once for all of them;
the events of one call are queued on each connection and flushed at the end, so that they reach
it as one `batch` frame. Frames and batches built for one dispatch are shared by every connection
that sends them, and what was sent is recorded once (delivery.py).

Connections with a filter (filters.py) are kept apart, in an index of their own per event type
(`FilteredIndex`), so that a connection without one costs nothing more per event than before:
the per-type set of unfiltered connections is the same set, sent to as it was. The filtered index
is looked at once per event (one dict lookup, none while no connection has a filter), and it
visits only the filtered connections that could match: by the least severity they ask for, then
by the zones (or else the actors) their filter lists, looked up with the event's `about` names; a
filter on categories or record types is not filed under the types it can never match at all.
Each connection found is then checked with its whole filter (bench/filter_bench.py measures it).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..auth.roles import Role
from .broker.base import StreamPosition
from .connection import Connection, FastSender, SendFn
from .delivery import Delivery
from .events import EVENTS_BY_CONNECTION_TYPE, Audience, ConnectionType, Event, EventType, audience_allows
from .filters import SEVERITY_RANK, EventFilter, zone_keys
from .metrics import RateWindow, RealtimeMetrics
from .protocol import CloseCode, reset_frame

log = logging.getLogger("hybrid_dns.realtime")

DemandListener = Callable[[EventType, bool], None]

# The close reason of a session's sockets, by the `reason` of its session_expired event.
_CLOSE_REASONS: dict[Any, str] = {"logout": "signed out", "password_reset": "password reset"}


class _Keep:
    """`set_subscriptions(..., event_filter=KEEP)`: the connection's filter stays as it is."""


KEEP: Any = _Keep()


class _Group:
    """The connections of one event type's index that have one filter (equal filters share a group,
    so that a filter many dashboards use is checked once per event)."""

    __slots__ = ("conns", "filter")

    def __init__(self, event_filter: EventFilter) -> None:
        self.filter = event_filter
        self.conns: set[Connection] = set()


class _Level:
    """The filter groups of one event type that ask for one least severity."""

    __slots__ = ("by_actor", "by_zone", "rest")

    def __init__(self) -> None:
        self.by_zone: dict[str, set[_Group]] = {}  # groups whose filter lists zones, under each zone
        self.by_actor: dict[str, set[_Group]] = {}  # groups that list actors but no zones, under each actor
        self.rest: set[_Group] = set()  # the others


class FilteredIndex:
    """The filtered connections subscribed to one event type, indexed so that an event visits only
    the filters that could keep it; each such filter is then checked whole, once for its group."""

    __slots__ = ("count", "groups", "levels")

    def __init__(self) -> None:
        self.count = 0
        self.groups: dict[EventFilter, _Group] = {}
        self.levels = [_Level() for _ in SEVERITY_RANK]  # by the least severity asked for

    def add(self, conn: Connection, f: EventFilter) -> None:
        group = self.groups.get(f)
        if group is None:
            group = self.groups[f] = _Group(f)
            level = self.levels[SEVERITY_RANK[f.min_severity] if f.min_severity else 0]
            if f.zones:
                for zone in f.zones:
                    level.by_zone.setdefault(zone, set()).add(group)
            elif f.actors:
                for actor in f.actors:
                    level.by_actor.setdefault(actor, set()).add(group)
            else:
                level.rest.add(group)
        group.conns.add(conn)
        self.count += 1

    def remove(self, conn: Connection, f: EventFilter) -> None:
        group = self.groups[f]
        group.conns.discard(conn)
        self.count -= 1
        if group.conns:
            return
        del self.groups[f]
        level = self.levels[SEVERITY_RANK[f.min_severity] if f.min_severity else 0]
        if f.zones:
            _discard_under(level.by_zone, f.zones, group)
        elif f.actors:
            _discard_under(level.by_actor, f.actors, group)
        else:
            level.rest.discard(group)

    def match(self, event: Event) -> list[Connection]:
        """The connections here whose filter keeps `event` (the audience rule is the caller's)."""
        matched: list[Connection] = []
        keys: list[str] | None = None
        levels = self.levels
        for rank in range(SEVERITY_RANK[event.severity] + 1):
            level = levels[rank]
            for group in level.rest:
                if group.filter.matches(event):
                    matched.extend(group.conns)
            if level.by_zone:
                if keys is None:
                    keys = zone_keys(event.about.zone, event.about.name)
                hits: set[_Group] | None = None
                for key in keys:
                    groups = level.by_zone.get(key)
                    if groups:
                        if hits is None:
                            hits = set(groups)
                        else:
                            hits.update(groups)  # a filter listing a zone and its parent is found twice
                if hits:
                    for group in hits:
                        if group.filter.matches(event):
                            matched.extend(group.conns)
            if level.by_actor and event.actor is not None:
                for group in level.by_actor.get(event.actor, ()):
                    if group.filter.matches(event):
                        matched.extend(group.conns)
        return matched


def _discard_under(index: dict[str, set[_Group]], keys: Iterable[str], group: _Group) -> None:
    for key in keys:
        groups = index.get(key)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del index[key]


class Hub:
    def __init__(
        self,
        metrics: RealtimeMetrics,
        *,
        queue_limit: int = 1000,
        max_batch: int = 500,
    ) -> None:
        self.metrics = metrics
        self.queue_limit = queue_limit
        self.max_batch = max_batch
        self.connections: dict[str, Connection] = {}
        self.by_user: dict[str, set[Connection]] = collections.defaultdict(set)
        # Unfiltered connections by the types they are subscribed to; filtered ones apart, indexed
        # per type (only types that some filtered connection could get have an entry).
        self.by_type: dict[EventType, set[Connection]] = {t: set() for t in EventType}
        self.filtered: dict[EventType, FilteredIndex] = {}
        self.filtered_connections = 0
        self.started_at = time.time()
        self.events_dispatched = 0
        self.last_seq = 0
        self._rate = RateWindow()
        self._subscription_sets: dict[frozenset[EventType], frozenset[EventType]] = {}
        self.delivery = Delivery(metrics)
        self._demand_listeners: list[DemandListener] = []
        self._seq_waiters: list[tuple[int, asyncio.Future[None]]] = []
        # Called with every dispatched event, on every instance (e.g. applying a settings change).
        self.event_hooks: list[Callable[[Event], None]] = []
        self.metrics.bind_queue_depth(self._queue_total, self._queue_max)

    # --- registration ----------------------------------------------------------------------

    def add_demand_listener(self, listener: DemandListener) -> None:
        """Told (event type, True) when the first connection subscribes to a type, False after the last."""
        self._demand_listeners.append(listener)

    def has_demand(self, event_type: EventType) -> bool:
        return bool(self.by_type[event_type]) or event_type in self.filtered

    def user_connection_count(self, user_id: str) -> int:
        return len(self.by_user.get(user_id, ()))

    def register(
        self,
        send: SendFn,
        *,
        connection_type: ConnectionType,
        user_id: str,
        role: Role,
        jti: str | None = None,
        first_frame: Callable[[Connection], str],
        start: bool = True,
        fast: FastSender | None = None,
        event_filter: EventFilter | None = None,
    ) -> Connection:
        """Add a connection subscribed to its type's whole set (through `event_filter`, if given);
        `first_frame` is queued before any event.

        With start=False the writer waits for `conn.start()`, so that a replay can be put between
        the first frame and the live events that queue up meanwhile.
        """
        conn = Connection(
            self.delivery,
            send,
            connection_type=connection_type,
            user_id=user_id,
            role=role,
            queue_limit=self.queue_limit,
            max_batch=self.max_batch,
            jti=jti,
            fast=fast,
        )
        self.connections[conn.id] = conn
        self.by_user[user_id].add(conn)
        self.set_subscriptions(conn, EVENTS_BY_CONNECTION_TYPE[connection_type], event_filter)
        # Queued in the same synchronous step as the subscriptions: no event can precede it.
        conn.queue.append((first_frame(conn), None, 0))
        metrics = self.metrics
        metrics.child(metrics.connections, connection_type.value).inc()
        metrics.child(metrics.connections_total, connection_type.value).inc()
        if start:
            conn.start()
        return conn

    def unregister(self, conn: Connection) -> None:
        if self.connections.pop(conn.id, None) is None:
            return
        conn.disconnected()
        self.set_subscriptions(conn, (), None)
        users = self.by_user.get(conn.user_id)
        if users is not None:
            users.discard(conn)
            if not users:
                del self.by_user[conn.user_id]
        self.metrics.child(self.metrics.connections, conn.connection_type.value).dec()

    def set_subscriptions(
        self, conn: Connection, types: Iterable[EventType], event_filter: EventFilter | None = KEEP
    ) -> None:
        """Subscribe `conn` to `types`, through `event_filter` (None: no filter; KEEP: the one it has)."""
        new = frozenset(types)
        shared = self._subscription_sets.get(new)
        if shared is not None:
            new = shared
        elif len(self._subscription_sets) < 1024:  # bounded: a client cannot grow it without end
            self._subscription_sets[new] = new
        new_filter = conn.filter if event_filter is KEEP else event_filter
        if conn.filter is not None or new_filter is not None:
            self._refile(conn, new, new_filter)
            return
        for added in new - conn.subscriptions:
            subscribers = self.by_type[added]
            subscribers.add(conn)
            if len(subscribers) == 1:
                self._demand_changed(added, True)
        for removed in conn.subscriptions - new:
            subscribers = self.by_type[removed]
            subscribers.discard(conn)
            if not subscribers:
                self._demand_changed(removed, False)
        conn.subscriptions = new

    def _refile(self, conn: Connection, types: frozenset[EventType], event_filter: EventFilter | None) -> None:
        """Move a connection whose filter is (or was) set: out of where it was, into where it goes."""
        old_filter = conn.filter
        affected = conn.subscriptions | types
        before = {t: self.has_demand(t) for t in affected}
        if old_filter is None:
            for t in conn.subscriptions:
                self.by_type[t].discard(conn)
        else:
            self.filtered_connections -= 1
            for t in old_filter.event_types(conn.subscriptions):
                index = self.filtered[t]
                index.remove(conn, old_filter)
                if not index.count:
                    del self.filtered[t]
        conn.subscriptions, conn.filter = types, event_filter
        if event_filter is None:
            for t in types:
                self.by_type[t].add(conn)
        else:
            self.filtered_connections += 1
            for t in event_filter.event_types(types):
                found = self.filtered.get(t)
                if found is None:
                    found = self.filtered[t] = FilteredIndex()
                found.add(conn, event_filter)
        for t in EventType:
            if t in before and self.has_demand(t) != before[t]:
                self._demand_changed(t, not before[t])

    def _demand_changed(self, event_type: EventType, active: bool) -> None:
        for listener in self._demand_listeners:
            try:
                listener(event_type, active)
            except Exception:
                log.exception("demand listener failed for %s", event_type.value)

    # --- fan-out ---------------------------------------------------------------------------

    def dispatch(self, events: list[Event]) -> None:
        """The broker listener: queue each event's frame on every connection allowed to see it, then
        flush those connections, so that the events of one call reach each connection as one frame."""
        by_type = self.by_type
        filtered = self.filtered
        touched: list[Connection] = []
        for event in events:
            if event.seq <= self.last_seq:
                continue  # already delivered (a broker that replays after reconnecting)
            self.last_seq = event.seq
            subscribers = by_type[event.type]
            everyone = event.spec.audience is Audience.EVERYONE
            if everyone:
                targets: Iterable[Connection] = subscribers
            else:
                targets = [c for c in subscribers if audience_allows(event, c.user_id, c.role)]
            index = filtered.get(event.type) if filtered else None
            if index is not None:  # filtered connections: only those whose filter keeps the event
                matched = index.match(event)
                if not everyone:
                    matched = [c for c in matched if audience_allows(event, c.user_id, c.role)]
                if matched:
                    targets = itertools.chain(targets, matched)  # no copy of the unfiltered set
            if len(events) == 1:
                self._send_one(targets, event.frame, event.emitted_at, event.seq)  # the common case, shortest path
            else:
                item = (event.frame, event.emitted_at, event.seq)  # one tuple for every connection's queue
                for conn in targets:  # nothing here changes the sets: a closed connection leaves when its reader ends
                    if not conn.closing:
                        if conn.queue.put(item):
                            touched.append(conn)
                        else:
                            conn.overflowed()
            if event.type is EventType.SESSION_EXPIRED:
                self._end_session(event)  # closes after the flush below has sent the event
            for hook in self.event_hooks:
                try:
                    hook(event)
                except Exception:
                    log.exception("event hook failed for %s", event.type.value)
        if touched:
            self._flush(touched)
        self.events_dispatched += len(events)  # counts events handed to the hub, duplicates included
        self._rate.add(len(events))
        if self._seq_waiters:
            self._wake_seq_waiters()

    def _send_one(self, targets: Iterable[Connection], frame: str, emitted_at: float | None, seq: int) -> None:
        """One event: written straight to each socket that takes it now with nothing queued before it
        (the frame's bytes encoded once), queued and flushed as usual for the others."""
        delivery = self.delivery
        item = (frame, emitted_at, seq)
        wire: bytes | None = None
        written = 0
        with delivery.dispatching():
            for conn in targets:
                try:
                    direct = conn.direct
                    if direct is not None and not conn.queue:
                        if wire is None:
                            wire = delivery.wire(frame, direct)
                        if direct.write_wire(wire):
                            conn.frames_sent += 1
                            written += 1
                            continue
                    if not conn.closing:
                        if conn.queue.put(item):
                            conn.flush()
                        else:
                            conn.overflowed()
                except Exception:
                    self._failed(conn)
            if written:
                delivery.sent(written, emitted_at, frames=written)

    def _flush(self, conns: list[Connection]) -> None:
        with self.delivery.dispatching():
            for conn in conns:  # a connection listed twice finds its queue empty the second time
                try:
                    conn.flush()
                except Exception:
                    self._failed(conn)

    @staticmethod
    def _failed(conn: Connection) -> None:
        log.exception("send failed conn=%s", conn.id)
        conn.close(CloseCode.INTERNAL_ERROR, "internal error", flush=False)

    def _end_session(self, event: Event) -> None:
        """A session ended (token expired, signed out, or its password reset, on any instance): close
        its sockets, after the event."""
        session_id = event.data.get("session_id")
        if not session_id or not isinstance(session_id, str):
            return
        reason = _CLOSE_REASONS.get(event.data.get("reason"), "session expired")
        self.close_session(event.target_user or "", session_id, CloseCode.SESSION_EXPIRED, reason)

    def close_session(self, user_id: str, jti: str, code: int, reason: str) -> int:
        """Close this instance's sockets of one session (frames queued before go first); returns how many."""
        closing = [c for c in self.by_user.get(user_id, ()) if c.jti == jti and not c.closing]
        for conn in closing:
            conn.close(code, reason)
        return len(closing)

    def reset(self, position: StreamPosition, reason: str) -> None:
        """The stream lost history (new epoch, or a gap): every client must refetch its state."""
        self.last_seq = position.last_seq
        frame = reset_frame(reason, position.epoch, position.last_seq)
        for conn in list(self.connections.values()):
            conn.enqueue(frame)
        self._wake_seq_waiters()

    def notify_user(self, user_id: str, frame: str) -> None:
        for conn in list(self.by_user.get(user_id, ())):
            conn.enqueue(frame)

    async def wait_for_seq(self, seq: int, within: float = 5.0) -> bool:
        """Until this instance has dispatched `seq` (a broker may deliver after publish() returns)."""
        if self.last_seq >= seq:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq_waiters.append((seq, future))
        try:
            await asyncio.wait_for(future, within)
            return True
        except TimeoutError:
            return False

    def _wake_seq_waiters(self) -> None:
        waiting = []
        for seq, future in self._seq_waiters:
            if future.done():
                continue
            if self.last_seq >= seq or seq > self.last_seq + 1_000_000_000:
                future.set_result(None)
            else:
                waiting.append((seq, future))
        self._seq_waiters = waiting

    # --- closing ---------------------------------------------------------------------------

    async def close_all(self, code: int = CloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
        conns = list(self.connections.values())
        for conn in conns:
            conn.close(code, reason)
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)

    # --- figures ---------------------------------------------------------------------------

    def _queue_total(self) -> float:
        return float(sum(len(c.queue) for c in self.connections.values()))

    def _queue_max(self) -> float:
        return float(max((len(c.queue) for c in self.connections.values()), default=0))

    def events_per_second(self) -> float:
        return self._rate.rate()

    def connection_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((t.value for t in ConnectionType), 0)
        for conn in self.connections.values():
            counts[conn.connection_type.value] += 1
        return counts

    def stats(self) -> dict[str, Any]:
        return {
            "total_connections": len(self.connections),
            "connections_by_type": self.connection_counts(),
            "unique_users": len(self.by_user),
            "filtered_connections": self.filtered_connections,
            "events_dispatched": self.events_dispatched,
            "events_per_second": round(self.events_per_second(), 3),
            "last_seq": self.last_seq,
            "queue_depth_total": int(self._queue_total()),
            "queue_depth_max": int(self._queue_max()),
            "uptime_seconds": round(time.time() - self.started_at, 3),
        }
