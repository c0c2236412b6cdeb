"""The hub: live connections, who may see what, and one bounded send queue per connection.

Fan-out (`dispatch`) is synchronous: for each event it looks up the connections subscribed to the
event's type (an index kept per type, so nothing scans every connection), applies the audience
rule, and appends the event's already-encoded frame to each connection's queue. At the end of the
dispatch each connection that got something is flushed: what waits in its queue goes out as one
frame (a `batch` frame when several events wait), written straight to the socket when the socket
is writable (`FastSender`, see server.py), with its bytes encoded once for every connection that
gets the same frame. Only a connection whose socket is backed up gets a writer task, which awaits
the peer and sends what piled up meanwhile as batches, then ends. A connection whose queue is full
is closed with 4050 (it can resume), so a stalled client costs a bounded amount of memory and
never delays anyone else.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

from .broker.base import StreamPosition
from .events import (
    EVENTS_BY_CONNECTION_TYPE,
    Audience,
    ConnectionType,
    Event,
    EventType,
    Role,
    audience_allows,
)
from .metrics import RealtimeMetrics
from .protocol import MAX_BATCH_CHARS, CloseCode, batch_frame, reset_frame

log = logging.getLogger("hybrid_dns.realtime")

SendFn = Callable[[dict[str, Any]], Awaitable[None]]
DemandListener = Callable[[EventType, bool], None]
FrameEncoder = Callable[[str], bytes]

# How long a close may wait for a writer to flush what was queued before it (4001, 4029). Under uvicorn,
# shutdown's 1001 comes from the server protocol (server.py) before the app's close_all runs.
FLUSH_TIMEOUT = 5.0

# The ASGI scope extension under which our uvicorn protocol (server.py) offers a FastSender.
FAST_SEND = "hybrid_dns.fast_send"


class FastSender(Protocol):
    """A synchronous write to one connection's socket (server.FastSender under our uvicorn protocol)."""

    @property
    def raw_frames(self) -> bool: ...

    def encode(self, text: str) -> bytes: ...

    def write_text(self, text: str) -> bool: ...

    def write_wire(self, wire: bytes) -> bool: ...


