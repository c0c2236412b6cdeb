"""The machine as the benchmarks see it: cores and pinning, the open-file limit, CPU time and memory
from `/proc`, and the description of the machine that heads each report.

Linux only (`/proc`, `sched_setaffinity`, `prctl`). The servers import this module too, so it
needs nothing beyond the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime
import importlib.util
import os
import platform
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCH_DIR.parent
SERVER_CPU = 0  # the server's core (the whole server side's, in multi_bench.py's default layout)
CLIENT_CPU = 1  # the driver's, which is also the load client
CLK_TCK = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


class HasCpu(Protocol):
    """A process of the benchmark whose CPU time a run accounts for."""

    def cpu_seconds(self) -> float: ...


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- a process's set-up ----------------------------------------------------------------------


def pin_to_cpu(cpu: int | None) -> str:
    """Pin this process (and the threads it starts later) to one CPU; says what it did.

    The driver pins itself first, so the inherited affinity says nothing about what is online:
    ask for the CPU and let the kernel refuse.
    """
    if cpu is None or cpu < 0:
        return "not pinned"
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        return f"not pinned (cpu {cpu}: {exc})"
    return f"cpu {cpu}"


def raise_nofile(wanted: int = 65536) -> int:
    """Raise the soft open-file limit toward `wanted` (5,000 connections need more than 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def die_with_parent(parent_pid: int | None) -> None:
    """SIGTERM this process when the driver dies (even by SIGKILL), so no server is left behind."""
    if not parent_pid or not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the driver died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def run_server(main: Coroutine[Any, Any, T]) -> T:
    """Run a benchmark server on the event loop `uvicorn.Server.run` (so `hybrid-dns serve`) picks with
    loop="auto": uvloop when installed. (`asyncio.run` would take the default selector loop: until
    2026-12-02 both bench servers did, while the reports said uvloop.)"""
    from uvicorn.loops.auto import auto_loop_factory

    with asyncio.Runner(loop_factory=auto_loop_factory(use_subprocess=False)) as runner:
        return runner.run(main)


def run_client(main: Coroutine[Any, Any, T]) -> T:
    """Run the load client on uvloop when it is installed: the client must not be what limits a run."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


# --- /proc -----------------------------------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KB."""
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its whole thread group), in 1/CLK_TCK ticks."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpus_allowed(pid: int | str = "self") -> str:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return "?"


def machine_busy_seconds() -> float:
    """user + nice + system + steal time of all CPUs (not irq/softirq, which no process is charged)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + steal) / CLK_TCK


def client_cpu_seconds() -> float:
    """The driver's CPU time: the load client's, with the little the driver itself spends."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_of(processes: Sequence[HasCpu]) -> float:
    return sum(p.cpu_seconds() for p in processes)


class CpuSampler:
    """A thread that reads, every `interval` s, the load client's CPU time and the server side's, so
    that a run can say when the server side was done and for how long the client ran flat out:
    averages over a run hide a client that waits while the servers work, then runs alone at 100%
    while it reads what they wrote into the sockets."""

    def __init__(self, processes: Sequence[HasCpu], interval: float = 0.1) -> None:
        self.processes = processes
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (monotonic time, client CPU s, server side CPU s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        self.samples.append((time.monotonic(), client_cpu_seconds(), cpu_of(self.processes)))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self, start: float, span: float) -> dict[str, float]:
        """Over [start, start + span]: the seconds the client used >= 90% of its core, and when the
        server side last used >= 20% of a core (seconds after start; CPU time comes in 10 ms ticks)."""
        client_full = 0.0
        server_until = 0.0
        end = start + span
        for (t0, c0, s0), (t1, c1, s1) in zip(self.samples, self.samples[1:], strict=False):
            if t1 <= start or t0 >= end:
                continue
            dt = t1 - t0
            if (c1 - c0) / dt >= 0.9:
                client_full += min(t1, end) - max(t0, start)
            if (s1 - s0) / dt >= 0.2:
                server_until = min(t1, end) - start
        return {"client_full_s": client_full, "server_busy_until_s": server_until}


# --- the machine's description -----------------------------------------------------------------


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def event_loop_description() -> str:
    """What uvicorn's loop="auto" and http="auto" pick in this environment (both servers use them)."""
    loop = "uvloop" if has_module("uvloop") else "asyncio (default selector loop)"
    http = "httptools" if has_module("httptools") else "h11"
    return f"{loop}, HTTP parser {http} (uvicorn's auto choices, the same for every server); load client on {loop}"


def machine_description() -> dict[str, str]:
    """The report's `Machine` section; call it before pinning, so that it sees every CPU."""
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
