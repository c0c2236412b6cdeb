"""One client socket as the hub sees it: who it is, what it is subscribed to, and its way out.

Frames go out in the order they were queued. `flush` writes what is queued straight to the socket
while the socket takes it (through the `FastSender` our uvicorn protocol offers, see
uvicorn_protocol.py); when the socket is backed up, a writer task takes over, awaits the ASGI
`send` (which waits for the peer to drain) and sends what piles up meanwhile as batches, then ends.
While a writer runs, nothing is written in the dispatch step, so the order holds across the switch.

The queue is bounded (sendqueue.py): a connection whose queue is full is closed with 4050 (it can
resume), so a stalled client costs a bounded amount of memory and never delays anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..auth.roles import Role
from .delivery import Delivery
from .events import ConnectionType, Event, EventType, audience_allows
from .filters import EventFilter
from .protocol import CloseCode
from .sendqueue import SendQueue

SendFn = Callable[[dict[str, Any]], Awaitable[None]]

# How long a close may wait for a writer to flush what was queued before it (4001, 4029). Under uvicorn,
# shutdown's 1001 comes from the server protocol (uvicorn_protocol.py) before the app's close_all runs.
FLUSH_TIMEOUT = 5.0

# The ASGI scope extension under which our uvicorn protocol (uvicorn_protocol.py) offers a FastSender.
FAST_SEND = "hybrid_dns.fast_send"


class FastSender(Protocol):
    """A synchronous write to one connection's socket, done only when the socket takes it now."""

    @property
    def raw_frames(self) -> bool:
        """True when a frame from `encode` is what this socket would send (no extension in use)."""
        ...

    def encode(self, text: str) -> bytes: ...

    def write_text(self, text: str) -> bool:
        """Write a text frame now; False (nothing written) when the socket cannot take it now."""
        ...

    def write_wire(self, wire: bytes) -> bool:
        """Write a frame from `encode` (only when `raw_frames`); False (nothing written) when not writable."""
        ...


