"""The comparison for the hand-written load client: the websockets library's asyncio client, used
as an application would use it (`async for message in connection`), recording into the same `Pool`.

`ws_bench.py --client websockets` runs the benchmark with it, so that the client core's CPU per
received event of both clients can be compared on the same load (bench/README.md). It does not
count wire bytes (the library does not expose them): its runs report 0 wire B/event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from benchkit.client import Connection, Pool


class LibraryConn:
    """One connection of the websockets library's client; a task reads its messages."""

    def __init__(self, pool: Pool, ws: ClientConnection, want_connected: bool) -> None:
        self.pool = pool
        self.ws = ws
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_i = -1
        self.open = True
        self.closing = False
        if not want_connected:
            self.ready.set_result(None)
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def deflate_negotiated(self) -> bool:
        response = self.ws.response
        return response is not None and "permessage-deflate" in response.headers.get("Sec-WebSocket-Extensions", "")

    async def _read(self) -> None:
        pool = self.pool
        try:
            async for message in self.ws:
                pool.message(self, message, time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            if not self.closing:
                received = self.ws.protocol.close_rcvd
                if received is not None:
                    pool.closes[received.code] += 1
                elif self.open:
                    pool.lost += 1
            self.open = False
            if not self.ready.done():
                reason = f"connection closed before it was ready (close {self.ws.close_code})"
                self.ready.set_exception(ConnectionError(reason))

    def close(self) -> Awaitable[None] | None:
        self.closing = True
        self.open = False
        return self._close()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        await self.reader


async def connect(
    pool: Pool, port: int, path: str, subprotocols: list[str], deflate: bool, want_connected: bool
) -> Connection:
    """One library connection, added to the pool once its handshake is done. Client pings are off
    (the hand-written client sends none; the library answers the server's)."""
    try:
        ws = await ws_connect(
            f"ws://127.0.0.1:{port}{path}",
            subprotocols=[Subprotocol(s) for s in subprotocols] or None,
            compression="deflate" if deflate else None,
            proxy=None,
            open_timeout=30,
            ping_interval=None,
            max_size=2**24,
        )
    except WebSocketException as exc:  # a refused handshake: counted as a failure to connect
        raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
    conn = LibraryConn(pool, ws, want_connected)
    pool.conns.append(conn)
    await asyncio.wait_for(conn.ready, 30)
    return conn
