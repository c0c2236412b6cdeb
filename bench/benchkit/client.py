"""The load client: N WebSocket connections in the driver's process, recording every event they receive.

Each connection is an `asyncio.Protocol` with its own frame parser (server frames are never
masked; pings are answered, closes echoed, permessage-deflate inflated) and orjson for the
messages. It is hand-written so that the client costs as little CPU per event as it can: the
client has one core, and when it runs flat out the delivered events/s measure it, not the server.
The websockets library's client, on the same load, costs its core up to twice as much per event
where each event is a frame of its own, and needs its whole core at 50 events/s to 1,000
connections (`library_client`, `ws_bench.py --client websockets`; bench/README.md has the figures).

`Pool` holds what every connection shares: the run being recorded (`Phase`) and the counters of
closes, lost connections and unexpected frames.
"""

from __future__ import annotations

import array
import asyncio
import base64
import collections
import os
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from benchkit.system import log


@dataclass
class Phase:
    """What the connections received during one run."""

    id: int
    received: int = 0
    gaps: int = 0  # an event whose index is not the previous one's + 1 on its connection
    stale: int = 0  # events of another phase
    wire_bytes: int = 0
    last_recv: float = 0.0
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))  # from the emit() call
    sched_latencies: array.array[float] = field(default_factory=lambda: array.array("d"))  # from the due time


class Connection(Protocol):
    """What the pool and the runs need of a connection, whichever client made it."""

    ready: asyncio.Future[None]  # done once the connection can receive events
    last_i: int  # the index of the last event of the current phase it received
    open: bool

    @property
    def deflate_negotiated(self) -> bool: ...

    def close(self) -> Awaitable[None] | None:
        """Start closing; returns what to await for the closing handshake, if anything."""


class Pool:
    """State shared by every connection of the load client."""

    def __init__(self) -> None:
        self.conns: list[Connection] = []
        self.phase: Phase | None = None
        self.closes: collections.Counter[int] = collections.Counter()
        self.lost = 0
        self.other_frames = 0
        self.unexpected_events = 0

    def alive(self) -> list[Connection]:
        return [c for c in self.conns if c.open]

    def begin_phase(self, phase_id: int) -> Phase:
        for conn in self.conns:
            conn.last_i = -1
        self.phase = Phase(phase_id)
        return self.phase

    def message(self, conn: Connection, payload: bytes | str, now: float) -> None:
        """One text message received at `now`: an event, a `batch` of events, `connected` or other."""
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.other_frames += 1
            return
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "batch":
            events = obj["events"]
        elif kind == "config_change":
            events = (obj,)
        else:
            if kind == "connected" and not conn.ready.done():
                conn.ready.set_result(None)
            else:
                self.other_frames += 1
            return
        phase = self.phase
        if phase is None:
            self.unexpected_events += len(events)
            return
        phase_id = phase.id
        record = phase.latencies.append
        record_sched = phase.sched_latencies.append
        last = conn.last_i
        received = 0
        for event in events:
            if event["type"] != "config_change":
                continue
            data = event["data"]
            if data["p"] != phase_id:
                phase.stale += 1
                continue
            record(now - data["t"])
            record_sched(now - data["d"])
            index = data["i"]
            if index != last + 1:
                phase.gaps += 1
            last = index
            received += 1
        conn.last_i = last
        if received:
            phase.received += received
            phase.last_recv = now


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN, masked); used only for small control frames."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


