"""Sockets check their token against a snapshot of users and sign-outs (auth/access_cache.py), not two
database round trips each: what a socket is refused stays what the database refuses, at once for every
change a server makes or hears of, and within WEBSOCKET_ACCESS_RECHECK_INTERVAL for a change made
behind every server's back. Real servers, real WebSocket clients, SQLite and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, refused, ws_open
from sqlalchemy import update
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)
from websockets.exceptions import ConnectionClosed

from hybrid_dns.auth import access_cache as access_cache_module
from hybrid_dns.auth.access_cache import AccessCache
from hybrid_dns.auth.sessions import TokenRefused
from hybrid_dns.auth.tokens import issue_token
from hybrid_dns.config import Settings
from hybrid_dns.db import Database
from hybrid_dns.models import RevokedToken, User


async def refused_within(server: Any, ctype: str, user: str, token: str, seconds: float) -> tuple[int, str]:
    """Open sockets until one is refused (an accepted one is closed at once); its close code and reason."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            async with ws_open(server, ctype, user, token=token):
                pass  # still accepted
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, closed
            return closed.rcvd.code, closed.rcvd.reason
        assert time.monotonic() < deadline, f"still accepted after {seconds}s"


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 204), (response.status_code, response.text)
    return response.json() if response.content else None


async def test_a_hundred_sockets_cost_one_read_of_the_users_not_two_hundred(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=3600, WEBSOCKET_MAX_CONNECTIONS_PER_USER=100)
    cache: AccessCache = server.app.state.access_cache
    loads, misses = cache.loads, cache.misses

    async def one(i: int) -> None:
        user = ("viewer", "viewer2", "op", "admin")[i % 4]
        async with ws_open(server, "health", user) as client:
            assert client.connected is not None and client.connected["user_id"] == user

    await asyncio.gather(*(one(i) for i in range(100)))
    assert cache.loads - loads <= 1 and cache.misses == misses


async def test_a_role_change_and_a_disable_refuse_new_sockets_at_once(make_server: Any) -> None:
    # The periodic re-check is an hour away: only the change itself can reach the cache in time.
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=3600)
    token = server.token("op")
    async with ws_open(server, "security", "op", token=token), server.http("admin") as admin:
        ok(await admin.patch("/api/users/op", json={"role": "viewer"}))
        assert await refused(server, "security", "op", token=token) == (4403, "role viewer may not open security")
        async with ws_open(server, "health", "op", token=token) as health:  # what a viewer may open
            assert health.connected is not None and health.connected["role"] == "viewer"
        ok(await admin.patch("/api/users/op", json={"disabled": True}))
        assert await refused(server, "health", "op", token=token) == (4403, "user not allowed")
        ok(await admin.patch("/api/users/op", json={"disabled": False}))
        async with ws_open(server, "health", "op", token=token) as again:
            assert again.connected is not None


async def test_a_change_behind_the_servers_back_applies_within_the_recheck_interval(make_server: Any) -> None:
    """The CLI, or a database edited by hand: no event tells the server. New sockets are refused
    within the re-check interval, as open ones are closed."""
    interval = 0.5
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=interval)
    token = server.token("viewer2")
    async with ws_open(server, "health", "viewer2", token=token) as client:
        assert client.connected is not None  # the snapshot holds viewer2 now

    async def disable() -> None:
        async with server.app.state.db() as session, session.begin():
            await session.execute(update(User).where(User.username == "viewer2").values(is_active=False))

    await server.call(disable())
    assert await refused_within(server, "health", "viewer2", token, 10 * interval) == (4403, "user not allowed")


