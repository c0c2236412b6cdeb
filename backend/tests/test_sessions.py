"""Sessions and secrets: open sockets follow changes to their user and session, logout tells the
truth, weak signing keys are refused, and the database and its directory are owner-only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PASSWORD, LiveServer, pg_database, refused, ws_open
from sqlalchemy import delete, text
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)

from hybrid_dns.app import create_app
from hybrid_dns.auth.passwords import hash_password
from hybrid_dns.auth.tokens import InvalidToken, WeakSecretKey, _verifying_key, decode_token, issue_token
from hybrid_dns.auth.users import set_role
from hybrid_dns.config import Settings
from hybrid_dns.models import RevokedToken, User

RECHECK = 0.5  # seconds between access re-checks in these tests


async def cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`hybrid-dns ...` as an operator runs it on the host of a running server (same DATA_DIR)."""
    env = {**os.environ, "DATA_DIR": str(server.settings.DATA_DIR)}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hybrid_dns.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def add_user(server: LiveServer, name: str, role: str) -> None:
    async def add() -> None:
        async with server.app.state.db() as session, session.begin():
            session.add(User(username=name, password_hash=hash_password(PASSWORD), role=role, is_active=True))

    await server.call(add())


async def still_open(client: Any, label: str) -> None:
    await client.send({"type": "ping", "id": label})
    assert (await client.reply("pong"))["id"] == label


async def login(server: LiveServer, username: str) -> httpx.Response:
    async with server.http() as http:
        return await http.post("/api/auth/login", json={"username": username, "password": PASSWORD})


# --- access re-check ---------------------------------------------------------------------------


async def test_demoting_an_admin_closes_only_the_sockets_its_new_role_may_not_hold(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=RECHECK)
    await add_user(server, "boss", "admin")  # so that "admin" is not the last admin
    async with (
        ws_open(server, "admin", "admin") as admin_socket,
        ws_open(server, "security", "admin") as security,
        ws_open(server, "health", "admin") as health,
        ws_open(server, "system", "admin") as system,
    ):
        assert (await login(server, "viewer2")).status_code == 200
        seen = await system.next_event()  # an admin sees every user's logins
        assert (seen["type"], seen["data"]["username"]) == ("user_login", "viewer2")

        done = await cli(server, "set-role", "admin", "viewer")
        assert done.returncode == 0, done.stderr
        assert "'admin' is now viewer (was admin)" in done.stdout

        assert await admin_socket.expect_close() == (4403, "role viewer may not open admin")
        assert await security.expect_close() == (4403, "role viewer may not open security")
        await still_open(health, "health stays")
        await still_open(system, "system stays")
        # The sockets that stay filter by the new role: another user's login is no longer shown.
        assert (await login(server, "viewer2")).status_code == 200
        marker = await server.emit("config_change", {"section": "marker"})
        assert (await system.next_event())["id"] == marker.id
    assert await refused(server, "admin", "admin") == (4403, "role viewer may not open admin")


async def test_disabling_a_user_closes_all_its_sockets_and_enabling_lets_it_back(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=RECHECK)
    token = server.token("op")
    async with ws_open(server, "security", "op", token=token) as security, ws_open(server, "health", "op") as health:
        done = await cli(server, "disable", "op")
        assert done.returncode == 0, done.stderr
        assert await security.expect_close() == (4403, "user not allowed")
        assert await health.expect_close() == (4403, "user not allowed")
    assert await refused(server, "health", "op", token=token) == (4403, "user not allowed")
    async with server.http() as http:
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401

    done = await cli(server, "enable", "op")
    assert done.returncode == 0, done.stderr
    async with ws_open(server, "security", "op", token=token) as again:
        await still_open(again, "back")


async def test_deleting_a_user_closes_all_its_sockets(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=RECHECK)

    async def delete_viewer() -> None:
        async with server.app.state.db() as session, session.begin():
            await session.execute(delete(User).where(User.username == "viewer"))

    async with ws_open(server, "health", "viewer") as health, ws_open(server, "system", "viewer") as system:
        async with ws_open(server, "health", "viewer2") as other:
            await server.call(delete_viewer())
            assert await health.expect_close() == (4403, "user not allowed")
            assert await system.expect_close() == (4403, "user not allowed")
            await still_open(other, "another user is untouched")