class Connection:
    __slots__ = (
        "_close_task",
        "_fast",
        "_raw",
        "_send",
        "_writer",
        "bucket",
        "close_code",
        "close_reason",
        "closing",
        "connected_at",
        "connection_type",
        "expiry_handle",
        "frames_sent",
        "hub",
        "id",
        "jti",
        "last_strike",
        "queue",
        "queue_limit",
        "rate_strikes",
        "role",
        "started",
        "subscriptions",
        "user_id",
    )

    def __init__(
        self,
        hub: Hub,
        send: SendFn,
        *,
        connection_type: ConnectionType,
        user_id: str,
        role: Role,
        queue_limit: int,
        jti: str | None = None,
        fast: FastSender | None = None,
    ) -> None:
        self.hub = hub
        self._send = send
        self._fast = fast
        # Whether this socket sends frames as encoded for everyone (no permessage-deflate on it).
        self._raw = fast is not None and fast.raw_frames
        self.id = uuid.uuid4().hex
        self.connection_type = connection_type
        self.user_id = user_id
        self.role = role
        self.jti = jti
        # Shared by every connection with the same set (the hub interns them): most keep their type's default.
        self.subscriptions: frozenset[EventType] = frozenset()
        # Items: (frame text, publish time of its event or None for a control frame, event seq or 0).
        # A list, not a deque: it is empty nearly always, and an empty deque costs 600 bytes.
        self.queue: list[tuple[str, float | None, int]] = []
        self.queue_limit = queue_limit
        self._writer: asyncio.Task[None] | None = None  # only while the socket is backed up
        self._close_task: asyncio.Task[None] | None = None
        self.started = False
        self.closing = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.connected_at = time.time()
        self.frames_sent = 0
        self.bucket: Any = None
        self.rate_strikes = 0
        self.last_strike = 0.0
        self.expiry_handle: asyncio.TimerHandle | None = None

    # --- queueing --------------------------------------------------------------------------

    def enqueue(self, text: str, emitted_at: float | None = None, seq: int = 0, *, flush: bool = True) -> bool:
        """Queue a frame (and send it, unless the caller flushes later); False when the connection
        is closing or was just closed for overflowing."""
        if self.closing:
            return False
        queue = self.queue
        if len(queue) >= self.queue_limit:
            self.hub.metrics.frames_dropped.inc(len(queue) + 1)
            queue.clear()
            self.close(CloseCode.SLOW_CONSUMER, "slow consumer: send queue full", flush=False)
            return False
        queue.append((text, emitted_at, seq))
        if flush:
            self.flush()
        return True

    def insert_after_first(self, frames: list[str], drop_through_seq: int = 0) -> None:
        """Put frames (a replay) right after the first frame, before the live events queued meanwhile,
        dropping queued events the replay already covers, so that nothing arrives twice."""
        if self.closing or not self.queue:
            return  # closed while the replay was being fetched (overflow, expiry, shutdown)
        first, *queued = self.queue
        self.queue[:] = [
            first,
            *((f, None, 0) for f in frames),
            *(item for item in queued if item[2] == 0 or item[2] > drop_through_seq),
        ]
        self.flush()

    def start(self) -> None:
        """Let frames out (a resuming connection holds them until its replay is in place)."""
        self.started = True
        self.flush()

    def _take(self) -> tuple[str, float | None, int]:
        """The next frame to send: the head of the queue, or the event frames at its head as one batch.
        Returns (text, publish time of its oldest event or None, number of events)."""
        queue = self.queue
        text, emitted_at, _ = queue[0]
        end = 1
        if emitted_at is not None:
            size = len(text)
            limit = min(len(queue), self.hub.max_batch)
            while end < limit and queue[end][1] is not None:
                size += len(queue[end][0])
                if size > MAX_BATCH_CHARS:
                    break
                end += 1
        if end == 1:
            del queue[0]
            return text, emitted_at, 0 if emitted_at is None else 1
        frames = [item[0] for item in queue[:end]]
        del queue[:end]
        return self.hub.batch_text(frames), emitted_at, end

    def flush(self) -> None:
        """Send what is queued, now, while the socket takes it; hand the rest to a writer task."""
        if not self.started or self._writer is not None:
            return  # not yet (resume), or a writer is already waiting for the peer: it sends this too
        queue = self.queue
        fast = self._fast
        hub = self.hub
        while queue:
            text, emitted_at, count = self._take()
            if fast is not None and (fast.write_wire(hub.wire(text, fast)) if self._raw else fast.write_text(text)):
                self.frames_sent += 1
                hub.sent(count, emitted_at)
                continue
            self._writer = asyncio.get_running_loop().create_task(self._drain(text, emitted_at, count))
            return

    async def _drain(self, text: str, emitted_at: float | None, count: int) -> None:
        """The socket is backed up (or there is no fast path): await each send; batch what piles up."""
        send = self._send
        queue = self.queue
        try:
            while True:
                await send({"type": "websocket.send", "text": text})
                del text  # a finished writer must not keep its last (possibly 512 KiB) frame alive
                self.frames_sent += 1
                self.hub.sent(count, emitted_at)
                if not queue:
                    return
                text, emitted_at, count = self._take()
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-send; the read loop sees the disconnect
            self.closing = True
            queue.clear()
        finally:
            self._writer = None

    # --- closing ---------------------------------------------------------------------------

    def close(self, code: int, reason: str = "", *, flush: bool = True) -> None:
        """Close once. With flush, frames queued before the close go out first (bounded in time)."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.close_reason = reason
        if self.expiry_handle is not None:
            self.expiry_handle.cancel()
        self._close_task = asyncio.get_running_loop().create_task(self._close(code, reason, flush))

    async def _close(self, code: int, reason: str, flush: bool) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            if flush:
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(writer), FLUSH_TIMEOUT)
            if not writer.done():
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
        self.queue.clear()
        with contextlib.suppress(Exception):
            # The server's protocol writes a close frame without waiting for a stalled peer to drain.
            await asyncio.wait_for(self._send({"type": "websocket.close", "code": code, "reason": reason}), 5)

    def disconnected(self) -> None:
        """The socket is gone: stop the writer and drop what was waiting."""
        self.closing = True
        self.queue.clear()
        if self.expiry_handle is not None:
            self.expiry_handle.cancel()
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()

    async def wait_closed(self) -> None:
        for task in (self._close_task, self._writer):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def may_see(self, event: Event) -> bool:
        return event.type in self.subscriptions and audience_allows(event, self.user_id, self.role)

    def info(self) -> dict[str, Any]:
        return {
            "connection_id": self.id,
            "connection_type": self.connection_type.value,
            "user_id": self.user_id,
            "role": self.role.value,
            "connected_at": self.connected_at,
            "subscriptions": sorted(t.value for t in self.subscriptions),
            "queue_depth": len(self.queue),
            "frames_sent": self.frames_sent,
        }


class _RateWindow:
    """Events per second over the last few seconds, in per-second buckets."""

    def __init__(self, seconds: int = 10) -> None:
        self.seconds = seconds
        self.buckets: collections.deque[list[int]] = collections.deque(maxlen=seconds + 1)

    def add(self, count: int, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        if self.buckets and self.buckets[-1][0] == second:
            self.buckets[-1][1] += count
        else:
            self.buckets.append([second, count])

    def rate(self, now: float | None = None) -> float:
        current = int(now if now is not None else time.monotonic())
        total = sum(c for s, c in self.buckets if current - self.seconds <= s < current)
        return total / self.seconds


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
        self.by_type: dict[EventType, set[Connection]] = {t: set() for t in EventType}
        self.started_at = time.time()
        self.events_dispatched = 0
        self.last_seq = 0
        self._rate = _RateWindow()
        self._subscription_sets: dict[frozenset[EventType], frozenset[EventType]] = {}
        # While a dispatch flushes: frames built and encoded once for every connection that sends them,
        # and what was sent, recorded in the metrics once at the end.
        self._dispatching = False
        self._wire_cache: dict[str, bytes] = {}
        self._batch_cache: dict[tuple[str, ...], str] = {}
        self._frames_sent = 0
        self._events_sent = 0
        self._latency_sent: dict[float, int] = {}
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
        return bool(self.by_type[event_type])

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
    ) -> Connection:
        """Add a connection subscribed to its type's whole set; `first_frame` is queued before any event.

        With start=False the writer waits for `conn.start()`, so that a replay can be put between
        the first frame and the live events that queue up meanwhile.
        """
        conn = Connection(
            self,
            send,
            connection_type=connection_type,
            user_id=user_id,
            role=role,
            queue_limit=self.queue_limit,
            jti=jti,
            fast=fast,
        )
        self.connections[conn.id] = conn
        self.by_user[user_id].add(conn)
        self.set_subscriptions(conn, EVENTS_BY_CONNECTION_TYPE[connection_type])
        # Queued in the same synchronous step as the subscriptions: no event can precede it.
        conn.queue.append((first_frame(conn), None, 0))
        self.metrics.connections.labels(connection_type.value).inc()
        self.metrics.connections_total.labels(connection_type.value).inc()
        if start:
            conn.start()
        return conn

    def unregister(self, conn: Connection) -> None:
        if self.connections.pop(conn.id, None) is None:
            return
        conn.disconnected()
        self.set_subscriptions(conn, ())
        users = self.by_user.get(conn.user_id)
        if users is not None:
            users.discard(conn)
            if not users:
                del self.by_user[conn.user_id]
        self.metrics.connections.labels(conn.connection_type.value).dec()

    def set_subscriptions(self, conn: Connection, types: Iterable[EventType]) -> None:
        new = frozenset(types)
        shared = self._subscription_sets.get(new)
        if shared is not None:
            new = shared
        elif len(self._subscription_sets) < 1024:  # bounded: a client cannot grow it without end
            self._subscription_sets[new] = new
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
        touched: list[Connection] = []
        for event in events:
            if event.seq <= self.last_seq:
                continue  # already delivered (a broker that replays after reconnecting)
            self.last_seq = event.seq
            subscribers = by_type[event.type]
            if event.spec.audience is Audience.EVERYONE:
                targets: Iterable[Connection] = subscribers
            else:
                targets = [c for c in subscribers if audience_allows(event, c.user_id, c.role)]
            frame = event.frame
            emitted_at = event.emitted_at
            seq = event.seq
            if len(events) == 1:
                self._send_one(targets, frame, emitted_at, seq)  # the common case, on its shortest path
            else:
                # enqueue() never changes the sets (a closed connection leaves them when its reader ends).
                touched.extend([conn for conn in targets if conn.enqueue(frame, emitted_at, seq, flush=False)])
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
        """One event: written straight to each socket that is writable with nothing queued before it
        (the frame's bytes encoded once), queued and flushed as usual for the others."""
        wire: bytes | None = None
        written = 0
        with self._flushing():
            for conn in targets:
                if conn.closing:
                    continue
                try:
                    fast = conn._fast
                    if fast is not None and conn._raw and conn.started and conn._writer is None and not conn.queue:
                        if wire is None:
                            wire = self.wire(frame, fast)
                        if fast.write_wire(wire):
                            conn.frames_sent += 1
                            written += 1
                            continue
                    if conn.enqueue(frame, emitted_at, seq, flush=False):
                        conn.flush()
                except Exception:
                    self._failed(conn)
            if written:
                self.sent(written, emitted_at, frames=written)

    def _flush(self, conns: list[Connection]) -> None:
        with self._flushing():
            for conn in conns:  # a connection listed twice finds its queue empty the second time
                try:
                    conn.flush()
                except Exception:
                    self._failed(conn)

    @contextlib.contextmanager
    def _flushing(self) -> Iterator[None]:
        """While one dispatch writes: frames built and encoded once for every connection that sends
        them, and what was sent recorded in the metrics once, at the end."""
        self._dispatching = True
        try:
            yield
        finally:
            self._dispatching = False
            self._wire_cache.clear()
            self._batch_cache.clear()
            self._record_sent()

    @staticmethod
    def _failed(conn: Connection) -> None:
        log.exception("send failed conn=%s", conn.id)
        conn.close(CloseCode.INTERNAL_ERROR, "internal error", flush=False)

    def wire(self, text: str, fast: FastSender) -> bytes:
        """`text` as a frame's bytes, encoded once per dispatch however many connections send it."""
        if not self._dispatching:
            return fast.encode(text)
        wire = self._wire_cache.get(text)
        if wire is None:
            wire = self._wire_cache[text] = fast.encode(text)
        return wire

    def batch_text(self, frames: list[str]) -> str:
        """A batch frame of these event frames, built once per dispatch for every connection that sends it."""
        if not self._dispatching:
            return batch_frame(frames)
        key = tuple(frames)
        text = self._batch_cache.get(key)
        if text is None:
            text = self._batch_cache[key] = batch_frame(frames)
        return text

    def sent(self, events: int, emitted_at: float | None, frames: int = 1) -> None:
        """`frames` frames were written, carrying `events` events, the oldest published at `emitted_at`."""
        self._frames_sent += frames
        if emitted_at is not None:
            self._events_sent += events
            self._latency_sent[emitted_at] = self._latency_sent.get(emitted_at, 0) + events
        if not self._dispatching:
            self._record_sent()

    def _record_sent(self) -> None:
        metrics = self.metrics
        if self._frames_sent:
            metrics.frames_sent.inc(self._frames_sent)
            self._frames_sent = 0
        if self._events_sent:
            metrics.events_delivered.inc(self._events_sent)
            self._events_sent = 0
            now = time.monotonic()
            for emitted_at, count in self._latency_sent.items():
                metrics.latency.observe(now - emitted_at, count)
            self._latency_sent.clear()

    def _end_session(self, event: Event) -> None:
        """A session ended (token expired, or signed out on any instance): close its sockets, after the event."""
        session_id = event.data.get("session_id")
        if not session_id or not isinstance(session_id, str):
            return
        reason = "signed out" if event.data.get("reason") == "logout" else "session expired"
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
            "events_dispatched": self.events_dispatched,
            "events_per_second": round(self.events_per_second(), 3),
            "last_seq": self.last_seq,
            "queue_depth_total": int(self._queue_total()),
            "queue_depth_max": int(self._queue_max()),
            "uptime_seconds": round(time.time() - self.started_at, 3),
        }
