"""Authentication, refusals, the client protocol and the connection's limits, against a real server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import orjson
import pytest
from conftest import PASSWORD, LiveServer, WsClient, refused, ws_open
from helpers_raw import silent_client, until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hybrid_dns.auth.tokens import issue_token
from hybrid_dns.realtime.endpoint import refusal_log
from hybrid_dns.realtime.session import connection_log
from hybrid_dns.realtime.uvicorn_protocol import HybridWebSocketProtocol

MakeServer = Callable[..., LiveServer]

pytestmark = pytest.mark.timeout(30)  # a safety net: each test waits on its own, much shorter, timeouts

EXCEPTION_MARKERS = ("Traceback", "Error(", "Exception", "line 1", "(char ", "orjson", 'File "')


async def frames_until_close(client: WsClient, within: float = 5) -> tuple[list[Any], int | None, str]:
    """Every frame until the server closes (parsed, batches whole), then the close code and reason."""
    frames: list[Any] = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(within):
            while True:
                raw = await client.ws.recv()
                frames.append(raw if raw == "pong" else orjson.loads(raw))
    async with asyncio.timeout(within):
        await client.ws.wait_closed()
    return frames, client.ws.close_code, client.ws.close_reason or ""


async def round_trip(client: WsClient, request_id: Any) -> None:
    """A ping with an id is answered by a pong with the same id (the connection is usable)."""
    await client.send({"type": "ping", "id": request_id})
    pong = await client.reply("pong")
    assert pong["id"] == request_id
    assert pong["timestamp"].endswith("Z")


def ws_count(server: LiveServer, user: str) -> Callable[[], int]:
    return lambda: server.realtime.hub.user_connection_count(user)


# --- the two ways to present a token ----------------------------------------------------------


async def test_token_by_query_connects(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer", via="query") as client:
        assert client.connected is not None
        assert client.connected["user_id"] == "viewer"
        assert client.connected["role"] == "viewer"
        assert client.connected["connection_type"] == "dns_management"
        assert client.ws.subprotocol is None  # none offered, none selected
        await round_trip(client, 1)


async def test_token_by_subprotocol_connects_and_selects_v1(server: LiveServer) -> None:
    async with ws_open(server, "security", "op", via="subprotocol") as client:
        assert client.connected is not None
        assert client.connected["role"] == "operator"
        assert client.ws.subprotocol == "hybrid-dns.v1"  # never the bearer entry
        await round_trip(client, "a")


async def test_subprotocol_token_without_v1_connects_without_a_subprotocol(server: LiveServer) -> None:
    token = server.token("viewer")
    async with ws_open(server, "health", "viewer", subprotocols=[f"bearer.{token}"]) as client:
        assert client.connected is not None and client.connected["user_id"] == "viewer"
        assert client.ws.subprotocol is None


async def test_legacy_health_path_works(server: LiveServer) -> None:
    # /ws/health/{user_id} with ?token= is what older clients use.
    async with ws_open(server, "health", "viewer", via="query") as client:
        assert client.connected is not None
        assert client.connected["connection_type"] == "health"
        assert set(client.connected["subscriptions"]) >= {"health_update", "health_alert", "system_status"}
        await server.emit("health_update", {"status": "ok"})
        event = await client.next_event()
        assert event["type"] == "health_update"
        assert event["data"] == {"status": "ok"}


# --- refusals: 4401 ---------------------------------------------------------------------------


async def test_missing_token_is_4401(server: LiveServer) -> None:
    assert await refused(server, "health", "viewer", via="none") == (4401, "missing token")


async def test_subprotocol_without_bearer_is_4401(server: LiveServer) -> None:
    assert await refused(server, "health", "viewer", subprotocols=["hybrid-dns.v1"]) == (4401, "missing token")


async def test_empty_bearer_is_4401(server: LiveServer) -> None:
    code, _ = await refused(server, "health", "viewer", subprotocols=["hybrid-dns.v1", "bearer."])
    assert code == 4401


@pytest.mark.parametrize("via", ["query", "subprotocol"])
async def test_garbage_token_is_4401(server: LiveServer, via: str) -> None:
    assert await refused(server, "health", "viewer", via=via, token="not-a-jwt") == (4401, "invalid token")


@pytest.mark.parametrize("via", ["query", "subprotocol"])
async def test_wrong_signature_is_4401(server: LiveServer, via: str) -> None:
    token, _ = issue_token("some-other-secret-key-that-is-long-enough", "viewer", "viewer", 3600)
    assert await refused(server, "health", "viewer", via=via, token=token) == (4401, "invalid token")


async def test_tampered_token_is_4401(server: LiveServer) -> None:
    head, payload, sig = server.token("viewer").split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
    assert await refused(server, "health", "viewer", token=tampered) == (4401, "invalid token")


@pytest.mark.parametrize("via", ["query", "subprotocol"])
async def test_expired_token_is_4401(server: LiveServer, via: str) -> None:
    token = server.token("viewer", ttl=-10)
    assert await refused(server, "health", "viewer", via=via, token=token) == (4401, "token expired")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "viewer", "role": "viewer", "exp": now + 600, "iat": now, "jti": "j1"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def test_unsigned_alg_none_token_is_4401(server: LiveServer) -> None:
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    token = f"{header}.{_b64(orjson.dumps(_claims()))}."
    assert await refused(server, "health", "viewer", token=token) == (4401, "invalid token")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"jti": None}, id="no-jti"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"role": None}, id="no-role"),
        pytest.param({"role": "superuser"}, id="unknown-role"),
    ],
)
async def test_well_signed_token_with_bad_claims_is_4401(server: LiveServer, overrides: dict[str, Any]) -> None:
    # The claims are made when the test runs (not when it is collected), so that only the bad claim is bad.
    token = jwt.encode(_claims(**overrides), server.app.state.secret_key, algorithm="HS256")
    assert await refused(server, "health", "viewer", token=token) == (4401, "invalid token")


# --- refusals: 4403 ---------------------------------------------------------------------------


async def test_token_of_another_user_is_4403(server: LiveServer) -> None:
    token = server.token("viewer")
    assert await refused(server, "health", "viewer2", token=token) == (4403, "token does not belong to this user")


@pytest.mark.parametrize(
    ("user", "ctype"),
    [("viewer", "security"), ("viewer", "admin"), ("op", "admin")],
)
async def test_role_not_allowed_is_4403(server: LiveServer, user: str, ctype: str) -> None:
    code, reason = await refused(server, ctype, user)
    assert code == 4403
    assert ctype in reason and "may not open" in reason


@pytest.mark.parametrize(
    ("user", "ctypes"),
    [
        ("viewer", ["health", "dns_management", "system"]),
        ("op", ["health", "dns_management", "system", "security"]),
        ("admin", ["health", "dns_management", "system", "security", "admin"]),
    ],
)
async def test_roles_open_their_connection_types(server: LiveServer, user: str, ctypes: list[str]) -> None:
    for ctype in ctypes:
        async with ws_open(server, ctype, user) as client:
            assert client.connected is not None and client.connected["connection_type"] == ctype


async def test_role_comes_from_the_database_not_the_token(server: LiveServer) -> None:
    forged = server.token("viewer", role="admin")  # validly signed, but viewer is a viewer
    code, _ = await refused(server, "admin", "viewer", token=forged)
    assert code == 4403
    async with ws_open(server, "health", "viewer", token=forged) as client:
        assert client.connected is not None and client.connected["role"] == "viewer"


async def test_token_of_an_unknown_user_is_4403(server: LiveServer) -> None:
    token = server.token("ghost", role="admin")
    assert await refused(server, "admin", "ghost", token=token) == (4403, "user not allowed")


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil.example:8000", "null"],
)
async def test_bad_origin_is_4403(server: LiveServer, origin: str) -> None:
    assert await refused(server, "health", "viewer", origin=origin) == (4403, "origin not allowed")


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"])
async def test_localhost_origins_are_allowed_by_default(server: LiveServer, origin: str) -> None:
    async with ws_open(server, "health", "viewer", origin=origin) as client:
        assert client.connected is not None


async def test_same_origin_is_allowed(server: LiveServer) -> None:
    async with ws_open(server, "health", "viewer", origin=f"http://127.0.0.1:{server.port}") as client:
        assert client.connected is not None


async def test_allowed_origins_setting(make_server: MakeServer) -> None:
    server = make_server(ALLOWED_ORIGINS="https://dns.example.com, https://ops.example.com")
    for origin in ("https://dns.example.com", "https://ops.example.com", f"http://127.0.0.1:{server.port}"):
        async with ws_open(server, "health", "viewer", origin=origin) as client:
            assert client.connected is not None, origin
    for origin in ("http://evil.example", "https://dns.example.com.evil.example", "http://dns.example.com"):
        assert await refused(server, "health", "viewer", origin=origin) == (4403, "origin not allowed"), origin
    # With an explicit list, localhost on another port is no longer allowed by default.
    assert await refused(server, "health", "viewer", origin="http://localhost:5173") == (4403, "origin not allowed")


# --- refusals: 4404, 4400 ---------------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["bogus", "HEALTH", "dns-management", "admins"])
async def test_unknown_connection_type_is_4404(server: LiveServer, ctype: str) -> None:
    assert await refused(server, ctype, "admin") == (4404, "unknown connection type")


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "1e3", "0x10", " 5", "9" * 19, "²"])
async def test_bad_since_is_4400(server: LiveServer, since: str) -> None:
    code, reason = await refused(server, "health", "viewer", query={"since": since})
    assert (code, reason) == (4400, "since must be a non-negative integer")


@pytest.mark.parametrize("since", ["0", "000"])
async def test_good_since_connects(server: LiveServer, since: str) -> None:
    async with ws_open(server, "health", "viewer", query={"since": since}) as client:
        assert client.connected is not None


async def test_too_long_epoch_is_4400(server: LiveServer) -> None:
    assert await refused(server, "health", "viewer", query={"epoch": "e" * 65}) == (4400, "epoch too long")


async def test_token_given_twice_is_4400(server: LiveServer) -> None:
    token = server.token("viewer")
    url = f"{server.ws_url('health', 'viewer')}?token={token}&token={token}"
    async with connect(url, open_timeout=10) as ws:
        client = WsClient(ws)
        assert await client.expect_close() == (4400, "token given more than once")


# --- connections per user ---------------------------------------------------------------------


async def test_connections_per_user_limit(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_MAX_CONNECTIONS_PER_USER=3)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(ws_open(server, "health", "viewer")) for _ in range(3)]
        assert await refused(server, "dns_management", "viewer") == (4029, "too many connections for this user")
        for i, client in enumerate(clients):  # the first three are untouched
            await round_trip(client, i)
        async with ws_open(server, "health", "viewer2") as other:  # the limit is per user
            await round_trip(other, "other")
        await clients[0].close()
        await until(lambda: ws_count(server, "viewer")() == 2, what="the closed connection to be unregistered")
        async with ws_open(server, "health", "viewer") as again:
            await round_trip(again, "again")


async def test_concurrent_connects_respect_the_limit(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_MAX_CONNECTIONS_PER_USER=3)
    release = asyncio.Event()
    token = server.token("viewer")

    async def attempt() -> int | str:
        async with connect(
            server.ws_url("health", "viewer"), subprotocols=["hybrid-dns.v1", f"bearer.{token}"], open_timeout=10
        ) as ws:
            try:
                first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            except ConnectionClosed:
                return ws.close_code or 0
            assert first["type"] == "connected"
            await asyncio.wait_for(release.wait(), 10)
            return "connected"

    tasks = [asyncio.ensure_future(attempt()) for _ in range(8)]
    await until(lambda: sum(t.done() for t in tasks) == 5, what="five refusals")
    release.set()
    outcomes = await asyncio.gather(*tasks)
    assert sorted(map(str, outcomes)) == ["4029"] * 5 + ["connected"] * 3


# --- inbound rate limiting --------------------------------------------------------------------


async def test_flooding_is_rate_limited_then_closed_and_reported(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_RATE_LIMIT=5, WEBSOCKET_RATE_BURST=5, WEBSOCKET_RATE_STRIKES=2)
    async with ws_open(server, "admin", "admin") as watcher, ws_open(server, "health", "viewer") as flooder:
        with contextlib.suppress(ConnectionClosed):
            for i in range(30):
                await flooder.send({"type": "ping", "id": i})
        frames, code, reason = await frames_until_close(flooder)
        assert (code, reason) == (4029, "flooding: too many messages")
        errors = [f for f in frames if f.get("type") == "error"]
        pongs = [f for f in frames if f.get("type") == "pong"]
        assert [e["code"] for e in errors] == ["rate_limited", "rate_limited"]  # WEBSOCKET_RATE_STRIKES errors
        assert len(pongs) >= 5  # the burst was served
        ids = [p["id"] for p in pongs]
        assert ids[:5] == [0, 1, 2, 3, 4] and ids == sorted(set(ids))  # in order, each answered once
        alert = await watcher.next_event()
        assert alert["type"] == "security_alert"
        assert alert["actor"] == "viewer"
        assert alert["data"]["alert"] == "websocket_flooding"
        assert alert["data"]["user_id"] == "viewer"
        assert alert["data"]["connection_type"] == "health"
        await round_trip(watcher, "still-here")  # the watcher was not limited


# --- bad client frames: an error frame, and the connection goes on ----------------------------


BAD_FRAMES = [
    pytest.param("{not json", "invalid_json", None, id="invalid-json"),
    pytest.param("[1, 2, 3]", "invalid_message", None, id="json-array"),
    pytest.param('{"id": "m1"}', "invalid_message", "m1", id="missing-type"),
    pytest.param('{"type": 42, "id": "m2"}', "invalid_message", "m2", id="non-string-type"),
    pytest.param('{"type": "bogus", "id": "m3"}', "unknown_message_type", "m3", id="unknown-type"),
    pytest.param('{"type": "subscribe", "event_types": "health_update"}', "invalid_message", None, id="bad-list"),
    pytest.param(
        '{"type": "subscribe", "event_types": ["no_such_event"], "id": 5}', "unknown_event", 5, id="unknown-event"
    ),
    pytest.param(
        '{"type": "subscribe", "event_types": ["zone_created"], "id": 6}', "forbidden_event", 6, id="forbidden-event"
    ),
    pytest.param(b"\x00\x01binary", "invalid_message", None, id="binary"),
    pytest.param(b'{"type": "ping", "id": 1}', "invalid_message", None, id="binary-json"),
]


@pytest.mark.parametrize(("frame", "code", "request_id"), BAD_FRAMES)
async def test_bad_frame_gets_an_error_and_the_connection_stays_usable(
    server: LiveServer, frame: str | bytes, code: str, request_id: Any
) -> None:
    async with ws_open(server, "health", "viewer") as client:
        await client.ws.send(frame)
        error = await client.reply("error")
        assert error["code"] == code
        assert error["id"] == request_id
        assert isinstance(error["message"], str) and error["message"]
        for marker in EXCEPTION_MARKERS:
            assert marker not in error["message"], error["message"]
        await round_trip(client, "after-error")
        await server.emit("health_update", {"n": 1})
        event = await client.next_event()
        assert event["type"] == "health_update" and event["data"] == {"n": 1}
        assert client.ws.close_code is None


async def test_many_bad_frames_do_not_close_the_connection(server: LiveServer) -> None:
    async with ws_open(server, "health", "viewer") as client:
        for frame in ("{", "[]", '{"type": "nope"}', b"\xff"):
            await client.ws.send(frame)
        codes = [(await client.reply("error"))["code"] for _ in range(4)]
        assert codes == ["invalid_json", "invalid_message", "unknown_message_type", "invalid_message"]
        await round_trip(client, 99)


# --- the client protocol ----------------------------------------------------------------------


async def test_subscribe_and_unsubscribe_change_what_arrives(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client:
        assert client.connected is not None and "zone_created" in client.connected["subscriptions"]
        await client.send({"type": "unsubscribe", "event_types": ["zone_created"], "id": "u1"})
        reply = await client.reply("subscriptions")
        assert reply["id"] == "u1"
        assert "zone_created" not in reply["subscriptions"] and "zone_updated" in reply["subscriptions"]
        await server.emit("zone_created", {"zone": "a.example"})
        await server.emit("zone_updated", {"zone": "b.example"})
        event = await client.next_event()
        assert (event["type"], event["data"]) == ("zone_updated", {"zone": "b.example"})
        assert not client.pending

        await client.send({"type": "subscribe", "events": ["zone_created"], "id": "s1"})
        reply = await client.reply("subscriptions")
        assert reply["id"] == "s1" and "zone_created" in reply["subscriptions"]
        await server.emit("zone_created", {"zone": "c.example"})
        event = await client.next_event()
        assert (event["type"], event["data"]) == ("zone_created", {"zone": "c.example"})


async def test_get_stats_returns_a_stats_frame(server: LiveServer) -> None:
    async with ws_open(server, "system", "viewer") as client, ws_open(server, "admin", "admin") as admin:
        assert client.connected is not None and admin.connected is not None
        await client.send({"type": "get_stats", "id": "st"})
        stats = await client.reply("stats")
        assert stats["id"] == "st"
        assert stats["data"]["connection"]["connection_id"] == client.connected["connection_id"]
        assert stats["data"]["connection"]["user_id"] == "viewer"
        assert "total_connections" not in stats["data"]  # the server's figures are for admins
        await admin.send({"type": "get_stats", "id": 2})
        stats = await admin.reply("stats")
        assert stats["id"] == 2
        assert stats["data"]["total_connections"] == 2
        assert stats["data"]["connection"]["connection_id"] == admin.connected["connection_id"]


async def test_bare_text_ping_gets_bare_pong(server: LiveServer) -> None:
    async with ws_open(server, "health", "viewer") as client:
        await client.ws.send("ping")
        assert await asyncio.wait_for(client.ws.recv(), 5) == "pong"
        await round_trip(client, "json-ping-still-works")


async def test_frame_over_64_kib_closes_with_1009(server: LiveServer) -> None:
    async with ws_open(server, "health", "viewer") as client:
        near = '{"type": "ping", "id": "big", "pad": "' + "x" * (60 * 1024) + '"}'
        await client.ws.send(near)  # under the limit: answered
        assert (await client.reply("pong"))["id"] == "big"
        too_big = '{"type": "ping", "pad": "' + "x" * (64 * 1024) + '"}'
        await client.ws.send(too_big)
        code, _ = await client.expect_close(5)
        assert code == 1009
    await until(lambda: ws_count(server, "viewer")() == 0, what="the closed connection to be unregistered")


# --- session expiry ---------------------------------------------------------------------------


async def test_session_expiry_sends_session_expired_then_closes_4001(server: LiveServer) -> None:
    token = server.token("viewer", ttl=2)
    started = time.monotonic()
    async with (
        ws_open(server, "health", "viewer", token=token) as client,
        ws_open(server, "health", "viewer2") as bystander,
    ):
        event = await client.next_event(timeout=4)
        assert time.monotonic() - started >= 0.5  # not at connect time
        assert event["type"] == "session_expired"
        assert event["data"]["reason"] == "token_expired"
        assert event["data"]["expired_at"].endswith("Z")
        assert await client.expect_close(3) == (4001, "session expired")
        # Only its own user sees it: the bystander's next event is the one emitted after.
        await server.emit("health_update", {"after": True})
        assert (await bystander.next_event())["type"] == "health_update"


async def test_session_expiry_on_two_connections_of_one_token(server: LiveServer) -> None:
    token = server.token("viewer", ttl=2)
    async with (
        ws_open(server, "health", "viewer", token=token) as a,
        ws_open(server, "system", "viewer", token=token, via="query") as b,
    ):
        results = await asyncio.gather(frames_until_close(a, 4), frames_until_close(b, 4))
    for frames, code, reason in results:
        assert (code, reason) == (4001, "session expired")
        assert [f["type"] for f in frames] == ["session_expired"]  # once per connection, then the close


# --- keepalive --------------------------------------------------------------------------------


async def test_client_that_answers_pings_stays_connected(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_PING_INTERVAL=0.5, WEBSOCKET_PING_TIMEOUT=0.5)
    async with ws_open(server, "health", "viewer") as client:
        assert client.connected is not None and client.connected["ping_interval"] == 0.5
        # Four ping intervals go by without the server closing (websockets answers pings itself).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.ws.wait_closed(), 2.0)
        await round_trip(client, "alive")
        protocols = [p for p in server.server.server_state.connections if isinstance(p, HybridWebSocketProtocol)]
        assert len(protocols) == 1
        assert protocols[0].last_ping_rtt > 0  # the server did ping, and got its pongs


async def test_client_that_never_answers_pings_is_closed_4008(make_server: MakeServer) -> None:
    server = make_server(WEBSOCKET_PING_INTERVAL=0.5, WEBSOCKET_PING_TIMEOUT=0.5)
    token = server.token("viewer")
    result = await silent_client(server.ws_url("health", "viewer"), ["hybrid-dns.v1", f"bearer.{token}"], within=5)
    assert result.status == 101
    assert result.subprotocol == "hybrid-dns.v1"
    assert result.texts and orjson.loads(result.texts[0])["type"] == "connected"
    assert result.pings >= 1
    assert (result.close_code, result.close_reason) == (4008, "no pong")
    await until(lambda: ws_count(server, "viewer")() == 0, what="the silent connection to be unregistered")


# --- tokens stay out of the logs --------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "hybrid_dns")


@contextlib.contextmanager
def capture_server_logs() -> Iterator[_Capture]:
    """Capture every record of the server's loggers, with uvicorn at DEBUG so that it logs request lines."""
    handler = _Capture()
    saved = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if name:  # leave the root's level alone: client-side libraries log through it
            saved[name] = logger.level
            logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("via", ["query", "subprotocol"])