async def test_a_change_made_in_this_process_applies_at_once(make_server: Any) -> None:
    """What the users API will do: change the user, then `Realtime.recheck_user` (no waiting for the sweep)."""
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=3600)
    async with ws_open(server, "security", "op") as security, ws_open(server, "health", "op") as health:

        async def demote() -> int:
            await set_role(server.app.state.db, "op", "viewer", actor="admin", via="test")
            return await server.realtime.recheck_user("op")

        assert await server.call(demote()) == 1
        assert await security.expect_close(timeout=5) == (4403, "role viewer may not open security")
        await still_open(health, "health stays")
    async with server.http("admin") as admin:
        entries = (await admin.get("/api/audit", params={"action": "user.role_changed"})).json()["entries"]
        assert entries[0]["target"] == "op" and entries[0]["actor"] == "admin"
        assert entries[0]["details"] == {"old": "operator", "new": "viewer", "via": "test"}


async def test_a_session_signed_out_elsewhere_is_closed_by_the_re_check(make_server: Any) -> None:
    """Another instance stored the sign-out while the broker was down: no event comes, the database
    says it, and this instance's re-check closes the session's sockets."""
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=RECHECK)
    token = (await login(server, "viewer")).json()["access_token"]
    claims = decode_token(server.app.state.secret_key, token)

    async def revoke_elsewhere() -> None:
        async with server.app.state.db() as session, session.begin():
            session.add(RevokedToken(jti=claims.jti, username="viewer", expires_at=float(claims.exp)))

    async with (
        ws_open(server, "health", "viewer", token=token) as signed_out,
        ws_open(server, "system", "viewer") as other,
    ):
        await server.call(revoke_elsewhere())
        assert await signed_out.expect_close() == (4001, "signed out")
        await still_open(other, "the user's other session stays")


# --- logout --------------------------------------------------------------------------------------


async def test_logout_with_the_broker_down_still_closes_the_sessions_sockets(cluster: Cluster) -> None:  # noqa: F811
    # a re-checks too rarely to matter here: only its own logout handling can close its socket in time.
    cluster.env["WEBSOCKET_ACCESS_RECHECK_INTERVAL"] = "600"
    a = cluster.add("a")
    cluster.env["WEBSOCKET_ACCESS_RECHECK_INTERVAL"] = "1"
    b = cluster.add("b")
    token = cluster.token("viewer")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        ws_open(a, "health", "viewer", token=token) as on_a,  # type: ignore[arg-type]
        ws_open(b, "health", "viewer", token=token) as on_b,  # type: ignore[arg-type]
        ws_open(b, "system", "viewer", token=cluster.token("viewer")) as other_session,  # type: ignore[arg-type]
    ):
        cluster.redis.stop()
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(f"{a.base_url}/api/auth/logout", headers=headers)
            assert response.status_code == 204
            # On the instance that served the logout: at once.
            assert await on_a.expect_close(timeout=3) == (4001, "signed out")
            # On the other: no event can come, its re-check reads the revocation.
            assert await on_b.expect_close(timeout=10) == (4001, "signed out")
            me = await http.get(f"{b.base_url}/api/auth/me", headers=headers)
            assert me.status_code == 401 and me.json()["detail"] == "token revoked"
        await still_open(other_session, "another session of the user stays")


async def test_a_logout_that_cannot_be_stored_answers_503_and_changes_nothing(server: LiveServer) -> None:
    token = (await login(server, "viewer")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    async def sql(statement: str) -> None:
        async with server.app.state.db.engine.begin() as conn:
            await conn.execute(text(statement))

    # The database refuses the write (as a full disk or a read-only replica would); reads still work.
    await server.call(
        sql(
            "CREATE TRIGGER refuse_revocations BEFORE INSERT ON revoked_tokens "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    )
    async with ws_open(server, "health", "viewer", token=token) as socket, server.http() as http:
        response = await http.post("/api/auth/logout", headers=headers)
        assert response.status_code == 503
        assert response.json()["detail"] == "could not sign out: the session store is unavailable; try again"
        assert "disk" not in response.text
        await still_open(socket, "not signed out")
        assert (await http.get("/api/auth/me", headers=headers)).status_code == 200

        await server.call(sql("DROP TRIGGER refuse_revocations"))
        assert (await http.post("/api/auth/logout", headers=headers)).status_code == 204
        assert await socket.expect_close(timeout=5) == (4001, "signed out")


# --- the signing key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "0 bytes"),
        ("x", "1 bytes"),
        ("0123456789abcdef0123456789abcde", "31 bytes"),
        ("ab" * 32, "repeats a few characters"),
    ],
)
def test_a_weak_secret_key_is_refused_at_start_and_nothing_is_written(tmp_path: Path, key: str, why: str) -> None:
    data = tmp_path / "data"
    with pytest.raises(WeakSecretKey, match="SECRET_KEY is too weak") as refused_key:
        create_app(Settings(DATA_DIR=data, SECRET_KEY=key))
    assert why in str(refused_key.value)
    assert len(key) < 8 or key not in str(refused_key.value)  # never echoed
    assert not data.exists()


