"""WebSocket fan-out benchmark: our hub against a plain FastAPI send loop, on loopback.

    .venv/bin/python bench/ws_bench.py                        # 1,000 connections, the default variants
    .venv/bin/python bench/ws_bench.py --connections 1000,5000

For each connection count and each variant (server), it:

1. starts the server as a separate process pinned to core 0 (this driver, which is also the load
   client, pins itself to core 1);
2. opens N WebSocket connections from 127.0.0.1 and, once they are open and idle, reads the
   server's RSS (/proc/<pid>/status) to give the server memory per idle connection;
3. the rate run: the server emits events at R per second (default 50/s for 10 s; open loop: at
   each event's due time a task emits it, as a request handler would) and the client records, for
   every event on every connection, the emit-to-receive latency (its receive time minus the `t`
   stamped just before emit() was called; CLOCK_MONOTONIC is system-wide), the same from the
   event's due time (which shows a server falling behind its producers), and counts what arrives;
4. the saturation run(s): the server emits M events as fast as it can, from P concurrent
   producers (each emits an event, awaits emit(), yields once to the event loop, and emits the
   next), P = 1 and 10 by default;
5. reports delivered events per second (events received over all connections per second, from the
   first emit to the last receive), p50/p99 latency, loss (events emitted times connections, minus
   events received), server CPU seconds (/proc/<pid>/stat) and client CPU use (to show whether the
   client was the bottleneck).

Variants: `hub` (our app, `hybrid_dns.app.create_app` under `hybrid_dns.server.uvicorn_config`),
`hub-deflate` (the same with WEBSOCKET_PERMESSAGE_DEFLATE=true and clients that offer it),
`plain` (plain_server.py: a dict of sockets and `await send_text` on each in turn, uvicorn
defaults), `plain-deflate` (the same, with clients that offer permessage-deflate, which uvicorn
accepts by default).

The load client is a minimal asyncio WebSocket client (one `asyncio.Protocol` per connection, its
own frame parser, orjson), so that the client costs as little CPU per event as possible.

Results go to stdout and to bench/RESULTS.md (with the machine and the command line). Every server
started is stopped at the end, also on error or Ctrl-C (and dies with this process if it is killed).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime
import gc
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from bench_common import raise_nofile

from hybrid_dns.auth.tokens import issue_token

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SERVER_CPU = 0
CLIENT_CPU = 1
VARIANTS = ("hub", "hub-deflate", "plain", "plain-deflate")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- machine ---------------------------------------------------------------------------------


def machine_description() -> dict[str, str]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_total = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    versions = []
    for package in ("fastapi", "starlette", "uvicorn", "uvloop", "websockets", "orjson"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "backend/src"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes under backend/src)"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} (nproc {len(os.sched_getaffinity(0))})",
        "cpu model": cpu_model,
        "memory": mem_total,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(versions),
        "event loop": event_loop_description(),
        "commit": commit,
    }


def run_client(main: Any) -> Any:
    """Run the load client on uvloop when it is installed: the client must not be what limits a run."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def event_loop_description() -> str:
    """What uvicorn's loop="auto" and http="auto" pick in this environment (both servers use them)."""
    import importlib.util

    have = {name: importlib.util.find_spec(name) is not None for name in ("uvloop", "httptools")}
    loop = "uvloop" if have["uvloop"] else "asyncio (default selector loop)"
    http = "httptools" if have["httptools"] else "h11"
    return f"{loop}, HTTP parser {http} (uvicorn's auto choices, the same for every server); load client on {loop}"


# --- server processes ------------------------------------------------------------------------