async def test_token_never_appears_in_server_logs(server: LiveServer, via: str) -> None:
    token = server.token("viewer")
    other = server.token("viewer2")
    garbage = "garbage-token-d41d8cd98f00b204e9800998ecf8427e"
    # the refusal and connection lines are rate-limited per process: earlier tests may have used them up
    refusal_log.reset()
    connection_log.reset()
    with capture_server_logs() as captured:
        async with ws_open(server, "health", "viewer", token=token, via=via) as client:
            await round_trip(client, 1)
        assert (await refused(server, "health", "viewer", token=other, via=via))[0] == 4403
        assert (await refused(server, "health", "viewer", token=garbage, via=via))[0] == 4401
        await until(lambda: ws_count(server, "viewer")() == 0, what="connections to be unregistered")
    lines = captured.lines
    for secret in (token, other, garbage):
        leaks = [line for line in lines if secret in line]
        assert not leaks, leaks
    # Not even the signature part on its own.
    for secret in (token, other):
        signature = secret.rsplit(".", 1)[1]
        assert not [line for line in lines if signature in line]
    # And the test did see the lines that would carry a token, redacted: the request line (query)
    # or the Sec-WebSocket-Protocol header (subprotocol), and the app's own connect/refuse lines.
    marker = "token=[redacted]" if via == "query" else "bearer.[redacted]"
    assert any(marker in line for line in lines), lines
    assert any("ws connect" in line and "user=viewer" in line for line in lines), lines
    assert any("ws refused" in line for line in lines), lines


