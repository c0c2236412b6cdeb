"""Test harness: a real uvicorn server on a free port, real WebSocket clients, no mocks.

The server runs in a thread with its own event loop, exactly as `hybrid-dns serve` runs it
(same protocol class, same settings path). Tests talk to it over loopback, and may run a
coroutine inside the server's loop (`server.call(...)`) to emit events as business code would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hybrid_dns.app import create_app
from hybrid_dns.auth.passwords import hash_password
from hybrid_dns.auth.tokens import issue_token
from hybrid_dns.config import Settings
from hybrid_dns.models import User
from hybrid_dns.realtime.runtime import Realtime
from hybrid_dns.server import uvicorn_config

T = TypeVar("T")

REQUIRE_ALL = os.environ.get("HYBRID_DNS_REQUIRE_ALL") == "1"
PASSWORD = "correct horse battery"
_HASH = hash_password(PASSWORD)
USERS = {"admin": "admin", "op": "operator", "viewer": "viewer", "viewer2": "viewer"}


def require(condition: bool, what: str) -> None:
    """Skip (loudly) on a laptop without `what`; fail in CI, where HYBRID_DNS_REQUIRE_ALL=1."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required for this test but missing: {what}")
    pytest.skip(f"SKIPPED, missing: {what} (CI sets HYBRID_DNS_REQUIRE_ALL=1 and fails instead)")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"the {name!r} program")
    assert path is not None
    return path


