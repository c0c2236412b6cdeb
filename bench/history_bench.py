"""History at scale: read state with 100,000 unread events, and the export in constant memory.

    .venv/bin/python bench/history_bench.py                       # SQLite and PostgreSQL, 100,000 events
    .venv/bin/python bench/history_bench.py --databases sqlite --events 20000

For each database the driver starts our server as a process (this file with `--serve`: the app of
`hybrid-dns serve`, pinned to core 0; the driver on core 1), which publishes the events through the
real event service and archives them (archive.py), as in production. Every bench user is a viewer
with no read state yet, so all the events are unread for each of them. Then, over HTTP on loopback:

- `GET /api/events/unread-count` with every event unread;
- "mark all matching a filter as read": `POST /api/events/ack {"filter": {"zones": ["corp.example"]},
  "all": true}` (half the events match), one fresh user per sample;
- "mark all as read": `POST /api/events/ack {"all": true}`, one fresh user per sample;
- the export of every event (`GET /api/events/export`, NDJSON and CSV) and of a tenth of them,
  read as a stream while the server's RSS is sampled every 10 ms: the growth over the RSS before
  the export is what the export held in memory.

Times are the client's wall time for the whole request (the answer includes the new unread count).
It needs the local PostgreSQL (`--pg`, default postgresql://postgres@127.0.0.1:5432/postgres) for
its PostgreSQL half; it creates and drops a database of its own there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from benchkit.processes import free_port
from benchkit.system import die_with_parent, machine_description, memory_kb, pin_to_cpu
from fastapi import Request

from hybrid_dns.app import create_app
from hybrid_dns.auth.tokens import issue_token
from hybrid_dns.config import Settings
from hybrid_dns.models import User
from hybrid_dns.realtime.events import EventDraft, EventType
from hybrid_dns.server import uvicorn_config

USERS = [f"bench{i}" for i in range(12)]
SECRET = "history-bench-secret-key-0123456789abcdef-0123456789"
SAMPLES = 3


# --- the server (this file with --serve) ----------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    die_with_parent(args.parent_pid)
    pin_to_cpu(args.cpu)
    settings = Settings(
        DATA_DIR=Path(args.data_dir),
        DATABASE_URL=args.database_url,
        SECRET_KEY=SECRET,
        HEALTH_BROADCAST_INTERVAL=1e9,
        SYSTEM_BROADCAST_INTERVAL=1e9,
        WEBSOCKET_DEMO_ENABLED=False,
        LOG_LEVEL="warning",
    )
    app = create_app(settings)
    realtime = app.state.realtime

    @app.post("/bench/seed", include_in_schema=False)
    async def seed(request: Request) -> dict[str, Any]:
        """Publish `count` record events through the event service, `batch` per publish, each batch
        archived before the next (so the broker's history never drops one before it is archived)."""
        body = await request.json()
        count, batch = int(body["count"]), int(body.get("batch", 1000))
        publishing = archiving = 0.0
        for start in range(0, count, batch):
            drafts = []
            for i in range(start, min(count, start + batch)):
                zone, rtype = ("corp.example", "A") if i % 2 == 0 else ("lab.example", "TXT")
                data = {
                    "zone": zone,
                    "name": f"host{i}",
                    "type": rtype,
                    "value": f"192.0.2.{i % 250}",
                    "ttl": 300,
                }
                drafts.append(EventDraft.make(EventType.RECORD_CREATED, data, actor=f"user{i % 7}"))
            t0 = time.perf_counter()
            await realtime.service.publish(drafts)
            t1 = time.perf_counter()
            await realtime.archiver.catch_up()
            t2 = time.perf_counter()
            publishing += t1 - t0
            archiving += t2 - t1
        return {
            "publish_s": publishing,
            "archive_s": archiving,
            "archived": await realtime.archiver.top_seq(),
        }

    async def run() -> None:
        config = uvicorn_config(app, settings, "127.0.0.1", args.port, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.02)
        async with app.state.db() as session:
            for name in USERS:
                session.add(User(username=name, password_hash="!", role="viewer", is_active=True))
            await session.commit()
        for broadcaster in realtime.broadcasters:
            await broadcaster.close()
        print("READY " + json.dumps({"pid": os.getpid()}), flush=True)
        await task

    asyncio.run(run())


# --- the driver -----------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, memory_kb(self.pid)["VmRSS"])
            time.sleep(0.01)


def token(user: str) -> str:
    return issue_token(SECRET, user, "viewer", 3600)[0]


async def timed(http: httpx.AsyncClient, method: str, url: str, user: str, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    response = await http.request(method, url, headers={"Authorization": f"Bearer {token(user)}"}, **kwargs)
    elapsed = (time.perf_counter() - t0) * 1000
    response.raise_for_status()
    return elapsed, response.json()


async def export(http: httpx.AsyncClient, pid: int, user: str, params: dict[str, str]) -> dict[str, Any]:
    before = memory_kb(pid)["VmRSS"]
    sampler = RssSampler(pid)
    sampler.start()
    lines = size = 0
    t0 = time.perf_counter()
    headers = {"Authorization": f"Bearer {token(user)}"}
    async with http.stream("GET", "/api/events/export", params=params, headers=headers) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    return {
        "lines": lines,
        "mb": size / 1e6,
        "seconds": seconds,
        "rss_before_mb": before / 1024,
        "rss_peak_mb": sampler.peak / 1024,
        "growth_mb": max(0, sampler.peak - before) / 1024,
    }


def start(cmd: list[str], log_path: Path, workdir: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)


async def bench_database(name: str, database_url: str, events: int, workdir: Path, pin: bool) -> dict[str, Any]:
    port = free_port()
    log_path = workdir / f"server-{name}.log"
    cmd = [
        sys.executable,
        "-u",
        __file__,
        "--serve",
        "--port",
        str(port),
        "--data-dir",
        str(workdir / f"data-{name}"),
    ]
    cmd += ["--database-url", database_url, "--parent-pid", str(os.getpid())]
    if pin:
        cmd += ["--cpu", "0"]
    proc = await asyncio.to_thread(start, cmd, log_path, workdir)
    try:
        pid = 0
        deadline = time.monotonic() + 60
        while not pid:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}")
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    pid = json.loads(line[6:])["pid"]
            await asyncio.sleep(0.05)
        out: dict[str, Any] = {"database": name, "events": events}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
            t0 = time.perf_counter()
            seeded = (await http.post("/bench/seed", json={"count": events, "batch": 1000})).json()
            out["seed"] = {**seeded, "wall_s": time.perf_counter() - t0}
            print(f"[{name}] seeded {events} events: {out['seed']}", flush=True)
            users = iter(USERS)
            counts = []
            first = next(users)
            for _ in range(SAMPLES):
                ms, body = await timed(http, "GET", "/api/events/unread-count", first)
                assert body["unread_count"] == events, body
                counts.append(ms)
            out["unread_count_ms"] = counts
            matching = []
            for _ in range(SAMPLES):
                body_in = {"filter": {"zones": ["corp.example"]}, "all": True}
                ms, body = await timed(http, "POST", "/api/events/ack", next(users), json=body_in)
                assert body["unread_count"] == events - (events + 1) // 2, body
                matching.append(ms)
            out["mark_matching_ms"] = matching
            everything = []
            for _ in range(SAMPLES):
                ms, body = await timed(http, "POST", "/api/events/ack", next(users), json={"all": True})
                assert body["unread_count"] == 0, body
                everything.append(ms)
            out["mark_all_ms"] = everything
            print(
                f"[{name}] unread-count {counts}, mark matching {matching}, mark all {everything} ms",
                flush=True,
            )
            exporter = next(users)
            out["export"] = {
                "ndjson, all": await export(http, pid, exporter, {"format": "ndjson"}),
                "csv, all": await export(http, pid, exporter, {"format": "csv"}),
                "ndjson, a tenth": await export(http, pid, exporter, {"format": "ndjson", "q": "host1"}),
                "ndjson, all, again": await export(http, pid, exporter, {"format": "ndjson"}),
            }
            for label, figures in out["export"].items():
                print(f"[{name}] export {label}: {figures}", flush=True)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def pg_database(admin_url: str) -> tuple[str, Any]:
    import asyncpg

    name = f"history_bench_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    return f"{base}/{name}", drop


def report(results: list[dict[str, Any]], machine: dict[str, str], command: str) -> str:
    lines = [
        "| database | events | unread-count ms | mark all matching ms | mark all ms | publish + archive |",
        "|---|---:|---|---|---|---|",
    ]
    for r in results:

        def ms(key: str, r: dict[str, Any] = r) -> str:
            values = r[key]
            return f"{statistics.median(values):.1f} (max {max(values):.1f})"

        seed = r["seed"]
        rate = r["events"] / (seed["publish_s"] + seed["archive_s"])
        archive_rate = r["events"] / seed["archive_s"]
        lines.append(
            f"| {r['database']} | {r['events']:,} | {ms('unread_count_ms')} | {ms('mark_matching_ms')} | "
            f"{ms('mark_all_ms')} | {rate:,.0f} events/s ({archive_rate:,.0f}/s archiving) |"
        )
    lines += [
        "",
        "| database | export | lines | MB | seconds | server RSS before | peak | growth |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for label, e in r["export"].items():
            lines.append(
                f"| {r['database']} | {label} | {e['lines']:,} | {e['mb']:.1f} | {e['seconds']:.1f} | "
                f"{e['rss_before_mb']:.1f} MB | {e['rss_peak_mb']:.1f} MB | {e['growth_mb']:.1f} MB |"
            )
    lines += [
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['cpu model']}, {machine['memory']}, {machine['os']}, "
        f"{machine['python']}; {machine['date']}, commit {machine['commit']}. Command: `{command}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--pg",
        default=os.environ.get("HYBRID_DNS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server to core 0 and the driver to core 1",
    )
    parser.add_argument("--json", default=None, help="also write the raw figures here")
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    machine = machine_description()
    if not args.no_pin:
        pin_to_cpu(1)

    async def run() -> list[dict[str, Any]]:
        results = []
        with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
            for name in args.databases.split(","):
                if name == "sqlite":
                    results.append(await bench_database(name, "", args.events, Path(tmp), not args.no_pin))
                elif name == "postgresql":
                    url, drop = await pg_database(args.pg)
                    try:
                        results.append(await bench_database(name, url, args.events, Path(tmp), not args.no_pin))
                    finally:
                        await drop()
                else:
                    raise SystemExit(f"unknown database {name!r}")
        return results

    results = asyncio.run(run())
    command = "python bench/history_bench.py " + " ".join(a for a in sys.argv[1:])
    print()
    print(report(results, machine, command.strip()))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=1))


if __name__ == "__main__":
    main()