@pytest.mark.parametrize("name", ["%74oken", "%74%6F%6B%65%6E", "to%6Ben"])
async def test_token_under_a_percent_encoded_name_never_appears_in_server_logs(server: LiveServer, name: str) -> None:
    token = server.token("viewer")
    url = f"{server.ws_url('health', 'viewer')}?x=1&{name}={token}"
    with capture_server_logs() as captured:
        async with connect(url, open_timeout=10) as ws:  # the server decodes the name: it is the token
            client = WsClient(ws)
            assert (await client.reply("connected"))["user_id"] == "viewer"
            await round_trip(client, name)
        await until(lambda: ws_count(server, "viewer")() == 0, what="the connection to be unregistered")
    lines = captured.lines
    assert any(f"{name}=[redacted]" in line for line in lines), lines  # the request line was logged, redacted
    signature = token.rsplit(".", 1)[1]
    assert not [line for line in lines if signature in line]


# --- POST /api/auth/login ---------------------------------------------------------------------


@pytest.mark.parametrize(("user", "role"), [("viewer", "viewer"), ("op", "operator"), ("admin", "admin")])
async def test_login_gives_a_token_that_opens_a_socket(server: LiveServer, user: str, role: str) -> None:
    async with server.http() as http:
        response = await http.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["username"] == user and body["role"] == role
    assert body["expires_in"] > 0
    async with ws_open(server, "health", user, token=body["access_token"], via="query") as client:
        assert client.connected is not None and client.connected["role"] == role


