"""Serving the app under uvicorn: `uvicorn_config` and the protocols it chooses.

`hybrid-dns serve`, the tests and the benchmark all serve `create_app()` through `uvicorn_config`,
which picks our protocol classes and the settings' bounds:

- WebSockets: `HybridWebSocketProtocol` (realtime/uvicorn_protocol.py): protocol v1's close codes,
  the ping limit, and the socket writer the hub uses; frame size (`WEBSOCKET_MAX_FRAME_BYTES`,
  1009 past it), keepalive ping interval and timeout, permessage-deflate;
- HTTP: `HybridH11Protocol`, uvicorn's h11 protocol with a deadline for a request's line and
  headers (`HTTP_HEADER_TIMEOUT`), and a bound on their size (`HTTP_MAX_HEADER_BYTES`);
- a 10 s graceful shutdown;
- `HybridServer`, uvicorn's server that, once started, takes what start-up built out of the
  garbage collector's way (`gc.freeze`).

The app itself serves the WebSocket endpoint and bounds request bodies (app.py), under any server.
Like the WebSocket protocol, the h11 subclass reads uvicorn internals that are not public API:
`UVICORN_H11_ATTRIBUTES` names them, and tests/test_uvicorn_coupling.py checks them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .config import Settings
from .logs import client_error_log, peer
from .realtime.protocol import RateLimit
from .realtime.uvicorn_protocol import HybridWebSocketProtocol

# What HybridH11Protocol relies on in uvicorn's H11Protocol.
UVICORN_H11_ATTRIBUTES = ("client", "conn", "connection_lost", "connection_made", "data_received", "loop", "transport")


class HybridH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers.

    uvicorn times out an idle keep-alive connection, but not one that never sends a request, nor one
    that sends its headers a byte at a time: each would hold a socket (and a file descriptor) for
    ever. The deadline runs from the connection's start, or from the first byte of a later request,
    until its headers are complete; then it is the app's turn (or the WebSocket's keepalive).
    """

    header_timeout: ClassVar[float] = 10.0

    @classmethod
    def configured(cls, header_timeout: float) -> type[HybridH11Protocol]:
        """This class for one server's settings, held by the class: uvicorn makes each instance."""
        return type(cls.__name__, (cls,), {"header_timeout": header_timeout})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # waiting for (the rest of) a request's headers
            if self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            client_error_log.log(
                logging.INFO,
                "http closed client=%s: request headers not complete within %gs",
                peer(self.client),
                self.header_timeout,
            )
            self.transport.close()


GC_YOUNG_THRESHOLD = 10_000


class HybridServer(uvicorn.Server):
    """uvicorn's server, which once started freezes the heap that start-up built.

    Start-up leaves about 160,000 objects the collector tracks (modules, the app, SQLAlchemy's
    mappings, pydantic's schemas) that live as long as the process. Each full collection walked all of
    them again, and a reconnect storm grows the heap fast enough for one collection every 25% of
    growth: a fifth of the CPU of opening 8,000 connections went to the collector, a third of that on
    start-up's objects (bench/connect_bench.py with gc callbacks). `gc.freeze()` moves them to the
    permanent generation, which no collection visits; what becomes garbage later is collected as before.

    The youngest generation is then collected every `GC_YOUNG_THRESHOLD` net allocations instead of
    700 (Python 3.12 made it 2,000): the full collections a storm's growth triggers went from 7 to
    about 1 while opening 8,000 connections (0.48 -> 0.06 s of the collector's time), for cyclic
    garbage that waits a little longer to be freed.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            gc.collect()  # what start-up left over goes now, not frozen for ever
            gc.freeze()
            _, older, oldest = gc.get_threshold()
            gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration that serves `app` (from `create_app(settings)`) as `hybrid-dns serve` does;
    `overrides` are uvicorn options (the tests lower the log level)."""
    ping_limit = RateLimit(
        settings.WEBSOCKET_PING_RATE_LIMIT, settings.WEBSOCKET_PING_RATE_BURST, settings.WEBSOCKET_RATE_STRIKES
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": HybridH11Protocol.configured(settings.HTTP_HEADER_TIMEOUT),
        "h11_max_incomplete_event_size": settings.HTTP_MAX_HEADER_BYTES,
        "ws": HybridWebSocketProtocol.configured(ping_limit),
        "ws_max_size": settings.WEBSOCKET_MAX_FRAME_BYTES,
        "ws_ping_interval": settings.WEBSOCKET_PING_INTERVAL,
        "ws_ping_timeout": settings.ping_timeout,
        "ws_per_message_deflate": settings.WEBSOCKET_PERMESSAGE_DEFLATE,
        "log_level": settings.LOG_LEVEL,
        "timeout_graceful_shutdown": 10,
        # Connections the kernel holds for accept(): after a restart every dashboard reconnects at once,
        # and past this backlog their SYNs are dropped and retried 1, 3, 7... s later (uvicorn's default
        # is 2048; the kernel caps it at net.core.somaxconn, 4096 by default).
        "backlog": 16384,
        "lifespan": "on",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