class ServerProcess:
    """One benchmark server: started pinned to SERVER_CPU (or `cpu`), stopped for sure.

    `extra_args` go to the server's command line (multi_bench.py: `--broker-url`, `--instance-id`).
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
    ) -> None:
        self.variant = variant
        self.workdir = workdir
        self.secret = secret
        self.port = free_port()
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

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_kb(self) -> dict[str, int]:
        values = {}
        with open(f"/proc/{self.pid}/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
        return values

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{self.variant} server did not stop in 20s; killing it")
            proc.kill()
            proc.wait(timeout=10)
        SERVERS.discard(self)


SERVERS: set[ServerProcess] = set()  # every server started and not yet stopped


def cpus_allowed(pid: int | str = "self") -> str:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return "?"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def http_json(port: int, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    """A tiny HTTP/1.1 client (one request per connection), so the driver needs no threads."""

    async def go() -> Any:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            payload = orjson.dumps(body) if body is not None else b""
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            raw = await reader.read()
        finally:
            writer.close()
        head_bytes, _, content = raw.partition(b"\r\n\r\n")
        try:
            status = int(head_bytes.split(b" ", 2)[1])
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            return orjson.loads(content)
        except (IndexError, ValueError, RuntimeError) as exc:
            raise RuntimeError(f"{method} {path} on port {port}: {exc}; response: {raw[:400]!r}") from None

    return await asyncio.wait_for(go(), timeout)


# --- the load client -------------------------------------------------------------------------


@dataclass
class Phase:
    id: int
    received: int = 0
    gaps: int = 0  # an event whose index is not the previous one's + 1 on its connection
    stale: int = 0  # events of another phase
    wire_bytes: int = 0
    last_recv: float = 0.0
    latencies: array.array = field(default_factory=lambda: array.array("d"))  # from the emit() call
    sched_latencies: array.array = field(default_factory=lambda: array.array("d"))  # from the due time


class Pool:
    """State shared by every connection of the load client."""

    def __init__(self) -> None:
        self.conns: list[WsConn] = []
        self.phase: Phase | None = None
        self.closes: collections.Counter[int] = collections.Counter()
        self.lost = 0
        self.other_frames = 0
        self.unexpected_events = 0

    def alive(self) -> list[WsConn]:
        return [c for c in self.conns if c.open]

    def begin_phase(self, phase_id: int) -> Phase:
        for conn in self.conns:
            conn.last_i = -1
        self.phase = Phase(phase_id)
        return self.phase


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN, masked); used only for small control frames."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


class WsConn(asyncio.Protocol):
    """One client connection: the upgrade handshake, then a minimal frame parser (server frames
    are never masked), text messages parsed with orjson, pings answered, closes echoed."""

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
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.pool.other_frames += 1
            return
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "batch":
            events = obj["events"]
        elif kind == "config_change":
            events = (obj,)
        else:
            if kind == "connected" and not self.ready.done():
                self.ready.set_result(None)
            else:
                self.pool.other_frames += 1
            return
        phase = self.pool.phase
        if phase is None:
            self.pool.unexpected_events += len(events)
            return
        phase_id = phase.id
        record = phase.latencies.append
        record_sched = phase.sched_latencies.append
        last = self.last_i
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
        self.last_i = last
        if received:
            phase.received += received
            phase.last_recv = now

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


async def open_connections(
    pool: Pool,
    count: int,
    port: int,
    path: str,
    subprotocols: list[str],
    deflate: bool,
    want_connected: bool,
    concurrency: int = 100,
) -> tuple[int, float]:
    """Open `count` connections, `concurrency` handshakes at a time; returns (failures, seconds)."""
    loop = asyncio.get_running_loop()
    semaphore = asyncio.Semaphore(concurrency)
    failures = 0
    errors: collections.Counter[str] = collections.Counter()

    async def one() -> None:
        nonlocal failures
        async with semaphore:
            request = upgrade_request(port, path, subprotocols, deflate)
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: WsConn(pool, request, want_connected), "127.0.0.1", port), 30
                )
                pool.conns.append(conn)
                await asyncio.wait_for(conn.ready, 30)
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
    for conn in pool.conns:
        conn.close()
    await asyncio.sleep(0.2)
    pool.conns.clear()


def machine_busy_seconds() -> float:
    """user + nice + system + steal time of all CPUs (not irq/softirq, which no process is charged)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + steal) / CLK_TCK


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- one variant at one connection count -----------------------------------------------------


@dataclass
class Options:
    connections: list[int]
    variants: list[str]
    rate: float
    duration: float
    sat_events: int | None
    sat_deliveries: int
    sat_producers: list[int]
    sat_timeout: float
    payload_bytes: int
    drain_timeout: float
    pin: bool
    profile_dir: Path | None
    tracemalloc: bool = False
    quiet_wait: float = 30.0
    retries: int = 2
    max_other_cpu: float = 25.0


