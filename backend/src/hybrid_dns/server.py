"""Running the app under uvicorn, with the three WebSocket behaviours the protocol needs from the server.

`HybridWebSocketProtocol` is uvicorn's sans-I/O websockets protocol (no extra task per connection)
with three changes, each a rule of protocol v1 that ASGI cannot express, and one addition for speed:

- a keepalive ping left unanswered closes with 4008 ("no pong"), not 1011;
- shutdown closes with 1001 ("going away"), not 1012, so clients reconnect to another instance;
- a close is written at once even when the peer has stopped reading (the transport is paused),
  so that a slow consumer can be closed with 4050 instead of holding its writer forever; if the
  peer never drains, the socket is aborted after the close timeout;
- a synchronous write (`FastSender`, offered to the app as the scope extension `FAST_SEND`): the hub
  writes a frame to a writable socket in the step that dispatches it, with no task switch and no
  ASGI wrappers, and, when no extension (permessage-deflate) is in use, writes the frame's bytes
  encoded once for every connection. When the socket is not writable it says so, and the hub falls
  back to the ASGI `send`, which waits for the peer to drain.

And `RedactTokens` keeps `?token=` out of every log line uvicorn writes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from .config import Settings
from .realtime.endpoint import RealtimeWebSocketMiddleware
from .realtime.hub import FAST_SEND

_TOKEN_RE = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_BEARER_RE = re.compile(r"(bearer\.)[A-Za-z0-9_\-.]+", re.IGNORECASE)


def redact(text: str) -> str:
    return _BEARER_RE.sub(r"\1[redacted]", _TOKEN_RE.sub(r"\1[redacted]", text))


class RedactTokens(logging.Filter):
    """Rewrites tokens out of a record's message and arguments, whichever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            if isinstance(record.args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "hybrid_dns"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactTokens) for f in handler.filters):
                handler.addFilter(RedactTokens())


def encode_text_frame(text: str) -> bytes:
    """A server's (unmasked) text frame with no extension, as bytes: the same for every connection."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class FastSender:
    """What the app may do synchronously with one connection (see the module docstring)."""

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
        """Write a frame from `encode`, only valid when `raw_frames`; False (nothing written) if not writable."""
        p = self._protocol
        if not p.can_write_now():
            return False
        p.transport.write(wire)
        return True


class _ReceiveQueue:
    """The part of asyncio.Queue that the protocol uses (put_nowait, get, empty), for one reader.

    A connection lives for hours with this queue empty; asyncio.Queue keeps three deques for it
    (2.4 KB a connection), this keeps one short list.
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
    """The part of asyncio.Event that the protocol uses for `writable`, with no deque until someone waits."""

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


class HybridWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lighter stand-ins for what every idle connection keeps (see the classes above).
        self.queue = _ReceiveQueue()  # type: ignore[assignment]
        self.writable: _Writable = _Writable()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope has its copy of the headers; the request object outlives the handshake (websockets'
        # parser keeps it), so let it keep no headers (they may carry the token).
        event.headers.clear()
        extensions: dict[str, Any] | None = self.scope.get("extensions")
        if extensions is not None:
            extensions[FAST_SEND] = FastSender(self)

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
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 4008, "reason": "no pong"})
        self.conn.send_close(4008, "no pong")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

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
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and not self.writable.is_set()
        ):
            # The peer stopped reading: write the close now rather than wait for a drain that may never come.
            code = message.get("code", 1000)
            reason = message.get("reason") or ""
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.stop_keepalive()
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
            return
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (headers, the token in them) are not needed again.
            self.request = self.response = None  # type: ignore[assignment]


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "ws": HybridWebSocketProtocol,
        "ws_max_size": settings.WEBSOCKET_MAX_FRAME_BYTES,
        "ws_ping_interval": settings.WEBSOCKET_PING_INTERVAL,
        "ws_ping_timeout": settings.ping_timeout,
        "ws_per_message_deflate": settings.WEBSOCKET_PERMESSAGE_DEFLATE,
        "log_level": settings.LOG_LEVEL,
        "timeout_graceful_shutdown": 10,
        "lifespan": "on",
    }
    options.update(overrides)
    realtime = getattr(getattr(app, "state", None), "realtime", None)
    if realtime is not None:
        # The endpoint's middleware is also the outermost layer, so that a WebSocket connection's task
        # does not keep FastAPI's outer middleware frames alive for its whole life (about 1.5 KB each).
        app = RealtimeWebSocketMiddleware(app, realtime)
    return uvicorn.Config(app, **options)