class WsConn(asyncio.Protocol):
    """One client connection: the upgrade handshake, then a minimal frame parser (server frames
    are never masked), text messages handed to the pool, pings answered, closes echoed."""

    __slots__ = (
        "buf",
        "close_code",
        "frag",
        "frag_compressed",
        "inflater",
        "last_i",
        "open",
        "pool",
        "ready",
        "request",
        "reset_inflater",
        "state",
        "transport",
        "want_connected",
    )

    def __init__(self, pool: Pool, request: bytes, want_connected: bool) -> None:
        self.pool = pool
        self.request = request
        self.want_connected = want_connected
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.state = 0  # 0 handshake, 1 open, 2 closed
        self.open = False
        self.inflater: Any = None
        self.reset_inflater = False
        self.frag: list[bytes] | None = None
        self.frag_compressed = False
        self.last_i = -1
        self.close_code: int | None = None

    @property
    def deflate_negotiated(self) -> bool:
        return self.inflater is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.pool.lost += 1
        self.open = False
        self.state = 2
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before it was ready (close {self.close_code})"))

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    def _handshake(self, data: bytes) -> bytes | None:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buf = data
            return None
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            self._fail(f"handshake refused: {lines[0]}")
            return None
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            self.inflater = zlib.decompressobj(-15)
            self.reset_inflater = "server_no_context_takeover" in extensions
        self.state = 1
        self.open = True
        if not self.want_connected:
            self.ready.set_result(None)
        return data[end + 4 :]

    def data_received(self, data: bytes) -> None:
        phase = self.pool.phase
        if phase is not None:
            phase.wire_bytes += len(data)
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if self.state == 0:
            rest = self._handshake(data)
            if not rest:
                return
            data = rest
        now = time.monotonic()
        pos = 0
        size = len(data)
        while size - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                header = 10
            end = pos + header + length
            if end > size:
                break
            payload = data[pos + header : end]
            pos = end
            opcode = b0 & 0x0F
            if opcode in (1, 2):
                if b0 & 0x80:
                    self._message(payload, bool(b0 & 0x40), now)
                else:
                    self.frag = [payload]
                    self.frag_compressed = bool(b0 & 0x40)
            elif opcode == 0:
                if self.frag is not None:
                    self.frag.append(payload)
                    if b0 & 0x80:
                        whole, self.frag = b"".join(self.frag), None
                        self._message(whole, self.frag_compressed, now)
            elif opcode == 9:  # ping: answer at once
                if self.transport is not None:
                    self.transport.write(masked_frame(0xA, payload))
            elif opcode == 8:  # close: echo it, then close the socket
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.close_code = code
                self.pool.closes[code] += 1
                self.open = False
                if self.transport is not None:
                    self.transport.write(masked_frame(0x8, payload[:2]))
                    self.transport.close()
                return
        if pos < size:
            self.buf = data[pos:]

    def _message(self, payload: bytes, compressed: bool, now: float) -> None:
        if compressed and self.inflater is not None:
            if self.reset_inflater:
                self.inflater = zlib.decompressobj(-15)
            payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
        self.pool.message(self, payload, now)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.open:
                self.transport.write(masked_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()
        self.open = False


def upgrade_request(port: int, path: str, subprotocols: list[str], deflate: bool) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(secrets.token_bytes(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
    if deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# (pool, port, path, subprotocols, deflate, want_connected) -> a connection, open and ready
Connect = Callable[[Pool, int, str, list[str], bool, bool], Awaitable[Connection]]


async def connect(
    pool: Pool, port: int, path: str, subprotocols: list[str], deflate: bool, want_connected: bool
) -> Connection:
    """One hand-written connection, added to the pool as soon as its socket is open."""
    request = upgrade_request(port, path, subprotocols, deflate)
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(
        loop.create_connection(lambda: WsConn(pool, request, want_connected), "127.0.0.1", port), 30
    )
    pool.conns.append(conn)
    await asyncio.wait_for(conn.ready, 30)
    return conn


async def open_connections(
    pool: Pool,
    count: int,
    port: int,
    path: str,
    subprotocols: list[str],
    deflate: bool,
    want_connected: bool,
    concurrency: int = 100,
    connect: Connect = connect,
) -> tuple[int, float]:
    """Open `count` connections, `concurrency` handshakes at a time; returns (failures, seconds)."""
    semaphore = asyncio.Semaphore(concurrency)
    failures = 0
    errors: collections.Counter[str] = collections.Counter()

    async def one() -> None:
        nonlocal failures
        async with semaphore:
            try:
                await connect(pool, port, path, subprotocols, deflate, want_connected)
            except (OSError, TimeoutError, ConnectionError) as exc:
                failures += 1
                errors[str(exc)[:120]] += 1

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.monotonic() - started
    if errors:
        log(f"connection failures: {dict(errors.most_common(5))}")
    return failures, elapsed


async def close_connections(pool: Pool) -> None:
    closing = [waiter for conn in pool.conns if (waiter := conn.close()) is not None]
    if closing:
        await asyncio.gather(*closing, return_exceptions=True)
    await asyncio.sleep(0.2)
    pool.conns.clear()