async def wait_until(predicate: Callable[[], bool], timeout: float = 5, what: str = "condition") -> None:
    """Wait for a condition, polling, with a deadline: never a bare sleep."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(
        self,
        data_dir: Path,
        broadcasters: bool = False,
        configure: Callable[[Any], None] | None = None,
        **overrides: Any,
    ) -> None:
        self.broadcasters = broadcasters
        self.port = free_port()
        env = {
            "DATA_DIR": str(data_dir),
            "HEALTH_BROADCAST_INTERVAL": 3600,
            "SYSTEM_BROADCAST_INTERVAL": 3600,
            "FRONTEND_DIR": str(data_dir / "no-dashboard"),  # the API alone, built dashboard or not
        }
        env.update(overrides)
        self.settings = Settings(**env)
        self.app = create_app(self.settings)
        if not broadcasters:
            # Periodic health/system events would interleave with what a test emits (tests of the
            # broadcasters ask for them). Off before the server accepts a socket: a client that
            # connects as soon as it can would otherwise get the first broadcasts at once.
            for broadcaster in self.realtime.broadcasters:
                broadcaster.wants = lambda: False
        if configure is not None:
            configure(self.app)  # e.g. add a test route before the server starts
        self.config = uvicorn_config(self.app, self.settings, "127.0.0.1", self.port, log_level="warning")
        self.server = uvicorn.Server(self.config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def realtime(self) -> Realtime:
        return self.app.state.realtime  # type: ignore[no-any-return]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, connection_type: str, user_id: str, **query: Any) -> str:
        qs = f"?{urlencode(query)}" if query else ""
        return f"ws://127.0.0.1:{self.port}/ws/{connection_type}/{user_id}{qs}"

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        self.call_sync(self._seed_users())
        if not self.broadcasters:
            for broadcaster in self.realtime.broadcasters:
                self.call_sync(broadcaster.close())
        return self

    async def _seed_users(self) -> None:
        async with self.app.state.db() as session:
            existing = {u.username: u for u in (await session.scalars(select(User))).all()}
            for name, role in USERS.items():
                user = existing.get(name) or User(username=name, is_active=True)
                user.password_hash, user.role = _HASH, role
                session.add(user)
            await session.commit()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def call_sync(self, coro: Awaitable[T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)  # type: ignore[arg-type]

    async def call(self, coro: Awaitable[T]) -> T:
        """Run a coroutine inside the server's event loop (as business code would) and await its result."""
        assert self.loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))  # type: ignore[arg-type]

    async def call_fn(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the server's loop thread."""

        async def run() -> T:
            return fn()

        return await self.call(run())

    def token(self, username: str, ttl: int = 3600, role: str | None = None) -> str:
        token, _ = issue_token(self.app.state.secret_key, username, role or USERS.get(username, "viewer"), ttl)
        return token

    async def emit(self, event_type: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return await self.call(self.realtime.service.emit(event_type, data, **kwargs))

    def http(self, username: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=20)


class WsClient:
    """A real WebSocket client with helpers that wait on conditions, never on sleeps."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.connected: dict[str, Any] | None = None
        self.pending: list[dict[str, Any]] = []

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5) -> Any:
        """The next frame, parsed (batches are returned whole)."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        return raw if raw in ("pong",) else orjson.loads(raw)

    async def next_event(self, timeout: float = 5) -> dict[str, Any]:
        """The next event frame (batches flattened), skipping nothing else silently: control frames fail."""
        while not self.pending:
            frame = await self.recv(timeout)
            if frame.get("type") == "batch":
                self.pending.extend(frame["events"])
            elif "seq" in frame:
                self.pending.append(frame)
            else:
                raise AssertionError(f"expected an event, got {frame}")
        return self.pending.pop(0)

    async def events_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5) -> list[dict]:
        """Events up to and including the first that matches `predicate`."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next_event(max(0.01, deadline - time.monotonic()))
            got.append(event)
            if predicate(event):
                return got

    async def reply(self, frame_type: str, timeout: float = 5) -> dict[str, Any]:
        """The next non-event frame, which must be of `frame_type`. Events that come first (a periodic
        broadcast may, at any time) are kept for `next_event`."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if isinstance(frame, dict) and frame.get("type") == "batch":
                self.pending.extend(frame["events"])
            elif isinstance(frame, dict) and "seq" in frame:
                self.pending.append(frame)
            else:
                break
        assert isinstance(frame, dict) and frame.get("type") == frame_type, frame
        return frame

    async def expect_close(self, timeout: float = 10) -> tuple[int | None, str]:
        """Read until the server closes; returns (code, reason)."""
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        rcvd = self.ws.close_code, self.ws.close_reason
        return rcvd[0], rcvd[1] or ""

    async def close(self) -> None:
        await self.ws.close()


class ProcessServer:
    """`hybrid-dns serve` as a real process (for restarts, kill -9 and several instances)."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, connection_type: str, user_id: str, **query: Any) -> str:
        qs = f"?{urlencode(query)}" if query else ""
        return f"ws://127.0.0.1:{self.port}/ws/{connection_type}/{user_id}{qs}"

    def start(self) -> ProcessServer:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hybrid_dns.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server did not come up:\n" + self.log.read_text()[-3000:])

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class RedisServer:
    """A real redis-server of the test's own, on a free port, with nothing kept on disk."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary("redis-server")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """A Redis that comes back empty, as one without persistence does after a crash."""
        self.stop()
        self.start()


PG_ADMIN_URL = os.environ.get("HYBRID_DNS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards (the production settings' database)."""
    import asyncpg

    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        require(False, f"PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__})")
        raise
    name = f"hybrid_dns_test_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        data = tmp_path / f"data{len(servers)}"
        server = LiveServer(data, **overrides).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server()


@contextlib.asynccontextmanager
async def ws_open(
    server: LiveServer,
    connection_type: str,
    user: str,
    *,
    token: str | None = None,
    via: str = "subprotocol",
    expect_connected: bool = True,
    **kwargs: Any,
) -> AsyncIterator[WsClient]:
    """Open a socket with the user's token (by subprotocol or query) and read its `connected` frame."""
    token = token if token is not None else server.token(user)
    query = kwargs.pop("query", {})
    subprotocols = kwargs.pop("subprotocols", None)
    if via == "query":
        query = {"token": token, **query}
    elif via == "subprotocol" and subprotocols is None:
        subprotocols = ["hybrid-dns.v1", f"bearer.{token}"]
    async with connect(
        server.ws_url(connection_type, user, **query),
        subprotocols=subprotocols,
        open_timeout=10,
        **kwargs,
    ) as ws:
        client = WsClient(ws)
        if expect_connected:
            client.connected = await client.reply("connected")
        yield client


async def refused(server: LiveServer, connection_type: str, user: str, **kwargs: Any) -> tuple[int | None, str]:
    """Open a socket that the server must refuse; returns the close code and reason."""
    async with ws_open(server, connection_type, user, expect_connected=False, **kwargs) as client:
        return await client.expect_close()