class Connection:
    __slots__ = (
        "_close_task",
        "_delivery",
        "_fast",
        "_raw",
        "_send",
        "_writer",
        "close_code",
        "close_reason",
        "closing",
        "connected_at",
        "connection_type",
        "direct",
        "filter",
        "frames_sent",
        "id",
        "jti",
        "queue",
        "role",
        "started",
        "subscriptions",
        "user_id",
    )

    def __init__(
        self,
        delivery: Delivery,
        send: SendFn,
        *,
        connection_type: ConnectionType,
        user_id: str,
        role: Role,
        queue_limit: int,
        max_batch: int,
        jti: str | None = None,
        fast: FastSender | None = None,
    ) -> None:
        self._delivery = delivery
        self._send = send
        self._fast = fast
        # Whether this socket sends frames as encoded for everyone (no permessage-deflate on it).
        self._raw = fast is not None and fast.raw_frames
        # The socket writer while the hub may write a frame's shared bytes to it in the dispatch step:
        # started, no writer task, not closing, no extension; else None.
        self.direct: FastSender | None = None
        self.id = uuid.uuid4().hex
        self.connection_type = connection_type
        self.user_id = user_id
        self.role = role
        self.jti = jti
        # Shared by every connection with the same set (the hub interns them): most keep their type's default.
        self.subscriptions: frozenset[EventType] = frozenset()
        # The client's filter (filters.py), or None: the hub keeps filtered connections apart (hub.py).
        self.filter: EventFilter | None = None
        self.queue = SendQueue(queue_limit, max_batch)
        self._writer: asyncio.Task[None] | None = None  # only while the socket is backed up
        self._close_task: asyncio.Task[None] | None = None
        self.started = False
        self.closing = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.connected_at = time.time()
        self.frames_sent = 0

    # --- queueing --------------------------------------------------------------------------

    def enqueue(self, text: str, emitted_at: float | None = None, seq: int = 0, *, flush: bool = True) -> bool:
        """Queue a frame (and send it, unless the caller flushes later); False when the connection
        is closing or was just closed for overflowing."""
        if self.closing:
            return False
        if not self.queue.put((text, emitted_at, seq)):
            self.overflowed()
            return False
        if flush:
            self.flush()
        return True

    def overflowed(self) -> None:
        """The queue was full for one more frame: drop what waits and close as a slow consumer (4050)."""
        queue = self.queue
        self._delivery.dropped(len(queue) + 1)
        queue.clear()
        self.close(CloseCode.SLOW_CONSUMER, "slow consumer: send queue full", flush=False)

    def insert_after_first(self, frames: list[str], drop_through_seq: int = 0) -> None:
        """Put frames (a replay) right after the first frame, before the live events queued meanwhile,
        dropping queued events the replay already covers, so that nothing arrives twice."""
        if self.closing or not self.queue:
            return  # closed while the replay was being fetched (overflow, expiry, shutdown)
        self.queue.insert_after_first(frames, drop_through_seq)
        self.flush()

    def start(self) -> None:
        """Let frames out (a resuming connection holds them until its replay is in place)."""
        self.started = True
        if self._raw and not self.closing:
            self.direct = self._fast
        self.flush()

    def flush(self) -> None:
        """Send what is queued, now, while the socket takes it; hand the rest to a writer task."""
        if not self.started or self._writer is not None:
            return  # not yet (resume), or a writer is already waiting for the peer: it sends this too
        queue = self.queue
        fast = self._fast
        delivery = self._delivery
        while queue:
            text, emitted_at, count = queue.take(delivery.batch)
            if fast is not None and (
                fast.write_wire(delivery.wire(text, fast)) if self._raw else fast.write_text(text)
            ):
                self.frames_sent += 1
                delivery.sent(count, emitted_at)
                continue
            self.direct = None
            self._writer = asyncio.get_running_loop().create_task(self._drain(text, emitted_at, count))
            return

    async def _drain(self, text: str, emitted_at: float | None, count: int) -> None:
        """The socket is backed up (or there is no fast path): await each send; batch what piles up."""
        send = self._send
        queue = self.queue
        delivery = self._delivery
        try:
            while True:
                await send({"type": "websocket.send", "text": text})
                del text  # a finished writer must not keep its last (possibly 512 KiB) frame alive
                self.frames_sent += 1
                delivery.sent(count, emitted_at)
                if not queue:
                    return
                text, emitted_at, count = queue.take(delivery.batch)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-send; the read loop sees the disconnect
            self.closing = True
            queue.clear()
        finally:
            self._writer = None
            if self._raw and not self.closing:
                self.direct = self._fast  # caught up: the dispatch step writes again

    # --- closing ---------------------------------------------------------------------------

    def close(self, code: int, reason: str = "", *, flush: bool = True) -> None:
        """Close once. With flush, frames queued before the close go out first (bounded in time)."""
        if self.closing:
            return
        self.closing = True
        self.direct = None
        self.close_code = code
        self.close_reason = reason
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
        self.direct = None
        self.queue.clear()
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()

    async def wait_closed(self) -> None:
        for task in (self._close_task, self._writer):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # --- what it may see, and its figures ----------------------------------------------------

    def may_see(self, event: Event) -> bool:
        """Whether this connection gets the event: subscribed, allowed, and kept by its filter."""
        return (
            event.type in self.subscriptions
            and audience_allows(event, self.user_id, self.role)
            and (self.filter is None or self.filter.matches(event))
        )

    def info(self) -> dict[str, Any]:
        return {
            "connection_id": self.id,
            "connection_type": self.connection_type.value,
            "user_id": self.user_id,
            "role": self.role.value,
            "connected_at": self.connected_at,
            "subscriptions": sorted(t.value for t in self.subscriptions),
            "filter": None if self.filter is None else self.filter.as_dict(),
            "queue_depth": len(self.queue),
            "frames_sent": self.frames_sent,
        }
