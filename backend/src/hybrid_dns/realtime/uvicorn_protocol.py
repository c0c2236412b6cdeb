"""Our WebSocket protocol under uvicorn, and the socket writer it offers the hub.

`HybridWebSocketProtocol` is uvicorn's sans-I/O websockets protocol (no extra task per connection)
with these changes, each a rule of protocol v1 that ASGI cannot express or a bound on what one
client can cost, and one addition for speed:

- a keepalive ping left unanswered closes with 4008 ("no pong"), not 1011;
- shutdown closes with 1001 ("going away"), not 1012, so clients reconnect to another instance;
- a close is written at once even when the peer has stopped reading (the transport is paused),
  so that a slow consumer can be closed with 4050 instead of holding its writer forever; if the
  peer never drains, the socket is aborted after the close timeout;
- a client's ping control frames are answered within a rate (`WEBSOCKET_PING_RATE_LIMIT`); past it
  they are not answered, and a client that keeps on is closed with 4029 (`flooding: too many pings`);
- a text message that is not UTF-8 closes with 1007 and at most one log line (rate-limited), not an
  ERROR with a traceback per frame;
- a handshake request websockets refuses (a header line over 8 KiB, too many headers) gets its 4xx
  answer and is closed, where uvicorn left it hanging;
- the socket writer (`SocketWriter`, a `FastSender` offered to the app as the scope extension
  `FAST_SEND`): the hub writes a frame to a writable socket in the step that dispatches it, with no
  task switch and no ASGI wrappers, and, when no extension (permessage-deflate) is in use, writes
  the frame's bytes encoded once for every connection. When the socket is not writable it says so,
  and the connection falls back to the ASGI `send`, which waits for the peer to drain.

It is also what an idle connection costs, so it trims what uvicorn keeps for each: a one-reader
receive queue and a `writable` flag in place of `asyncio.Queue` and `asyncio.Event`, and the
handshake's headers are not kept once the scope has its copy.

None of uvicorn's protocol internals is public API: `UVICORN_ATTRIBUTES` names every one this
module reads, calls or overrides, pyproject.toml pins the uvicorn releases they were checked
against, and tests/test_uvicorn_coupling.py fails, naming the attribute, when an upgrade drops one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import HeaderLineTooLong, RequestLineTooLong, TooManyHeaders
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from ..logs import client_error_log, peer
from .connection import FAST_SEND
from .protocol import DISCONNECT_CAUSE, PING_FLOODING, CloseCode, FloodGuard, RateLimit, Verdict

# What this module relies on in uvicorn's WebSocketsSansIOProtocol (attributes it reads or sets,
# methods it calls or overrides), and in the websockets ServerProtocol uvicorn gives it as `conn`.
UVICORN_ATTRIBUTES = (
    # state
    "client",
    "close_sent",
    "close_timeout",
    "close_timer",
    "conn",
    "curr_msg_data_type",
    "disconnected",
    "frames",
    "handshake_complete",
    "handshake_initiated",
    "initial_response",
    "loop",
    "pending_ping_payload",
    "pong_timer",
    "queue",
    "read_paused",
    "request",
    "response",
    "scope",
    "transport",
    "writable",
    # behaviour
    "data_received",
    "handle_connect",
    "keepalive_timeout",
    "send",
    "send_receive_event_to_app",
    "shutdown",
    "stop_keepalive",
)
WEBSOCKETS_ATTRIBUTES = (
    "data_to_send",
    "expect_continuation_frame",
    "extensions",
    "handshake_exc",
    "recv_frame",
    "send_close",
    "send_text",
    "state",
)


def encode_text_frame(text: str) -> bytes:
    """A server's (unmasked) text frame with no extension, as bytes: the same for every connection."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class SocketWriter:
    """The `FastSender` of one connection (connection.py): writes now, or says it cannot."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: HybridWebSocketProtocol) -> None:
        self._protocol = protocol

    @property
    def raw_frames(self) -> bool:
        """True when a frame from `encode` is what this connection would send (no extension)."""
        return not self._protocol.conn.extensions

    @staticmethod
    def encode(text: str) -> bytes:
        return encode_text_frame(text)

    def write_text(self, text: str) -> bool:
        """Write a text frame now if the socket is open and writable; False (nothing written) if not."""
        p = self._protocol
        if not p.can_write_now():
            return False
        p.conn.send_text(text.encode())
        p.transport.write(b"".join(p.conn.data_to_send()))
        return True

    def write_wire(self, wire: bytes) -> bool:
        """Write a frame from `encode`, only valid when `raw_frames`; False (nothing written) if not writable.

        The fan-out's inner loop, once per connection and event: the checks of `can_write_now` are
        inlined (a call here cost about 1 µs of the 9 µs of a delivery, measured with bench/ws_bench.py's
        saturation run under cProfile), so keep the two in step."""
        p = self._protocol
        if (
            p.close_sent
            or p.disconnected
            or not p.writable._set
            or not p.handshake_complete
            or p.initial_response is not None
            or p.conn.state is not State.OPEN
            or p.conn.expect_continuation_frame
            or p.transport.is_closing()
        ):
            return False
        p.transport.write(wire)
        return True


class _ReceiveQueue:
    """The part of asyncio.Queue that the protocol uses (put_nowait, get, empty), for one reader.

    A connection lives for hours with this queue empty; asyncio.Queue keeps three deques and a dict
    for it (3.2 KB a connection), this keeps one short list (0.1 KB).
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _Writable:
    """The part of asyncio.Event that the protocol uses for `writable`, with no deque until someone waits
    (asyncio.Event: 0.8 KB a connection; this: 50 bytes)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


def _handshake_refusal(exc: Exception) -> bytes:
    if isinstance(exc, RequestLineTooLong):
        status, text = HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long"
    elif isinstance(exc, HeaderLineTooLong | TooManyHeaders):
        status, text = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request header fields too large"
    else:
        status, text = HTTPStatus.BAD_REQUEST, "invalid request"
    body = text.encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\nConnection: close\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _PingLimitedServerProtocol(ServerProtocol):
    """websockets' server protocol, answering a client's pings only within `ping_limit`.

    websockets queues the pong while it parses the ping, before uvicorn sees it; so the decision is
    taken here, frame by frame (a client can put thousands of pings in one packet). An unanswered
    ping is not an event either. The guard is made at the first ping: most clients never send one.
    """

    ping_limit: RateLimit | None = None
    ping_guard: FloodGuard | None = None
    ping_flooding = False

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PING and self.ping_limit is not None:
            now = time.monotonic()
            guard = self.ping_guard
            if guard is None:
                guard = self.ping_guard = self.ping_limit.guard(now)
            verdict = guard.check(now)
            if verdict is not Verdict.ALLOW:
                if verdict is Verdict.FLOODING:
                    self.ping_flooding = True
                return
        super().recv_frame(frame)


class HybridWebSocketProtocol(WebSocketsSansIOProtocol):
    conn_class: ClassVar[type[_PingLimitedServerProtocol]] = _PingLimitedServerProtocol
    conn: _PingLimitedServerProtocol

    @classmethod
    def configured(cls, ping_limit: RateLimit) -> type[HybridWebSocketProtocol]:
        """This class for one server's settings, held by the class: uvicorn makes each instance."""
        conn_class = type(cls.conn_class.__name__, (cls.conn_class,), {"ping_limit": ping_limit})
        return type(cls.__name__, (cls,), {"conn_class": conn_class})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lighter stand-ins for what every idle connection keeps (see the classes above).
        self.queue = _ReceiveQueue()  # type: ignore[assignment]
        self.writable: _Writable = _Writable()  # type: ignore[assignment]
        # The websockets protocol uvicorn built, with every option it chose, and the ping limit.
        self.conn.__class__ = self.conn_class

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        conn = self.conn
        if conn.ping_flooding:
            if not self.close_sent:
                self.close_now(CloseCode.TOO_MANY, "flooding: too many pings", cause=PING_FLOODING)
        elif not self.handshake_initiated and conn.handshake_exc is not None:
            # websockets refused the request line or headers (uvicorn only looks for frame errors, so
            # without this nothing is written and the socket hangs). Its queued answer quotes the
            # exception; this one names the limit only.
            exc = conn.handshake_exc
            client_error_log.log(logging.INFO, "ws handshake refused client=%s: %s", peer(self.client), exc)
            conn.data_to_send()
            self.transport.write(_handshake_refusal(exc))
            self.transport.close()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type != "text":
            super().send_receive_event_to_app()
            return
        # uvicorn's text path, with a bad message answered as a client error (see the module docstring).
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.frames = []
        if self.close_sent:
            return  # past the close: dropped, so reads stay active until the peer's close reply
        try:
            text = data.decode()
        except UnicodeDecodeError:
            client_error_log.log(logging.INFO, "ws closed 1007 client=%s: text message is not UTF-8", peer(self.client))
            self.close_now(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def close_now(self, code: int, reason: str, cause: str | None = None) -> None:
        """Start the closing handshake from the protocol itself: the app learns it from its `receive`
        (with `cause` under DISCONNECT_CAUSE when the close calls for an alert); a peer that never
        answers is cut off after the close timeout."""
        if self.close_sent or self.transport.is_closing():
            return
        self.stop_keepalive()
        message: dict[str, Any] = {"type": "websocket.disconnect", "code": code, "reason": reason}
        if cause is not None:
            message[DISCONNECT_CAUSE] = cause
        self.queue.put_nowait(message)  # type: ignore[arg-type]
        if self.conn.state is State.OPEN:
            self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False  # so that the peer's close reply is read
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope has its copy of the headers; the request object outlives the handshake (websockets'
        # parser keeps it), so let it keep no headers (they may carry the token).
        event.headers.clear()
        extensions: dict[str, Any] | None = self.scope.get("extensions")
        if extensions is not None:
            extensions[FAST_SEND] = SocketWriter(self)

    def can_write_now(self) -> bool:
        """Open, not closing, and the transport takes data now. On the fan-out's inner path: cheapest first."""
        return not (
            self.close_sent
            or self.disconnected
            or not self.writable._set
            or not self.handshake_complete
            or self.initial_response is not None
            or self.conn.state is not State.OPEN
            or self.conn.expect_continuation_frame
            or self.transport.is_closing()
        )

    def keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping_payload = None
        self.close_now(CloseCode.NO_PONG, "no pong")

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and not self.transport.is_closing():
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1001, "reason": "server shutting down"})
            self.conn.send_close(1001, "server shutting down")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()
            return
        super().shutdown()

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.close" and self.close_sent and self.handshake_complete:
            return  # the protocol closed first (no pong, flooding, bad data): the app's close has nothing to do
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and not self.writable.is_set()
        ):
            # The peer stopped reading: write the close now rather than wait for a drain that may never come.
            self.close_now(message.get("code", 1000), message.get("reason") or "")
            return
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (headers, the token in them) are not needed again.
            self.request = self.response = None  # type: ignore[assignment]
