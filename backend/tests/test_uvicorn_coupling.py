"""The fence around uvicorn's internals: what our protocol subclasses rely on is still there.

`HybridWebSocketProtocol` (realtime/uvicorn_protocol.py) and `HybridH11Protocol` (server.py) read,
set and override attributes of uvicorn's protocols, and of the websockets protocol uvicorn builds,
that are not public API. pyproject.toml pins the uvicorn releases they were checked against; these
tests say which attribute went missing when an upgrade (or a changed pin) takes one away, instead of
a server that misbehaves. They run uvicorn's own protocol classes, unchanged, on a real socket.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import websockets
from conftest import free_port, wait_until
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import connect

from hybrid_dns.realtime.uvicorn_protocol import UVICORN_ATTRIBUTES, WEBSOCKETS_ATTRIBUTES
from hybrid_dns.server import UVICORN_H11_ATTRIBUTES


async def accepting_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accepts a WebSocket and waits for it to close: enough for uvicorn to set its protocol up."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


class PlainUvicorn:
    """uvicorn with its own h11 and sans-I/O WebSocket protocols, in a thread, as the tests' servers run."""

    def __init__(self) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            accepting_app,
            host="127.0.0.1",
            port=self.port,
            ws="websockets-sansio",
            http="h11",
            lifespan="off",
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve())

    def protocols(self, kind: type) -> list[Any]:
        """The server's live protocol objects of this class, read on its own loop."""
        assert self.loop is not None

        async def read() -> list[Any]:
            return [p for p in self.server.server_state.connections if type(p) is kind]

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=10)


@pytest.fixture
def plain_uvicorn() -> Iterator[PlainUvicorn]:
    server = PlainUvicorn()
    server.thread.start()
    deadline = time.monotonic() + 15
    while not server.server.started:
        assert server.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield server
    server.server.should_exit = True
    server.thread.join(timeout=20)


def missing(obj: Any, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not hasattr(obj, name)]


def advice(where: str, names: list[str], module: str) -> str:
    return (
        f"uvicorn {uvicorn.__version__} (websockets {websockets.__version__}): {where} has no "
        f"{', '.join(repr(n) for n in names)}, which {module} relies on. Adapt that module to this "
        f"release, or keep the uvicorn pin in pyproject.toml."
    )


async def test_the_websocket_protocol_has_what_ours_relies_on(plain_uvicorn: PlainUvicorn) -> None:
    async with connect(f"ws://127.0.0.1:{plain_uvicorn.port}/", open_timeout=10):
        await wait_until(
            lambda: bool(plain_uvicorn.protocols(WebSocketsSansIOProtocol)), 10, "uvicorn's WebSocket protocol"
        )
        (protocol,) = plain_uvicorn.protocols(WebSocketsSansIOProtocol)
        gone = missing(protocol, UVICORN_ATTRIBUTES)
        assert not gone, advice("WebSocketsSansIOProtocol", gone, "hybrid_dns/realtime/uvicorn_protocol.py")
        gone = missing(protocol.conn, WEBSOCKETS_ATTRIBUTES)
        assert not gone, advice(
            f"the websockets protocol it uses ({type(protocol.conn).__name__})",
            gone,
            "hybrid_dns/realtime/uvicorn_protocol.py",
        )


async def test_the_h11_protocol_has_what_ours_relies_on(plain_uvicorn: PlainUvicorn) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", plain_uvicorn.port)
    try:
        await wait_until(lambda: bool(plain_uvicorn.protocols(H11Protocol)), 10, "uvicorn's h11 protocol")
        (protocol,) = plain_uvicorn.protocols(H11Protocol)
        gone = missing(protocol, UVICORN_H11_ATTRIBUTES)
        assert not gone, advice("H11Protocol", gone, "hybrid_dns/server.py (HybridH11Protocol)")
    finally:
        writer.close()