async def test_login_failures_are_401_with_one_message(server: LiveServer) -> None:
    async with server.http() as http:
        wrong_password = await http.post("/api/auth/login", json={"username": "viewer", "password": "wrong"})
        unknown_user = await http.post("/api/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert wrong_password.status_code == 401
    assert unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.json()["detail"]
    assert "access_token" not in wrong_password.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"username": "viewer"}, id="no-password"),
        pytest.param({"password": PASSWORD}, id="no-username"),
        pytest.param({"username": 123, "password": PASSWORD}, id="int-username"),
        pytest.param({"username": "viewer", "password": ["s3cret-in-a-list"]}, id="list-password"),
        pytest.param({"username": None, "password": PASSWORD}, id="null-username"),
        pytest.param({"username": "", "password": PASSWORD}, id="empty-username"),
        pytest.param({"username": "v" * 65, "password": PASSWORD}, id="long-username"),
        pytest.param({"username": "viewer", "password": "p" * 1025}, id="long-password"),
        pytest.param([], id="array"),
        pytest.param("viewer", id="string"),
    ],
)
async def test_login_bad_body_is_422(server: LiveServer, body: Any) -> None:
    async with server.http() as http:
        response = await http.post("/api/auth/login", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert "s3cret-in-a-list" not in response.text  # the input is not echoed back


@pytest.mark.parametrize(
    ("content", "content_type"),
    [("{not json", "application/json"), ("", "application/json"), ("username=viewer", "text/plain")],
)
async def test_login_unparseable_body_is_422(server: LiveServer, content: str, content_type: str) -> None:
    async with server.http() as http:
        response = await http.post("/api/auth/login", content=content, headers={"content-type": content_type})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