def test_a_weak_stored_key_is_refused_and_a_strong_one_accepted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "secret-key").write_text("short\n")
    with pytest.raises(WeakSecretKey, match=r"secret-key is too weak: 5 bytes"):
        create_app(Settings(DATA_DIR=data))
    app = create_app(Settings(DATA_DIR=tmp_path / "other", SECRET_KEY="f" * 8 + os.urandom(16).hex()))
    assert len(app.state.secret_key) == 40


def test_serve_with_a_weak_secret_key_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "hunter2-but-short"}
    done = subprocess.run(
        [sys.executable, "-m", "hybrid_dns.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: SECRET_KEY is too weak: 17 bytes, at least 32")
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout
    assert not (tmp_path / "data").exists()


# --- file modes ---------------------------------------------------------------------------------


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022: files would be created readable by everyone unless created otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_database_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    server = LiveServer(tmp_path / "data").start()
    try:
        data = server.settings.DATA_DIR
        assert mode(data) == 0o700
        for name in ("hybrid-dns.db", "hybrid-dns.db-wal", "hybrid-dns.db-shm", "secret-key"):
            assert mode(data / name) == 0o600, name
    finally:
        server.stop()


def test_the_cli_creates_the_database_owner_only_too(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    env = {**os.environ, "DATA_DIR": str(data), "HYBRID_DNS_PASSWORD": "long enough password"}
    done = subprocess.run(
        [sys.executable, "-m", "hybrid_dns.cli", "create-user", "alice", "--role", "viewer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        umask=0o022,
    )
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700 and mode(data / "hybrid-dns.db") == 0o600


def test_an_existing_data_directory_keeps_its_mode(tmp_path: Path, loose_umask: None) -> None:
    """An operator's own directory (shared on purpose, or /tmp) is never changed, only warned about."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    server = LiveServer(shared).start()
    try:
        assert mode(shared) == 0o755
        assert mode(shared / "hybrid-dns.db") == 0o600
    finally:
        server.stop()


async def test_access_re_check_and_logout_on_postgresql(tmp_path: Path) -> None:
    """The production database: row locks of a role change, the re-check's queries, revocation."""
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(pg_database())
        server = LiveServer(tmp_path / "data", DATABASE_URL=url, WEBSOCKET_ACCESS_RECHECK_INTERVAL=RECHECK).start()
        stack.callback(server.stop)
        token = (await login(server, "op")).json()["access_token"]
        async with (
            ws_open(server, "security", "op") as security,
            ws_open(server, "health", "op", token=token) as health,
        ):
            await server.call(set_role(server.app.state.db, "op", "viewer", actor=None, via="test"))
            assert await security.expect_close() == (4403, "role viewer may not open security")
            await still_open(health, "health stays")
            async with server.http() as http:
                logout = await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
                assert logout.status_code == 204
            assert await health.expect_close(timeout=5) == (4001, "signed out")


def test_the_signing_key_is_prepared_once_and_still_refuses_other_keys_tokens() -> None:
    secret = "a-test-signing-key-of-enough-length-0123456789"
    token, claims = issue_token(secret, "alice", "operator", 600)
    for _ in range(5):
        assert decode_token(secret, token) == claims
    assert _verifying_key(secret).Algorithm.preparations == 1  # type: ignore[attr-defined]
    other, _ = issue_token("another-signing-key-of-enough-length-987654321", "alice", "admin", 600)
    with pytest.raises(InvalidToken, match="invalid token"):
        decode_token(secret, other)
    # a key PyJWT refuses to use as an HMAC secret is still refused (and not kept)
    pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
    with pytest.raises(InvalidToken):
        decode_token(pem, token)