async def wait_connections(server: ServerProcess, wanted: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        status = await http_json(server.port, "GET", "/bench/status", timeout=120)
        if status["connections"] == wanted or time.monotonic() > deadline:
            return int(status["connections"])
        await asyncio.sleep(0.1)


def cpu_of(processes: Sequence[Any]) -> float:
    """CPU seconds of every process given (each has `cpu_seconds()`)."""
    return sum(p.cpu_seconds() for p in processes)


async def wait_quiet(
    server: ServerProcess, max_wait: float, threshold: float = 0.15, others: Sequence[Any] = ()
) -> float:
    """Wait, up to max_wait seconds, until other processes use under `threshold` of a core for two
    seconds in a row (this machine may be shared); returns the share of a core they used last.
    `others`: more processes of the benchmark (with `cpu_seconds()`), not counted as other."""
    deadline = time.monotonic() + max_wait
    quiet = 0
    other = 0.0
    warned = False
    ours = [server, *others]
    while max_wait > 0:
        machine, client, srv = machine_busy_seconds(), client_cpu_seconds(), cpu_of(ours)
        await asyncio.sleep(1.0)
        other = (machine_busy_seconds() - machine) - (client_cpu_seconds() - client) - (cpu_of(ours) - srv)
        quiet = quiet + 1 if other < threshold else 0
        if quiet >= 2:
            break
        if not warned and other >= threshold:
            log(f"  other processes are using {100 * other:.0f}% of a core; waiting up to {max_wait:.0f}s")
            warned = True
        if time.monotonic() > deadline:
            log(f"  still busy ({100 * other:.0f}% of a core used by others); going on")
            break
    return other


async def run_phase(
    server: ServerProcess,
    pool: Pool,
    phase_id: int,
    name: str,
    count: int,
    rate: float,
    producers: int,
    opts: Options,
    timeout: float,
    quiet: bool = True,
    others: Sequence[Any] = (),
) -> dict[str, Any]:
    """One run: `server` emits (and is asked for its status), the pool's connections (on any
    server) receive. `others`: more processes of the benchmark (multi_bench.py: the other instance,
    Redis), each with `name` and `cpu_seconds()`: their CPU is reported in `others_cpu_s` and not
    counted as other CPU."""
    if quiet:
        await wait_quiet(server, opts.quiet_wait, others=others)
    alive = len(pool.alive())
    phase = pool.begin_phase(phase_id)
    closes_before = collections.Counter(pool.closes)
    others_before = [p.cpu_seconds() for p in others]
    cpu_before = server.cpu_seconds()
    client_before = client_cpu_seconds()
    machine_before = machine_busy_seconds()
    wall_before = time.monotonic()
    gc.disable()  # the client makes no cycles; a full collection over 5,000 sockets would stall it
    try:
        await http_json(
            server.port,
            "POST",
            "/bench/emit",
            {
                "phase": phase_id,
                "count": count,
                "rate": rate,
                "concurrency": producers,
                "payload_bytes": opts.payload_bytes,
            },
        )
        deadline = wall_before + timeout
        stopped = False
        last_count, last_progress = 0, time.monotonic()
        status: dict[str, Any] = {}
        next_status = 0.0
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if phase.received != last_count:
                last_count, last_progress = phase.received, now
            if phase.received >= count * alive:
                break
            if now >= next_status:
                # A server whose event loop is stuck in a send loop answers late: that is a result, not an error.
                with contextlib.suppress(TimeoutError):
                    status = (await http_json(server.port, "GET", "/bench/status", timeout=120))["emitter"]
                next_status = time.monotonic() + 0.5
            if status and not status["running"]:
                if phase.received >= status["emitted"] * alive:
                    break
                if now - last_progress > opts.drain_timeout:
                    break  # nothing more is coming
            if now > deadline and not stopped:
                log(f"  {name}: time limit {timeout:.0f}s reached; stopping the emitter")
                await http_json(server.port, "POST", "/bench/stop", timeout=300)
                stopped = True
                last_progress = now
        emitter = (await http_json(server.port, "GET", "/bench/status", timeout=300))["emitter"]
    finally:
        gc.enable()
        pool.phase = None
    wall = time.monotonic() - wall_before
    cpu = server.cpu_seconds() - cpu_before
    client_cpu = client_cpu_seconds() - client_before
    others_cpu = {p.name: p.cpu_seconds() - before for p, before in zip(others, others_before, strict=True)}
    other_cpu = max(0.0, machine_busy_seconds() - machine_before - cpu - client_cpu - sum(others_cpu.values()))
    emitted = int(emitter["emitted"])
    expected = emitted * alive
    received = phase.received
    t_first = emitter["t_first"] or wall_before
    span = max(1e-9, (phase.last_recv or time.monotonic()) - t_first)
    latencies = sorted(phase.latencies)
    sched = sorted(phase.sched_latencies)

    def pct(q: float, values: list[float] = latencies) -> float:
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    closes = pool.closes - closes_before
    return {
        "run": name,
        "rate": rate,
        "producers": producers,
        "requested": count,
        "emitted": emitted,
        "connections": alive,
        "expected": expected,
        "received": received,
        "loss": expected - received,
        "loss_pct": 100.0 * (expected - received) / expected if expected else 0.0,
        "delivered_per_s": received / span,
        "span_s": span,
        "t_first": t_first,
        "emit_s": (emitter["t_last"] or t_first) - t_first,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "sched_p50_ms": pct(0.50, sched),
        "sched_p99_ms": pct(0.99, sched),
        "server_cpu_s": cpu,
        "server_cpu_pct": 100.0 * cpu / wall,
        "server_us_per_event": 1e6 * cpu / received if received else float("nan"),
        "client_cpu_pct": 100.0 * client_cpu / wall,
        "other_cpu_pct": 100.0 * other_cpu / wall,
        "others_cpu_s": others_cpu,
        "wall_s": wall,
        "wire_bytes_per_event": phase.wire_bytes / received if received else float("nan"),
        "gaps": phase.gaps,
        "stale": phase.stale,
        "closes": dict(closes),
        "emitter_error": emitter.get("error"),
        "stopped_early": stopped,
    }


async def least_disturbed(
    run_once: Callable[[int], Awaitable[dict[str, Any]]], retries: int, max_other_cpu: float
) -> dict[str, Any]:
    """On a shared machine, a run during which other processes took more than `max_other_cpu` % of a
    core is run again (up to `retries` times); the run that was disturbed least is kept."""
    runs = []
    for attempt in range(retries + 1):
        phase = await run_once(attempt)
        phase["attempts"] = attempt + 1
        runs.append(phase)
        if phase["other_cpu_pct"] <= max_other_cpu:
            break
        if attempt < retries:
            log(f"  other processes used {phase['other_cpu_pct']:.0f}% of a core meanwhile; running it again")
        await asyncio.sleep(1.0)
    kept = min(runs, key=lambda p: p["other_cpu_pct"])
    kept["attempts"] = len(runs)
    return kept


async def run_schedule(
    label: str, opts: Any, opened: int, measured: Callable[[str, int, float, int, float], Awaitable[None]]
) -> None:
    """The runs of one server set-up: the rate run, then one saturation run per producer count."""
    count = round(opts.rate * opts.duration)
    log(f"{label}: rate run, {count} events at {opts.rate:g}/s")
    await measured(f"{opts.rate:g}/s", count, opts.rate, 1, opts.duration + 60)
    for producers in opts.sat_producers:
        sat = opts.sat_events or max(50, opts.sat_deliveries // max(1, opened))
        name = f"saturation, {producers} producer{'s' if producers > 1 else ''}"
        log(f"{label}: {name}, {sat} events")
        await measured(name, sat, 0, producers, opts.sat_timeout)


async def run_variant(variant: str, n: int, opts: Options, workdir: Path, secret: str) -> dict[str, Any]:
    profile = opts.profile_dir / f"{variant}-{n}.pstats" if opts.profile_dir and variant.startswith("hub") else None
    server = ServerProcess(variant, workdir, secret, opts.pin, profile, opts.tracemalloc)
    result: dict[str, Any] = {"variant": variant, "connections_wanted": n, "server_cmd": server.cmd, "phases": []}
    pool = Pool()
    try:
        log(f"{variant} x {n}: starting the server")
        server.start()
        result.update(server_cpus=server.cpus, client_cpus=cpus_allowed())
        if opts.pin and (server.cpus != str(SERVER_CPU) or result["client_cpus"] != str(CLIENT_CPU)):
            raise RuntimeError(f"pinning failed: server on cpus {server.cpus}, client on {result['client_cpus']}")
        if variant.startswith("hub"):
            token, _ = issue_token(secret, "bench", "viewer", 4 * 3600)
            path, subprotocols, want_connected = "/ws/system/bench", ["hybrid-dns.v1", f"bearer.{token}"], True
        else:
            path, subprotocols, want_connected = "/ws", [], False
        deflate = variant.endswith("deflate")

        # Warm up (imports, first-use caches), then the baseline.
        failures, _ = await open_connections(pool, 10, server.port, path, subprotocols, deflate, want_connected)
        if failures:
            raise RuntimeError(f"warm-up connections failed:\n{server.log_tail()}")
        await run_phase(server, pool, 0, "warm-up", 5, 0, 1, opts, 30, quiet=False)
        await close_connections(pool)
        await wait_connections(server, 0)
        await http_json(server.port, "POST", "/bench/gc")
        await asyncio.sleep(0.5)
        base = server.memory_kb()

        # Open N in two halves, reading RSS after each: (full - before) / N is the average cost of a
        # connection, one-time growth included; (full - half) / (N - N/2) is the cost of one more.
        log(f"{variant} x {n}: opening {n} connections")
        half = n // 2
        failures, open_s = await open_connections(pool, half, server.port, path, subprotocols, deflate, want_connected)
        opened_half = await wait_connections(server, half - failures)
        await asyncio.sleep(1.0)
        await http_json(server.port, "POST", "/bench/gc")
        await asyncio.sleep(0.5)
        mid = server.memory_kb()
        more_failures, more_s = await open_connections(
            pool, n - half, server.port, path, subprotocols, deflate, want_connected
        )
        failures += more_failures
        open_s += more_s
        opened = await wait_connections(server, n - failures)
        gc.freeze()
        await asyncio.sleep(2.0)  # idle
        collected = await http_json(server.port, "POST", "/bench/gc")
        if "tracemalloc" in collected:
            result["tracemalloc"] = collected["tracemalloc"]
            result["tracemalloc_conns"] = opened - opened_half
            result["traced_diff"] = collected.get("traced_diff", 0)
        await asyncio.sleep(0.5)
        idle = server.memory_kb()
        result.update(
            connections=opened,
            connect_failures=failures,
            open_s=open_s,
            open_per_s=(n - failures) / open_s if open_s else float("nan"),
            rss_base_kb=base["VmRSS"],
            rss_half_kb=mid["VmRSS"],
            rss_idle_kb=idle["VmRSS"],
            kb_per_idle_conn=(idle["VmRSS"] - base["VmRSS"]) / opened if opened else float("nan"),
            kb_marginal=(idle["VmRSS"] - mid["VmRSS"]) / (opened - opened_half) if opened > opened_half else 0.0,
            deflate_negotiated=sum(1 for c in pool.conns if c.inflater is not None),
        )
        log(
            f"{variant} x {n}: {opened} open in {open_s:.1f}s; RSS {base['VmRSS'] / 1024:.1f} -> "
            f"{mid['VmRSS'] / 1024:.1f} -> {idle['VmRSS'] / 1024:.1f} MiB = {result['kb_per_idle_conn']:.1f} "
            f"KB/conn ({result['kb_marginal']:.1f} KB for the second half)"
        )

        phase_ids = iter(range(1, 1_000_000))

        async def measured(name: str, count: int, rate: float, producers: int, timeout: float) -> None:
            async def once(_: int) -> dict[str, Any]:
                phase = await run_phase(server, pool, next(phase_ids), name, count, rate, producers, opts, timeout)
                log_phase(phase)
                return phase

            result["phases"].append(await least_disturbed(once, opts.retries, opts.max_other_cpu))
            await asyncio.sleep(1.0)

        await run_schedule(f"{variant} x {n}", opts, opened, measured)
        collected = await http_json(server.port, "POST", "/bench/gc", timeout=120)
        if "tracemalloc" in collected:
            result["tracemalloc_after_runs"] = collected["tracemalloc"]
        after = server.memory_kb()
        result.update(rss_after_kb=after["VmRSS"], rss_peak_kb=after["VmHWM"], lost_connections=pool.lost)
    finally:
        await close_connections(pool)
        with contextlib.suppress(Exception):
            if server.proc is not None and server.proc.poll() is None:
                await wait_connections(server, 0, timeout=15)
        server.stop()
        gc.unfreeze()
    return result


def log_phase(p: dict[str, Any]) -> None:
    log(
        f"  {p['run']}: {p['received']:,}/{p['expected']:,} events, {p['delivered_per_s']:,.0f}/s, "
        f"p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, loss {p['loss']:,}, "
        f"server CPU {p['server_cpu_pct']:.0f}%, client CPU {p['client_cpu_pct']:.0f}%"
        + (f", closes {p['closes']}" if p["closes"] else "")
    )


# --- report ----------------------------------------------------------------------------------


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def render(results: list[dict[str, Any]], opts: Options, machine: dict[str, str], command: str) -> str:
    out: list[str] = []
    out.append("# WebSocket fan-out benchmark results\n")
    out.append(
        "Produced by `bench/ws_bench.py` (see its docstring for the method). Server and load client are separate "
        f"processes on 127.0.0.1, the server pinned to core {SERVER_CPU} and the client to core {CLIENT_CPU}"
        + ("" if opts.pin else " (pinning was off for this run)")
        + ". CPUs allowed, read back from /proc/<pid>/status: "
        + "; ".join(
            sorted({f"server {r.get('server_cpus', '?')}, client {r.get('client_cpus', '?')}" for r in results})
        )
        + ".\n"
    )
    out.append("## Machine\n")
    for key, value in machine.items():
        out.append(f"- {key}: {value}")
    out.append("\n## Command\n")
    out.append(f"```\n{command}\n```\n")
    out.append("Servers, as started by the driver (port, scratch directory and secret vary):\n")
    seen = set()
    for r in results:
        if r["variant"] in seen:
            continue
        seen.add(r["variant"])
        cmd = " ".join(shorten(a) for a in r["server_cmd"])
        out.append(f"- `{r['variant']}`: `{cmd}`")
    out.append("")
    out.append(
        f"Rate run: {opts.rate:g} events/s for {opts.duration:g} s. Saturation: "
        + (f"{opts.sat_events} events" if opts.sat_events else f"{opts.sat_deliveries:,} deliveries / N events")
        + ", emitted as fast as the server goes ("
        + ", ".join(str(b) for b in opts.sat_producers)
        + " concurrent producer(s), each emitting an event, awaiting emit(), yielding once to the loop, repeat"
        + f"). Event payload: `config_change` with {opts.payload_bytes} bytes of padding. Before each run the driver "
        f"waits up to {opts.quiet_wait:g} s for other processes to go quiet; a run during which they used more "
        f"than {opts.max_other_cpu:g}% of a core is run again (up to {opts.retries} times) and the least "
        "disturbed run is kept.\n"
    )

    out.append("## Throughput, latency, loss\n")
    out.append(
        "| conns | server | run | events emitted | emit time | delivered | delivered events/s | p50 ms | p99 ms "
        "| p99 from schedule | max ms | loss | server CPU | server µs/event | client CPU | other CPU | wire B/event |"
    )
    out.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for p in r["phases"]:
            loss = f"{fmt_int(p['loss'])} ({p['loss_pct']:.2f}%)" if p["loss"] else "0"
            sched = f"{p['sched_p99_ms']:.1f}" if p["rate"] else "-"
            if p["closes"]:
                loss += " closes " + ", ".join(f"{c}x{k}" for k, c in sorted(p["closes"].items()))
            out.append(
                f"| {r['connections']:,} | {r['variant']} | {p['run']} | {fmt_int(p['emitted'])} "
                f"| {p['emit_s']:.1f} s | {fmt_int(p['received'])} | {fmt_int(p['delivered_per_s'])} "
                f"| {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {sched} | {p['max_ms']:.1f} | {loss} "
                f"| {p['server_cpu_s']:.1f} s ({p['server_cpu_pct']:.0f}%) | {p['server_us_per_event']:.1f} "
                f"| {p['client_cpu_pct']:.0f}% | {p['other_cpu_pct']:.0f}% | {p['wire_bytes_per_event']:.0f} |"
            )
    out.append("")
    out.append(
        "emit time: from the first emit() call to the return of the last (rate run: 10 s if the server keeps up). "
        "delivered events/s: events received over all connections / (last receive - first emit). "
        "p50/p99/max: client receive time - the time emit() was called, over every delivered event; "
        "p99 from schedule: the same from the time the event was due (rate runs: shows a server that falls "
        "behind its producers, which the emit() time hides). "
        "Loss: events emitted x open connections - events received. "
        "CPU: % of one core over the run (from the request that starts the emission to the last event received); "
        "other CPU: what other processes used meanwhile (user+system time of the machine minus server and client; "
        "should be ~0). wire B/event: bytes read by the client (frames and headers) per event."
    )
    out.append("")

    out.append("## Memory\n")
    out.append(
        "| conns | server | open conns/s | RSS before | RSS with N idle | KB per idle conn | KB per conn, "
        "second half | RSS after the runs | peak RSS |"
    )
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "rss_idle_kb" not in r:
            continue
        out.append(
            f"| {r['connections']:,} | {r['variant']} | {fmt_int(r['open_per_s'])} "
            f"| {r['rss_base_kb'] / 1024:.1f} MiB | {r['rss_idle_kb'] / 1024:.1f} MiB "
            f"| {r['kb_per_idle_conn']:.1f} | {r['kb_marginal']:.1f} | {r.get('rss_after_kb', 0) / 1024:.1f} MiB "
            f"| {r.get('rss_peak_kb', 0) / 1024:.1f} MiB |"
        )
    out.append("")
    out.append(
        "KB per idle conn: (server RSS with N connections open and idle - RSS before) / N, after a warm-up of "
        "10 connections, with a gc.collect() before each reading. KB per conn, second half: (RSS with N - RSS "
        "with N/2) / (N/2), which leaves out one-time growth (pools, caches). 1 KB = 1024 bytes."
    )
    out.append("")

    for r in results:
        if r.get("tracemalloc"):
            out.append(f"## Where the idle memory goes: {r['variant']} x {r['connections']:,} (tracemalloc)\n")
            per = max(1, r["tracemalloc_conns"])
            out.append(
                f"Python allocations that appeared while the second {per:,} connections were opened, per "
                "connection (the 25 largest sites; RSS figures of a run with --tracemalloc are inflated):\n"
            )
            out.append(
                f"All Python allocations together: {r['traced_diff'] / per / 1024:.1f} KB per connection "
                f"(RSS: {r['kb_marginal']:.1f} KB, inflated by tracemalloc's own bookkeeping).\n"
            )
            out.append("| allocated at | bytes / conn | objects / conn |")
            out.append("|---|---:|---:|")
            for t in r["tracemalloc"]:
                where = shorten(t["where"].replace(str(REPO_ROOT) + "/", "").replace(sys.prefix + "/", ""))
                out.append(f"| {where} | {t['size_diff'] / per:.0f} | {t['count_diff'] / per:.1f} |")
            out.append("")
    deflate = deflate_section(results)
    if deflate:
        out.extend(deflate)
    out.extend(aims_section(results))
    out.extend(client_notes(results))
    return "\n".join(out) + "\n"


def shorten(arg: str) -> str:
    if len(arg) > 40 and "/" not in arg:
        return "<secret>"
    if arg.startswith(str(REPO_ROOT)):
        return os.path.relpath(arg, REPO_ROOT)
    if arg.startswith(tempfile.gettempdir()):
        return "<scratch>/" + Path(arg).name
    return arg


def find(results: list[dict[str, Any]], variant: str, n: int) -> dict[str, Any] | None:
    return next((r for r in results if r["variant"] == variant and r["connections_wanted"] == n), None)


def deflate_section(results: list[dict[str, Any]]) -> list[str]:
    rows = []
    for n in sorted({r["connections_wanted"] for r in results}):
        off, on = find(results, "hub", n), find(results, "hub-deflate", n)
        if not off or not on or "kb_per_idle_conn" not in on:
            continue
        rows.append(
            f"| {n:,} | idle memory | {off['kb_per_idle_conn']:.1f} KB/conn | {on['kb_per_idle_conn']:.1f} KB/conn "
            f"| {on['kb_per_idle_conn'] - off['kb_per_idle_conn']:+.1f} KB/conn |"
        )
        for p_off, p_on in zip(off["phases"], on["phases"], strict=False):
            rows.append(
                f"| {n:,} | {p_off['run']}: server CPU per event | {p_off['server_us_per_event']:.1f} µs "
                f"| {p_on['server_us_per_event']:.1f} µs "
                f"| {p_on['server_us_per_event'] / p_off['server_us_per_event']:.2f}x |"
            )
            rows.append(
                f"| {n:,} | {p_off['run']}: delivered events/s | {fmt_int(p_off['delivered_per_s'])} "
                f"| {fmt_int(p_on['delivered_per_s'])} | {p_on['delivered_per_s'] / p_off['delivered_per_s']:.2f}x |"
            )
            rows.append(
                f"| {n:,} | {p_off['run']}: wire bytes per event | {p_off['wire_bytes_per_event']:.0f} "
                f"| {p_on['wire_bytes_per_event']:.0f} "
                f"| {p_on['wire_bytes_per_event'] / p_off['wire_bytes_per_event']:.2f}x |"
            )
    if not rows:
        return []
    negotiated = [f"{r['deflate_negotiated']:,}/{r['connections']:,}" for r in results if r["variant"] == "hub-deflate"]
    return [
        "## permessage-deflate (our server)\n",
        "`hub` has WEBSOCKET_PERMESSAGE_DEFLATE=false (the default); `hub-deflate` has it true and every client "
        f"offers the extension (negotiated on {', '.join(negotiated)} connections).\n",
        "| conns | figure | deflate off | deflate on | cost |",
        "|---:|---|---:|---:|---:|",
        *rows,
        "",
    ]


def aims_section(results: list[dict[str, Any]]) -> list[str]:
    lines = ["## Aims (2-core machine)\n", "| aim | measured | met |", "|---|---|---|"]
    for n in sorted({r["connections_wanted"] for r in results}):
        hub, plain = find(results, "hub", n), find(results, "plain", n)
        if hub and hub["phases"]:
            rate = hub["phases"][0]
            ok = rate["p99_ms"] < 50 and rate["loss"] == 0
            verdict = ("yes" if ok else "NO") if n == 1000 else "(the aim is stated for 1,000)"
            lines.append(
                f"| {n:,} conns, {rate['run']}: p99 < 50 ms, no loss | p99 {rate['p99_ms']:.1f} ms, "
                f"loss {fmt_int(rate['loss'])} | {verdict} |"
            )
        if hub and plain:
            for p_hub, p_plain in zip(hub["phases"][1:], plain["phases"][1:], strict=False):
                ratio = p_hub["delivered_per_s"] / p_plain["delivered_per_s"] if p_plain["delivered_per_s"] else 0
                lines.append(
                    f"| {n:,} conns, {p_hub['run']}: >= 1.5x the plain loop's delivered events/s "
                    f"| {fmt_int(p_hub['delivered_per_s'])} vs {fmt_int(p_plain['delivered_per_s'])} = {ratio:.2f}x "
                    f"| {'yes' if ratio >= 1.5 else 'NO'} |"
                )
        if hub and "kb_per_idle_conn" in hub:
            kb, marginal = hub["kb_per_idle_conn"], hub["kb_marginal"]
            plain_kb = ""
            if plain and "kb_per_idle_conn" in plain:
                plain_kb = f"; plain loop: {plain['kb_per_idle_conn']:.1f} KB ({plain['kb_marginal']:.1f} KB)"
            lines.append(
                f"| {n:,} conns: < 20 KB server memory per idle connection | {kb:.1f} KB average, {marginal:.1f} KB "
                f"for the second half{plain_kb} | {'yes' if max(kb, marginal) < 20 else 'NO'} |"
            )
    lines.append("")
    return lines


def client_notes(results: list[dict[str, Any]]) -> list[str]:
    busy = [
        f"{r['variant']} x {r['connections']:,} {p['run']} ({p['client_cpu_pct']:.0f}%)"
        for r in results
        for p in r["phases"]
        if p["client_cpu_pct"] >= 90
    ]
    lines = ["## Was the client the bottleneck?\n"]
    if busy:
        lines.append(
            "The load client used 90% or more of its core in: " + "; ".join(busy) + ". In those runs the "
            "delivered events/s are bounded (at least partly) by the client, not only the server: the server's "
            "figure is then a lower bound on what it can push."
        )
    else:
        lines.append("No: the load client stayed under 90% of its core in every run.")
    odd = [
        f"{r['variant']} x {r['connections']:,} {p['run']}: {p['gaps']} gaps, {p['stale']} stale"
        for r in results
        for p in r["phases"]
        if p["gaps"] or p["stale"]
    ]
    if odd:
        lines.append("")
        lines.append(
            "Events out of order or missing on a connection (gaps) or from another run (stale): " + "; ".join(odd)
        )
    repeated = [
        f"{r['variant']} x {r['connections']:,} {p['run']} ({p['attempts']} runs)"
        for r in results
        for p in r["phases"]
        if p.get("attempts", 1) > 1
    ]
    if repeated:
        lines.append("")
        lines.append(
            "Other processes used more than the allowed share of a core during some runs, which were run again and "
            "the least disturbed kept: " + "; ".join(repeated) + "."
        )
    if any(p.get("stopped_early") for r in results for p in r["phases"]):
        lines.append("")
        lines.append("Some runs hit their time limit and the emitter was stopped early (see events emitted).")
    errors = [p["emitter_error"] for r in results for p in r["phases"] if p.get("emitter_error")]
    if errors:
        lines.append("")
        lines.append("Emitter errors: " + "; ".join(errors))
    lines.append("")
    return lines


# --- main ------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run arguments both drivers share (read back by `options_from_args`)."""
    parser.add_argument("--rate", type=float, default=50, help="events per second in the rate run (default 50)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of the rate run (default 10)")
    parser.add_argument("--sat-events", type=int, default=None, help="events in a saturation run (default: auto)")
    parser.add_argument(
        "--sat-deliveries",
        type=int,
        default=1_000_000,
        help="auto saturation size: this many deliveries / connections events (default 1,000,000)",
    )
    parser.add_argument(
        "--sat-producers",
        type=int_list,
        default=[1, 10],
        help="concurrent producers in a saturation run; one saturation run per value (default 1,10)",
    )
    parser.add_argument("--sat-timeout", type=float, default=90, help="time limit of a saturation run, seconds")
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--drain-timeout", type=float, default=3, help="seconds without progress that end a run")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="before each run, wait up to this many seconds for other processes to go quiet (default 30; 0: no)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="run again (up to this many times) a run during which other processes used more than "
        "--max-other-cpu %% of a core; the least disturbed run is kept (default 2)",
    )
    parser.add_argument("--max-other-cpu", type=float, default=25.0, help="see --retries (default 25)")
    parser.add_argument("--json", default=None, help="also write the raw figures as JSON here")
    parser.add_argument("--from-json", default=None, help="only render the report from a --json file of a run")


def options_from_args(args: argparse.Namespace, variants: list[str], **extra: Any) -> Options:
    """The run options both drivers share, from their (same-named) command-line arguments."""
    return Options(
        connections=args.connections,
        variants=variants,
        rate=args.rate,
        duration=args.duration,
        sat_events=args.sat_events,
        sat_deliveries=args.sat_deliveries,
        sat_producers=args.sat_producers,
        sat_timeout=args.sat_timeout,
        payload_bytes=args.payload_bytes,
        drain_timeout=args.drain_timeout,
        pin=not args.no_pin and (os.cpu_count() or 1) >= 2,
        profile_dir=Path(args.profile_dir).resolve() if args.profile_dir else None,
        quiet_wait=args.quiet_wait,
        retries=args.retries,
        max_other_cpu=args.max_other_cpu,
        **extra,
    )


def parse_args(argv: list[str] | None) -> tuple[Options, Path | None, bool, Path | None, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int_list, default=[1000], help="comma-separated (default 1000)")
    parser.add_argument("--variants", default="hub,plain,hub-deflate", help=f"comma-separated, of {VARIANTS}")
    add_run_arguments(parser)
    parser.add_argument("--output", default=str(BENCH_DIR / "RESULTS.md"), help="markdown report ('-': none)")
    parser.add_argument("--profile-dir", default=None, help="cProfile our server into DIR (slows it: figures only)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="report where the servers' idle memory goes (inflates RSS)"
    )
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {VARIANTS}")
    opts = options_from_args(args, variants, tracemalloc=args.tracemalloc)
    output = Path(args.output) if args.output != "-" else None
    json_path = Path(args.json) if args.json else None
    return opts, output, args.keep, json_path, Path(args.from_json) if args.from_json else None


async def amain(opts: Options, workdir: Path) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    results = []
    for n in opts.connections:
        for variant in opts.variants:
            results.append(await run_variant(variant, n, opts, workdir, secret))
    return results


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    opts, output, keep, json_path, from_json = parse_args(argv)
    if from_json is not None:
        # Render the report again from the raw figures of an earlier run (--json), without running anything.
        saved = json.loads(from_json.read_text())
        for key, value in saved.get("options", {}).items():
            setattr(opts, key, Path(value) if key == "profile_dir" and value else value)
        report = render(saved["results"], opts, saved["machine"], saved["command"])
        print(report)
        if output is not None:
            output.write_text(report)
            log(f"wrote {output}")
        return 0
    machine = machine_description()  # before pinning, so that it sees every CPU
    if opts.pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    raise_nofile()
    if opts.profile_dir:
        opts.profile_dir.mkdir(parents=True, exist_ok=True)
    command = " ".join(
        [
            os.path.relpath(sys.executable, REPO_ROOT) if sys.executable.startswith(str(REPO_ROOT)) else sys.executable,
            os.path.relpath(__file__, REPO_ROOT),
            *(argv or sys.argv[1:]),
        ]
    )
    workdir = Path(tempfile.mkdtemp(prefix="ws-bench-"))
    started = time.monotonic()
    # SIGTERM ends the run like Ctrl-C does, so `finally` blocks stop the servers.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run_client(amain(opts, workdir))
    finally:
        for server in list(SERVERS):
            server.stop()
        if keep:
            log(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"done in {time.monotonic() - started:.0f}s")
    report = render(results, opts, machine, command)
    print(report)
    if output is not None:
        output.write_text(report)
        log(f"wrote {output}")
    if json_path is not None:
        options = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()}
        saved = {"machine": machine, "command": command, "options": options, "results": results}
        json_path.write_text(json.dumps(saved, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
