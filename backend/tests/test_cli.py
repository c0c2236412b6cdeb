"""The `hybrid-dns` command as an operator uses it: serve, create-user, token, set-role, disable, enable."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from websockets.asyncio.client import connect

from hybrid_dns.cli import main

CLI = [sys.executable, "-m", "hybrid_dns.cli"]


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not come up: " + log.read_text())


def stop_server(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, as a service manager sends it: the server must shut down gracefully."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    # uvicorn re-raises the captured signal after its graceful shutdown, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), code
    assert "Application shutdown complete" in log.read_text()


async def test_first_start_creates_admin_once_and_cli_tokens_work(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data")}
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server(env, port, log)
    try:
        password_file = tmp_path / "data" / "initial-admin-password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 16
        assert log.read_text().count(password) == 1  # printed once, to the terminal

        login = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200
        assert login.json()["token_type"] == "bearer" and login.json()["expires_in"] == 3600

        created = run_cli(env, "create-user", "alice", "--role", "operator", stdin="alice-password\n")
        assert created.returncode == 0, created.stderr
        assert "alice-password" not in created.stdout + created.stderr
        duplicate = run_cli(env, "create-user", "alice", "--role", "viewer", stdin="whatever-pass\n")
        assert duplicate.returncode == 1 and "exists" in duplicate.stderr
        short = run_cli(env, "create-user", "bob", "--role", "viewer", stdin="short\n")
        assert short.returncode == 2 and "8 characters" in short.stderr

        token = run_cli(env, "token", "alice", "--ttl", "120")
        assert token.returncode == 0, token.stderr
        jwt = token.stdout.strip()
        assert jwt.count(".") == 2
        async with connect(
            f"ws://127.0.0.1:{port}/ws/security/alice", subprotocols=["hybrid-dns.v1", f"bearer.{jwt}"]
        ) as ws:
            assert '"type":"connected"' in await ws.recv()
        assert run_cli(env, "token", "nobody").returncode == 1
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login", json={"username": "alice", "password": "alice-password"}
        )
        assert login.status_code == 200 and login.json()["role"] == "operator"
    finally:
        stop_server(proc, log)
    assert jwt not in log.read_text()

    # A restart keeps the users and the secret key (tokens stay valid) and prints no new password.
    log2 = tmp_path / "server2.log"
    proc = start_server(env, port, log2)
    try:
        me = httpx.get(f"http://127.0.0.1:{port}/api/auth/me", headers={"Authorization": f"Bearer {jwt}"})
        assert me.status_code == 200 and me.json()["username"] == "alice"
        assert "password" not in log2.read_text().lower()
    finally:
        stop_server(proc, log2)


def test_operators_change_roles_and_disable_users_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands themselves (in this process, for speed); tests/test_sessions.py runs them as
    processes against a live server and checks that its open sockets follow."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HYBRID_DNS_PASSWORD", "long enough password")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out.strip(), err.strip()

    assert run("create-user", "alice", "--role", "admin")[0] == 0
    assert run("create-user", "bob", "--role", "viewer")[0] == 0
    refused = (1, "", "error: 'alice' is the last active admin; make another user admin first")
    assert run("set-role", "alice", "viewer") == refused
    assert run("disable", "alice") == refused
    assert run("set-role", "bob", "admin") == (
        0,
        "'bob' is now admin (was viewer); running servers apply it to open sockets within 5 s",
        "",
    )
    assert run("disable", "alice")[:2] == (
        0,
        "'alice' is disabled; running servers apply it to open sockets within 5 s",
    )
    assert run("disable", "alice")[1].startswith("'alice' is disabled (unchanged)")
    assert run("token", "alice") == (1, "", "error: no active user 'alice'")
    assert run("enable", "alice")[0] == 0
    assert run("token", "alice")[1].count(".") == 2
    assert run("set-role", "nobody", "viewer") == (1, "", "error: no user 'nobody'")
    with pytest.raises(SystemExit) as bad_role:
        main(["set-role", "alice", "root"])
    assert bad_role.value.code == 2 and "invalid choice: 'root'" in capsys.readouterr().err

    monkeypatch.setenv("WEBSOCKET_ACCESS_RECHECK_INTERVAL", "0")
    assert run("enable", "alice") == (
        2,
        "",
        "error: setting WEBSOCKET_ACCESS_RECHECK_INTERVAL: Input should be greater than or equal to 0.1",
    )