async def test_a_change_on_one_instance_refuses_new_sockets_on_the_other_at_once(cluster: Cluster) -> None:  # noqa: F811
    cluster.env["WEBSOCKET_ACCESS_RECHECK_INTERVAL"] = "600"  # only the events can do it in time
    a, b = cluster.add("a"), cluster.add("b")
    viewer = cluster.token("viewer")
    async with (
        ws_open(b, "health", "viewer", token=viewer),  # type: ignore[arg-type]  # b's snapshot holds viewer now
        httpx.AsyncClient(base_url=a.base_url, timeout=20, headers=cluster.headers()) as admin,
    ):
        ok(await admin.patch("/api/users/viewer", json={"disabled": True}))
        # the user_updated event reaches b: refused there without waiting for the re-check
        assert await refused_within(b, "health", "viewer", viewer, 5) == (4403, "user not allowed")
    # a sign-out on a: b refuses that session's token, and not the user's other sessions
    signed_out = cluster.token("admin")
    async with ws_open(b, "admin", "admin", token=signed_out):  # type: ignore[arg-type]
        pass
    async with httpx.AsyncClient(base_url=a.base_url, timeout=20) as http:
        ok(await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {signed_out}"}))
    assert await refused_within(b, "admin", "admin", signed_out, 5) == (4401, "token revoked")
    async with ws_open(b, "admin", "admin", token=cluster.token("admin")) as other:  # type: ignore[arg-type]
        assert other.connected is not None


SECRET = "a-test-signing-key-of-enough-length-0123456789"


@pytest.fixture
async def db_with_users(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database holding five active viewers, u0..u4."""
    db = Database(Settings(DATA_DIR=tmp_path, SECRET_KEY=SECRET).database_url)
    await db.migrate()
    try:
        async with db() as session, session.begin():
            session.add_all([User(username=f"u{i}", password_hash="!", role="viewer") for i in range(5)])
        yield db
    finally:
        await db.dispose()


async def test_concurrent_sockets_share_one_read_and_a_read_never_undoes_a_newer_change(
    db_with_users: Database,
) -> None:
    secret, db = SECRET, db_with_users
    now = [0.0]
    cache = AccessCache(db, lambda: 5.0, clock=lambda: now[0])
    tokens = [issue_token(secret, f"u{i % 5}", "viewer", 600) for i in range(50)]
    users = await asyncio.gather(*(cache.current_user(secret, t) for t, _ in tokens))
    assert [u.username for u in users] == [f"u{i % 5}" for i in range(50)] and cache.loads == 1

    # A sign-out and a disable heard of while a read is under way are not undone by it.
    async with db() as session, session.begin():
        await session.execute(update(User).where(User.username == "u1").values(is_active=False))
    now[0] = 10.0
    _, claims = tokens[0]
    reading = asyncio.ensure_future(cache.current_user(secret, tokens[1][0]))
    await asyncio.sleep(0)  # the read has started
    assert cache._loading is not None
    cache.revoke(claims.jti)  # (stored in the database by whoever signed it out: not here)
    cache.forget_user("u1")
    try:
        await reading
        raise AssertionError("u1 was disabled")
    except TokenRefused as exc:
        assert exc.reason == "user not allowed"
    try:
        await cache.current_user(secret, tokens[0][0])
        raise AssertionError("the session was signed out")
    except TokenRefused as exc:
        assert exc.reason == "token revoked"

    # What the database holds wins at the next read (a revocation stored elsewhere, say).
    async with db() as session, session.begin():
        session.add(RevokedToken(jti=tokens[2][1].jti, username="u2", expires_at=time.time() + 600))
    now[0] = 20.0
    try:
        await cache.current_user(secret, tokens[2][0])
        raise AssertionError("revoked in the database")
    except TokenRefused as exc:
        assert exc.reason == "token revoked"
    assert cache.loads == 3


async def test_a_token_is_verified_once_and_its_expiry_still_applies(db_with_users: Database, monkeypatch: Any) -> None:
    secret, db = SECRET, db_with_users
    cache = AccessCache(db, lambda: 3600.0)
    verified: list[str] = []
    real_decode = access_cache_module.decode_token

    def counting_decode(key: str, token: str | None) -> Any:
        verified.append(token or "")
        return real_decode(key, token)

    monkeypatch.setattr(access_cache_module, "decode_token", counting_decode)
    token, claims = issue_token(secret, "u0", "viewer", 2)
    for _ in range(3):  # three tabs of one browser
        assert (await cache.current_user(secret, token)).username == "u0"
    assert verified == [token]

    # the same claims under another signature, or the same token under another secret: checked, refused
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    for key, candidate in ((secret, forged), ("another-signing-key-of-enough-length-987654321", token)):
        try:
            await cache.current_user(key, candidate)
            raise AssertionError("a token that does not verify was accepted")
        except TokenRefused as exc:
            assert exc.reason == "invalid token"
    assert verified == [token, forged, token]

    # once `exp` is reached, the kept claims are refused as PyJWT would refuse the token
    await asyncio.sleep(max(0.0, claims.exp - time.time()) + 0.01)
    for _ in range(2):
        try:
            await cache.current_user(secret, token)
            raise AssertionError("an expired token was accepted")
        except TokenRefused as exc:
            assert exc.reason == "token expired"
