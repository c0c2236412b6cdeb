"""The processes a driver starts: benchmark servers and redis-server, each pinned, each stopped for sure.

Every process dies with the driver even if the driver is killed (PR_SET_PDEATHSIG), and
`stop_all()` stops whatever is still running when a driver ends, by error or Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from benchkit.control import BenchApi
from benchkit.system import (
    BENCH_DIR,
    SERVER_CPU,
    cpus_allowed,
    die_with_parent,
    log,
    memory_kb,
    pin_to_cpu,
    process_cpu_seconds,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One benchmark server (bench_server.py for the `hub` variants, plain_server.py for `plain`).

    `name` labels it in a run's figures (multi_bench.py: instance A or B); `extra_args` go to its
    command line (multi_bench.py: `--broker-url`, `--instance-id`).
    """

    def __init__(
        self,
        variant: str,
        workdir: Path,
        secret: str,
        pin: bool,
        profile: Path | None,
        trace: bool = False,
        extra_args: Sequence[str] = (),
        cpu: int = SERVER_CPU,
        name: str = "server",
    ) -> None:
        self.variant = variant
        self.name = name
        self.workdir = workdir
        self.port = free_port()
        self.api = BenchApi(self.port)
        self.log_path = workdir / f"{variant}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.cpus = ""
        cmd = [sys.executable, "-u"]
        if variant.startswith("hub"):
            data_dir = workdir / f"data-{self.port}"
            cmd += [str(BENCH_DIR / "bench_server.py"), "--data-dir", str(data_dir), "--secret", secret]
            if variant == "hub-deflate":
                cmd.append("--deflate")
            if profile is not None:
                cmd += ["--profile", str(profile)]
            if trace:
                cmd.append("--tracemalloc")
        else:
            cmd += [str(BENCH_DIR / "plain_server.py")]
            if trace:
                cmd.append("--tracemalloc")
        cmd += [*extra_args, "--port", str(self.port), "--parent-pid", str(os.getpid())]
        if pin:
            cmd += ["--cpu", str(cpu)]
        self.cmd = cmd
        SERVERS.add(self)

    def start(self, timeout: float = 60) -> None:
        with open(self.log_path, "wb") as out:
            # cwd is the scratch directory, so a .env file of the repository is not read.
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.variant} server exited with {self.proc.returncode}:\n{self.log_tail()}")
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    self.pid = json.loads(line[6:])["pid"]
                    self.cpus = cpus_allowed(self.pid)
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.variant} server not ready after {timeout}s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def memory_kb(self) -> dict[str, int]:
        return memory_kb(self.pid)

    async def close(self) -> None:
        """Stop the server and close the driver's HTTP connections to it."""
        await self.api.aclose()
        self.stop()

    def stop(self) -> None:
        proc = self.proc
        SERVERS.discard(self)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{self.variant} server did not stop in 20s; killing it")
            proc.kill()
            proc.wait(timeout=10)


SERVERS: set[ServerProcess] = set()  # every server made and not yet stopped


def stop_all() -> None:
    for server in list(SERVERS):
        server.stop()


class RedisProcess:
    """Our own redis-server: a free port, nothing on disk (`--save '' --appendonly no`), pinned."""

    name = "redis"

    def __init__(self, workdir: Path, cpu: int | None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.workdir = workdir / "redis"
        self.cpu = cpu
        self.log_path = workdir / "redis.log"
        self.cmd = [
            binary,
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
            "--logfile",
            str(self.log_path),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.cpus = ""
        self.version = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cpu, parent = self.cpu, os.getpid()

        def in_child() -> None:  # before exec: pin, and die with the driver
            pin_to_cpu(cpu)
            die_with_parent(parent)

        self.proc = subprocess.Popen(
            self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=in_child, cwd=self.workdir
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: see {self.log_path}")
            try:
                with redis.Redis(port=self.port, socket_timeout=timeout) as client:
                    info = client.info("server")
            except redis.ConnectionError:
                time.sleep(0.05)
                continue
            self.version = str(info.get("redis_version", "?"))
            self.cpus = cpus_allowed(self.pid)
            return
        raise RuntimeError(f"redis-server not ready after {timeout}s")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    async def reset_stats(self) -> None:
        """CONFIG RESETSTAT: `command_stats()` then counts from here."""
        async with redis.asyncio.Redis(port=self.port, socket_timeout=10) as client:
            await client.config_resetstat()

    async def command_stats(self) -> dict[str, dict[str, float]]:
        """INFO commandstats: {command: {calls, usec, usec_per_call}}."""
        async with redis.asyncio.Redis(port=self.port, socket_timeout=10) as client:
            info: dict[str, Any] = await client.info("commandstats")
        return {
            key.removeprefix("cmdstat_"): {k: float(value[k]) for k in ("calls", "usec", "usec_per_call")}
            for key, value in info.items()
            if key.startswith("cmdstat_")
        }

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
