"""Abuse and exhaustion: what one client can make the server send, store, log, hold open or read.

Against a real server over real sockets; where a well-behaved client library would not send what an
attacker sends (thousands of pings, invalid UTF-8, half a request), the bytes are written by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from conftest import PASSWORD, LiveServer, refused, wait_until, ws_open
from sqlalchemy import select
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from hybrid_dns.config import Settings
from hybrid_dns.logs import ThrottleClientErrors, client_error_log, redact
from hybrid_dns.models import AuditEntry
from hybrid_dns.realtime.abuse import WindowCounter
from hybrid_dns.realtime.metrics import close_code_label

MakeServer = Callable[..., LiveServer]

pytestmark = pytest.mark.timeout(60)  # a safety net: each test waits on its own, much shorter, deadlines


# --- helpers ----------------------------------------------------------------------------------


class RawWs:
    """A WebSocket client that writes any frame it is told to, and records every frame it gets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: ClientProtocol) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = protocol
        self.texts: list[str] = []
        self.pongs = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.eof = False

    def write(self, *frames: Frame) -> None:
        self.writer.write(b"".join(frame.serialize(mask=True) for frame in frames))

    async def read_until(self, predicate: Callable[[], bool], within: float = 10) -> None:
        async with asyncio.timeout(within):
            while not predicate() and not self.eof:
                data = await self.reader.read(65536)
                if data:
                    self.protocol.receive_data(data)
                else:
                    self.protocol.receive_eof()
                    self.eof = True
                for event in self.protocol.events_received():
                    if isinstance(event, Response):
                        continue
                    if event.opcode is Opcode.TEXT:
                        self.texts.append(bytes(event.data).decode())
                    elif event.opcode is Opcode.PONG:
                        self.pongs += 1
                    elif event.opcode is Opcode.CLOSE and self.protocol.close_rcvd is not None:
                        self.close_code = self.protocol.close_rcvd.code
                        self.close_reason = self.protocol.close_rcvd.reason
                self.protocol.data_to_send()  # its automatic replies are not sent: this client writes by hand

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_ws(server: LiveServer, connection_type: str, user: str) -> Any:
    """A raw client past the handshake and the `connected` frame."""
    token = server.token(user)
    uri = parse_uri(server.ws_url(connection_type, user))
    protocol = ClientProtocol(uri, subprotocols=["hybrid-dns.v1", f"bearer.{token}"])  # type: ignore[list-item]
    protocol.send_request(protocol.connect())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    client = RawWs(reader, writer, protocol)
    try:
        writer.write(b"".join(protocol.data_to_send()))
        await client.read_until(lambda: bool(client.texts))
        assert orjson.loads(client.texts[0])["type"] == "connected"
        yield client
    finally:
        await client.close()


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection; TimeoutError if it does not."""
    received = b""
    async with asyncio.timeout(within):
        while True:
            try:
                data = await reader.read(65536)
            except ConnectionResetError:
                return received
            if not data:
                return received
            received += data


async def metric_lines(server: LiveServer, name: str) -> list[str]:
    async with server.http() as http:
        text = (await http.get("/metrics")).text
    return [line for line in text.splitlines() if line.startswith(name + "{")]


async def audit_rows(server: LiveServer, action: str) -> list[dict[str, Any]]:
    async def query() -> list[dict[str, Any]]:
        async with server.app.state.db() as session:
            rows = (await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all()
            return [
                {"actor": r.actor, "source": r.source, "target": r.target, "outcome": r.outcome, "details": r.details}
                for r in rows
            ]

    return await server.call(query())


async def history_of(server: LiveServer, event_type: str) -> list[dict[str, Any]]:
    page = await server.call(server.realtime.broker.history(0, 10_000))
    return [orjson.loads(e.frame) for e in page.events if e.type == event_type]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [logging.Formatter("%(levelname)s %(name)s %(message)s").format(r) for r in self.records]


@contextlib.contextmanager
def capture_logs(*names: str) -> Iterator[_Capture]:
    handler = _Capture()
    loggers = [logging.getLogger(n) for n in names]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


# --- repeats in windows (sans I/O) ------------------------------------------------------------


def test_window_counter_reports_the_first_at_once_and_the_rest_as_one_count() -> None:
    counter: WindowCounter[str, int] = WindowCounter(window=60, max_keys=10, overflow="*")
    assert counter.hit("viewer", 1, now=0.0) is True
    assert [counter.hit("viewer", i, now=float(i)) for i in range(2, 6)] == [False] * 4
    assert counter.hit("other", 9, now=1.0) is True  # keys are counted apart
    assert counter.due(59.0) == []
    [repeats] = counter.due(60.0)
    assert (repeats.key, repeats.count, repeats.info) == ("viewer", 4, 1)
    # Still flooding: counted on for another window, reported once at its end.
    assert counter.hit("viewer", 7, now=70.0) is False
    assert [(r.key, r.count) for r in counter.due(121.0)] == [("viewer", 1)]
    # A window with no repeats is forgotten; the next hit is reported at once again.
    assert counter.due(181.0) == []
    assert len(counter) == 0
    assert counter.hit("viewer", 8, now=200.0) is True


def test_window_counter_is_bounded() -> None:
    counter: WindowCounter[str, str] = WindowCounter(window=10, max_keys=3, overflow="*")
    assert [counter.hit(f"k{i}", "x", now=0.0) for i in range(3)] == [True] * 3
    # Past the cap, newcomers share the overflow key: its first is reported, the others counted.
    assert [counter.hit(f"new{i}", "y", now=1.0) for i in range(1000)] == [True] + [False] * 999
    assert len(counter) == 4
    assert {(r.key, r.count) for r in counter.due(11.0)} == {("*", 999)}


# --- close codes as metric labels -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (1000, "1000"),
        (1006, "1006"),
        (4029, "4029"),
        (4050, "4050"),
        (4403, "4403"),
        (None, "none"),
        (3000, "3xxx"),
        (3999, "3xxx"),
        (4321, "4xxx_other"),
        (4999, "4xxx_other"),
        (2999, "other"),
        (65535, "other"),
    ],
)
def test_close_code_labels_are_a_bounded_set(code: int | None, label: str) -> None:
    assert close_code_label(code) == label


async def test_client_chosen_close_codes_do_not_become_labels(server: LiveServer) -> None:
    codes = [3000 + i * 97 for i in range(11)] + [4000 + i * 89 for i in range(11)]
    for code in codes:
        async with ws_open(server, "health", "viewer") as client:
            await client.ws.close(code=code)
    await wait_until(lambda: server.realtime.hub.user_connection_count("viewer") == 0, 10, "unregistered")
    lines = await metric_lines(server, "hybrid_dns_ws_closed_total")
    labels = {re.search(r'code="([^"]*)"', line)[1] for line in lines}  # type: ignore[index]
    assert labels == {"3xxx", "4xxx_other"}, labels
    counted = {re.search(r'code="([^"]*)"', line)[1]: float(line.split()[-1]) for line in lines}  # type: ignore[index]
    assert counted == {"3xxx": 11.0, "4xxx_other": 11.0}


# --- flooding: one alert per user and cause, not one per socket -------------------------------


async def _flood_until_closed(server: LiveServer, user: str) -> tuple[int | None, str]:
    async with ws_open(server, "health", user) as client:
        with contextlib.suppress(ConnectionClosed):
            for i in range(40):
                await client.send({"type": "ping", "id": i})
        return await client.expect_close(10)


async def test_flooding_sockets_of_one_user_raise_one_alert_and_one_count(make_server: MakeServer) -> None:
    window = 2.0
    server = make_server(
        WEBSOCKET_RATE_LIMIT=5, WEBSOCKET_RATE_BURST=5, WEBSOCKET_RATE_STRIKES=1, SECURITY_ALERT_WINDOW=window
    )
    async with ws_open(server, "admin", "admin") as watcher:
        started = time.monotonic()
        closes = await asyncio.gather(*(_flood_until_closed(server, "viewer") for _ in range(6)))
        flooding_took = time.monotonic() - started
        assert closes == [(4029, "flooding: too many messages")] * 6
        first = await watcher.next_event()
        assert first["type"] == "security_alert" and first["actor"] == "viewer"
        assert first["data"]["alert"] == "websocket_flooding" and first["data"]["user_id"] == "viewer"
        assert "count" not in first["data"]
        # The other five come as a count when the window ends (as two counts if the floods outlasted it).
        follow_ups = []
        while sum(f["data"]["count"] for f in follow_ups) < 5:
            follow_ups.append(await watcher.next_event(timeout=window + 10))
        assert len(follow_ups) <= 1 + int(flooding_took / window)
        for follow_up in follow_ups:
            assert follow_up["type"] == "security_alert" and follow_up["actor"] == "viewer"
            data = follow_up["data"]
            assert (data["alert"], data["user_id"], data["window"]) == ("websocket_flooding", "viewer", window)
            times = "time" if data["count"] == 1 else "times"
            assert data["message"] == f"viewer exceeded the message rate {data['count']} more {times} in the last 2 s"
        marker = await server.emit("health_update", {"marker": True})
        assert (await watcher.next_event())["id"] == marker.id  # nothing else came
    # The history that resume depends on keeps the first and the count, not six alerts.
    assert len(await history_of(server, "security_alert")) == 1 + len(follow_ups)


async def test_flooding_users_are_counted_apart(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_RATE_LIMIT=5, WEBSOCKET_RATE_BURST=5, WEBSOCKET_RATE_STRIKES=1)
    async with ws_open(server, "admin", "admin") as watcher:
        await _flood_until_closed(server, "viewer")
        await _flood_until_closed(server, "viewer2")
        alerts = [await watcher.next_event(), await watcher.next_event()]
        assert sorted(a["data"]["user_id"] for a in alerts) == ["viewer", "viewer2"]


# --- ping control frames ----------------------------------------------------------------------


async def test_ping_flood_is_not_answered_and_is_closed_4029(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_PING_RATE_LIMIT=5, WEBSOCKET_PING_RATE_BURST=20, WEBSOCKET_RATE_STRIKES=3)
    async with ws_open(server, "admin", "admin") as watcher, raw_ws(server, "health", "viewer") as flooder:
        started = time.monotonic()
        flooder.write(*(Frame(Opcode.PING, str(i).encode()) for i in range(2000)))
        await flooder.read_until(lambda: flooder.close_code is not None)
        elapsed = time.monotonic() - started
        assert (flooder.close_code, flooder.close_reason) == (4029, "flooding: too many pings")
        assert 20 <= flooder.pongs <= 20 + 5 * elapsed + 1  # the burst, and no more than the rate
        alert = await watcher.next_event()
        assert alert["type"] == "security_alert" and alert["actor"] == "viewer"
        assert alert["data"]["alert"] == "websocket_ping_flooding" and alert["data"]["connection_type"] == "health"
    await wait_until(lambda: server.realtime.hub.user_connection_count("viewer") == 0, 10, "the flooder to go")


async def test_pings_at_a_sane_rate_are_answered(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_PING_RATE_LIMIT=5, WEBSOCKET_PING_RATE_BURST=20)
    async with ws_open(server, "health", "viewer") as client:
        for i in range(30):  # more than the burst, one at a time: the bucket refills meanwhile
            if i >= 15:
                await asyncio.sleep(0.25)
            latency = await asyncio.wait_for(await client.ws.ping(str(i)), 5)
            assert latency >= 0
        await client.send({"type": "ping", "id": "json"})
        assert (await client.reply("pong"))["id"] == "json"


# --- a client's bad frame is a client error ---------------------------------------------------


async def test_invalid_utf8_closes_1007_with_at_most_one_quiet_line(server: LiveServer) -> None:
    client_error_log.reset()
    started = time.monotonic()
    with capture_logs("uvicorn.error", "hybrid_dns") as captured:
        for _ in range(3):
            async with raw_ws(server, "health", "viewer") as client:
                client.write(Frame(Opcode.TEXT, b'{"type": "ping", "x": "\xff\xfe"}'))
                await client.read_until(lambda: client.close_code is not None)
                assert (client.close_code, client.close_reason) == (1007, "invalid UTF-8 in a text message")

        async def one_bad_frame() -> None:
            async with raw_ws(server, "health", "viewer") as client:
                client.write(Frame(Opcode.TEXT, b"\xc3\x28"))
                await client.read_until(lambda: client.close_code is not None)

        await wait_until(lambda: server.realtime.hub.user_connection_count("viewer") == 0, 10, "all closed")
        await asyncio.gather(*(one_bad_frame() for _ in range(17)))  # under the 20 connections a user may have
        await wait_until(lambda: server.realtime.hub.user_connection_count("viewer") == 0, 10, "all closed")
    took = time.monotonic() - started
    lines = captured.lines()
    about = [line for line in lines if "UTF-8" in line]
    # 20 bad frames: a burst of ten lines, then at most one a second.
    assert 1 <= len(about) <= 10 + int(took) + 1, about
    assert not [r for r in captured.records if r.exc_info or r.levelno >= logging.ERROR], lines
    assert not [line for line in lines if "Traceback" in line]
    async with ws_open(server, "health", "viewer") as client:  # the server is fine
        await client.send({"type": "ping", "id": 1})
        assert (await client.reply("pong"))["id"] == 1


async def test_a_bad_frame_during_authentication_is_closed_quietly(server: LiveServer) -> None:
    """The protocol's own close (here 1007) may come before the app's refusal: the refusal then has
    nothing left to close, and must not fail."""
    token = server.token("viewer")  # valid, so the refusal (role) waits for the user database

    async def bad_frame_while_refused(refusals: Callable[[], int]) -> None:
        before = refusals()
        uri = parse_uri(server.ws_url("admin", "viewer"))
        protocol = ClientProtocol(uri, subprotocols=["hybrid-dns.v1", f"bearer.{token}"])  # type: ignore[list-item]
        protocol.send_request(protocol.connect())
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = RawWs(reader, writer, protocol)
        try:
            writer.write(b"".join(protocol.data_to_send()))
            await client.read_until(lambda: protocol.state is not State.CONNECTING)
            client.write(Frame(Opcode.TEXT, b"\xff"))  # at once: the server is still checking the token
            await client.read_until(lambda: client.close_code is not None)
            assert client.close_code in (1007, 4403)
            await wait_until(lambda: refusals() > before, 10, "the refusal")  # while the socket is open
        finally:
            await client.close()

    with capture_logs("uvicorn.error", "hybrid_dns") as captured:
        for _ in range(10):
            await bad_frame_while_refused(
                lambda: len([r for r in captured.records if r.getMessage().startswith("ws refused")])
            )
    failures = [r for r in captured.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]


async def test_malformed_requests_do_not_flood_the_log(server: LiveServer) -> None:
    for log_filter in logging.getLogger("uvicorn.error").filters:
        if isinstance(log_filter, ThrottleClientErrors):
            log_filter.reset()
    started = time.monotonic()
    with capture_logs("uvicorn.error") as captured:
        for _ in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            assert (await read_until_closed(reader, within=5)).startswith(b"HTTP/1.1 400 ")
            writer.close()
    took = time.monotonic() - started
    lines = [r for r in captured.records if r.getMessage() == "Invalid HTTP request received."]
    assert 1 <= len(lines) <= 10 + int(took) + 1  # a burst, then one a second: not one per request


# --- refused handshakes in the audit log ------------------------------------------------------


async def _refusal_rows(server: LiveServer, total: int, within: float = 15) -> list[dict[str, Any]]:
    """The ws.refused rows, once their counts add up to `total`."""
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = await audit_rows(server, "ws.refused")
        if sum(r["details"]["count"] for r in rows) >= total:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"ws.refused rows did not add up to {total}: {rows}")


async def test_anonymous_refusals_are_one_audit_row_per_window_with_no_actor(make_server: MakeServer) -> None:
    window = 2.0
    server = make_server(REFUSAL_AUDIT_WINDOW=window)
    attempts = 30
    started = time.monotonic()
    for _ in range(attempts):
        assert (await refused(server, "admin", "admin", token="not-a-jwt"))[0] == 4401
    refusing_took = time.monotonic() - started
    rows = await _refusal_rows(server, attempts)
    # The first at once, the other 29 as one count when the window ended: two rows, not thirty
    # (one more per window the refusals outlasted, on a slow machine).
    counts = [r["details"]["count"] for r in rows]
    assert counts[0] == 1 and sum(counts) == attempts
    assert len(rows) <= 2 + int(refusing_took / window), counts
    for row in rows:
        assert row["actor"] is None  # the name in the path was never authenticated
        assert row["details"]["claimed_user"] == "admin"
        assert row["details"]["code"] == 4401 and row["details"]["reason"] == "invalid token"
        assert row["details"]["window"] == window
        assert (row["source"], row["target"], row["outcome"]) == ("127.0.0.1", "/ws/admin", "refused")
    # Metrics count every refusal.
    assert await metric_lines(server, "hybrid_dns_ws_refused_total") == [
        f'hybrid_dns_ws_refused_total{{code="4401"}} {float(attempts)}'
    ]


async def test_refusal_after_authentication_names_the_principal_not_the_path(make_server: MakeServer) -> None:
    server = make_server()
    token = server.token("viewer")
    assert (await refused(server, "health", "admin", token=token))[0] == 4403  # viewer's token, admin's path
    assert (await refused(server, "security", "viewer"))[0] == 4403  # viewer may not open security
    rows = await _refusal_rows(server, 2)
    by_claim = {r["details"]["claimed_user"]: r for r in rows}
    assert by_claim["admin"]["actor"] == "viewer"
    assert by_claim["admin"]["details"]["reason"] == "token does not belong to this user"
    assert by_claim["viewer"]["actor"] == "viewer"
    assert by_claim["viewer"]["details"]["reason"] == "role viewer may not open security"
    assert not [r for r in rows if r["actor"] == "admin"]


async def test_a_long_claimed_name_is_truncated(make_server: MakeServer) -> None:
    server = make_server()
    assert (await refused(server, "health", "x" * 500, token="nope"))[0] == 4401
    [row] = await _refusal_rows(server, 1)
    assert row["details"]["claimed_user"] == "x" * 64 and row["actor"] is None


# --- HTTP: request headers must complete in time ----------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\n", id="half-a-request"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 14_000, id="14KB-of-headers"),
    ],
)
async def test_incomplete_request_headers_are_closed_after_the_header_timeout(
    make_server: MakeServer, sent: bytes
) -> None:
    server = make_server(HTTP_HEADER_TIMEOUT=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    writer.write(sent)
    assert await read_until_closed(reader, within=10) == b""
    assert time.monotonic() - started >= 0.8  # it was the timeout, not a refusal
    writer.close()


async def test_a_request_sent_a_byte_at_a_time_is_closed_at_the_header_timeout(make_server: MakeServer) -> None:
    server = make_server(HTTP_HEADER_TIMEOUT=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" * 10:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    feeder = asyncio.ensure_future(trickle())
    try:
        assert await read_until_closed(reader, within=10) == b""
        assert time.monotonic() - started < 5  # sending bytes does not buy time
    finally:
        feeder.cancel()
        writer.close()


async def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(make_server: MakeServer) -> None:
    server = make_server(HTTP_HEADER_TIMEOUT=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
        await reader.readexactly(length)
    writer.write(b"GET /healthz HTTP/1.1\r\nHo")  # half of the next one, then nothing
    assert await read_until_closed(reader, within=10) == b""
    writer.close()


async def test_slow_but_complete_headers_are_served(make_server: MakeServer) -> None:
    server = make_server(HTTP_HEADER_TIMEOUT=2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for part in (b"GET /healthz HT", b"TP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"):
        writer.write(part)
        await asyncio.sleep(0.2)
    response = await read_until_closed(reader, within=10)
    assert response.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_websocket_upgrade_with_an_oversized_header_is_answered_431(server: LiveServer) -> None:
    token = server.token("viewer")
    request = (
        "GET /ws/health/viewer HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: hybrid-dns.v1, bearer.{token}\r\nX-Pad: {'a' * 14_000}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request.encode())
    response = await read_until_closed(reader, within=5)
    assert response.startswith(b"HTTP/1.1 431 "), response[:100]
    assert response.endswith(b"request header fields too large")
    writer.close()


# --- HTTP: request bodies are bounded ---------------------------------------------------------


async def _post_while_sending(
    server: LiveServer, path: str, headers: str, chunks: Iterator[bytes], within: float = 10
) -> tuple[bytes, int]:
    """POST, sending the body chunk by chunk while reading: returns what the server sent until it
    closed, and how many body bytes had gone out. (A raw socket: a failed send must not stop the
    reading, as it does in asyncio's streams.)"""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n".encode()
    sent = 0

    async def send() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):
            await loop.sock_sendall(sock, head)
            for chunk in chunks:
                await loop.sock_sendall(sock, chunk)
                sent += len(chunk)

    sender = asyncio.ensure_future(send())
    received = b""
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    data = await loop.sock_recv(sock, 65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                received += data
    finally:
        sender.cancel()
        sock.close()
    return received, sent


def _json_body(response: bytes) -> Any:
    return orjson.loads(response.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/api/auth/login", 16 * 1024), ("/api/rpz/rules/import", 16 * 1024 * 1024)],
)
async def test_a_100_mb_body_is_refused_before_it_is_sent(server: LiveServer, path: str, limit: int) -> None:
    total = 100 * 1024 * 1024
    chunks = iter([b"x" * 65536] * (total // 65536))
    response, sent = await _post_while_sending(server, path, f"Content-Length: {total}\r\n", chunks)
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert b"connection: close" in response.lower()
    assert _json_body(response) == {"detail": f"request body too large: at most {limit} bytes"}
    assert sent < total // 4  # answered (and closed) long before the body was all sent


async def test_a_streamed_body_is_counted_and_refused_past_the_limit(server: LiveServer) -> None:
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"  # 16 KiB per chunk, and never a last chunk
    chunks = iter([chunk] * 6400)  # 100 MiB
    response, sent = await _post_while_sending(server, "/api/auth/login", "Transfer-Encoding: chunked\r\n", chunks)
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert _json_body(response) == {"detail": "request body too large: at most 16384 bytes"}
    assert sent < 10 * 1024 * 1024


async def test_bodies_within_the_limits_are_served(server: LiveServer) -> None:
    async with server.http() as http:
        login = await http.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
        assert login.status_code == 200

        async def chunks() -> Any:
            yield b'{"username": "viewer", '
            yield b'"password": "' + PASSWORD.encode() + b'"}'

        streamed = await http.post("/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 200, streamed.text


async def test_the_largest_rpz_bulk_import_fits_the_default_limit(server: LiveServer) -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters, the most a name has
    assert len(longest) == 253
    body = orjson.dumps({"domains": [longest] * 50_000, "action": "no-such-action"}, option=orjson.OPT_INDENT_2)
    assert len(body) <= Settings().HTTP_MAX_BODY_BYTES
    async with server.http("op") as http:
        response = await http.post("/api/rpz/rules/import", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:200]  # read and validated, not refused for its size
    assert "action" in response.json()["detail"]


# --- tokens in the logs, however the query spells them ---------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "token=SECRET",
        "%74oken=SECRET",
        "%74%6F%6B%65%6E=SECRET",
        "to%6Ben=SECRET",
        "TOKEN=SECRET",
        "since=5&%54oken=SECRET&epoch=e",
        "access_%74oken=SECRET",
        "token%20=SECRET",
    ],
)
def test_redact_decodes_query_names(query: str) -> None:
    line = f'127.0.0.1:5000 - "WebSocket /ws/health/viewer?{query}" [accepted]'
    redacted = redact(line)
    assert "SECRET" not in redacted
    assert "[redacted]" in redacted


def test_redact_leaves_other_parameters_alone() -> None:
    line = "GET /api/events?since=5&zone=a%2Eexample&q=a+b HTTP/1.1"
    assert redact(line) == line
