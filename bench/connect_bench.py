"""What a connection costs to open, and a reconnect storm after a restart (issue 14).

    .venv/bin/python bench/connect_bench.py                      # 1,000 then 10,000 connections, then the storm
    .venv/bin/python bench/connect_bench.py --connections 1000 --storm 1000   # a quick look

One server (bench_server.py: our app under `hybrid-dns serve`'s uvicorn set-up, LOG_LEVEL info as in
production, SQLite, the in-memory broker) pinned to core 0; this driver, the load client, on core 1.
Connections belong to `--users` users (bench0..), each user's connections sharing one token, as a
browser's tabs do; each is authenticated (JWT, the user and the revocation looked up) and counted
open when its `connected` frame arrives.

1. Opening: connections are opened at `--rate` per second (each handshake started on time, whatever
   the others are doing) up to each count of `--connections` in turn. For each step: the server's CPU
   (/proc/<pid>/stat) over the step divided by the connections it opened (every cost of a connect:
   TCP accept, HTTP upgrade, token check, look-ups, registration, `connected`, log lines), the time
   until the last `connected`, and RSS growth per connection from before the first step, read as the
   process grows (no forced garbage collection). Then one event is published and the time until
   every connection has it is reported (each one registered and live).
2. The storm: with `--storm` connections open and each having seen the newest event, the server
   is restarted (SIGTERM, then started again on the same port and data directory). As soon as it
   is ready, it publishes `--storm-events` events at `--storm-rate` per second (default 50 at 5/s: at
   50/s the fan-out to 10,000 clients alone would fill the core, ws_bench.py), and every client
   reconnects at once (no jitter: the worst case) with `?since=<last seq seen>&epoch=<epoch>`.
   Reported: the time from the restart's READY until the last client had its `resumed` (or
   `reset`) frame; how many got which; the server CPU over the storm; each storm event's delay
   (emit to receive) p50/p99/max; and whether every client received every storm event exactly once
   and in order (gaps, repeats).

Results go to stdout and bench/CONNECT_RESULTS.md (with the machine and the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import itertools
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from benchkit.client import WsConn, upgrade_request
from benchkit.driver import command_line, publish, session
from benchkit.processes import ServerProcess
from benchkit.report import machine_and_command
from benchkit.runs import wait_connections
from benchkit.system import BENCH_DIR, client_cpu_seconds, log, machine_description, run_client

from hybrid_dns.auth.tokens import issue_token


class StormPool:
    """What the load client's connections share: per connection, its position in the stream, and
    what each storm event did (the `benchkit.client.Pool` interface that WsConn calls)."""

    def __init__(self) -> None:
        self.conns: list[WsConn] = []
        self.phase = None  # WsConn counts wire bytes into a phase when there is one
        self.closes: collections.Counter[int] = collections.Counter()
        self.lost = 0
        self.other = 0
        self.epoch: dict[WsConn, str] = {}
        self.last_seq: dict[WsConn, int] = {}
        self.storm_phase: int | None = None
        self.storm_seen: dict[WsConn, list[int]] = collections.defaultdict(list)  # storm event indexes, in order
        self.storm_delays: list[float] = []  # every storm event: emit to receive (replayed ones too)
        self.live_delays: list[float] = []  # storm events emitted after their connection was live again
        self.resumed_at: dict[WsConn, float] = {}
        self.outcome: collections.Counter[str] = collections.Counter()
        self.replayed = 0
        self.probe_phase: int | None = None
        self.probe_got: int = 0
        self.probe_last: float = 0.0

    def message(self, conn: WsConn, payload: bytes | str, now: float) -> None:
        obj = orjson.loads(payload)
        kind = obj.get("type")
        if kind == "batch":
            events = obj["events"]
        elif kind == "config_change":
            events = (obj,)
        else:
            if kind == "connected":
                self.epoch[conn] = obj["epoch"]
                self.last_seq[conn] = max(self.last_seq.get(conn, 0), obj["last_seq"])
                if not conn.ready.done():
                    conn.ready.set_result(None)
            elif kind in ("resumed", "reset"):
                self.resumed_at[conn] = now
                self.outcome[kind] += 1
                if kind == "resumed":
                    self.replayed += obj["replayed"]
                else:
                    self.epoch[conn] = obj["epoch"]
                    self.last_seq[conn] = obj["last_seq"]
            else:
                self.other += 1
            return
        for event in events:
            seq = event["seq"]
            if seq > self.last_seq.get(conn, 0):
                self.last_seq[conn] = seq
            data = event["data"]
            if data["p"] == self.storm_phase:
                self.storm_seen[conn].append(data["i"])
                self.storm_delays.append(now - data["t"])
                live_at = self.resumed_at.get(conn)
                if live_at is not None and data["t"] >= live_at:
                    self.live_delays.append(now - data["t"])
            elif data["p"] == self.probe_phase:
                self.probe_got += 1
                self.probe_last = now


async def open_paced(
    pool: StormPool, port: int, requests: list[tuple[str, list[str]]], rate: float
) -> tuple[int, float, collections.Counter[str]]:
    """Start one handshake per request at `rate` per second (0: all at once); wait for every `connected`.
    Returns (failures, seconds until the last one was ready, failure reasons)."""
    loop = asyncio.get_running_loop()
    errors: collections.Counter[str] = collections.Counter()

    async def one(path: str, subprotocols: list[str]) -> None:
        request = upgrade_request(port, path, subprotocols, False)
        for attempt in range(20):
            conn: WsConn | None = None
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: WsConn(pool, request, True), "127.0.0.1", port),  # type: ignore[arg-type]
                    60,
                )
                await asyncio.wait_for(conn.ready, 60)
                pool.conns.append(conn)  # only once it is open: a failed attempt is not a client
                return
            except (OSError, TimeoutError, ConnectionError) as exc:
                errors[str(exc)[:100]] += 1
                if conn is not None:
                    conn.close()
                await asyncio.sleep(0.2 * (attempt + 1))
        raise ConnectionError("gave up")

    started = time.monotonic()
    tasks = []
    for i, (path, subprotocols) in enumerate(requests):
        if rate > 0:
            due = started + i / rate
            wait = due - time.monotonic()
            if wait > 0.001:
                await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(path, subprotocols)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = sum(1 for r in results if isinstance(r, BaseException))
    return failures, time.monotonic() - started, errors


def user_requests(tokens: list[str], first: int, count: int) -> list[tuple[str, list[str]]]:
    out = []
    for i in range(first, first + count):
        user = i % len(tokens)
        out.append((f"/ws/system/bench{user}", ["hybrid-dns.v1", f"bearer.{tokens[user]}"]))
    return out


async def probe(server: ServerProcess, pool: StormPool, phase: int, open_now: int, timeout: float = 60) -> float:
    """Publish one event; seconds until every open connection has it (nan if some never did)."""
    pool.probe_phase, pool.probe_got = phase, 0
    t0 = time.monotonic()
    await server.api.emit(phase, 1, 0, 1, 300)
    while pool.probe_got < open_now and time.monotonic() - t0 < timeout:
        await asyncio.sleep(0.01)
    got = pool.probe_got
    pool.probe_phase = None
    return pool.probe_last - t0 if got >= open_now else float("nan")


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    secret = secrets.token_urlsafe(48)
    extra = ["--users", str(args.users), "--log-level", args.log_level]
    server = ServerProcess("hub", workdir, secret, args.pin, args.profile, extra_args=extra)
    tokens = [issue_token(secret, f"bench{u}", "viewer", 4 * 3600)[0] for u in range(args.users)]
    pool = StormPool()
    result: dict[str, Any] = {"steps": [], "users": args.users, "rate": args.rate}
    gc.disable()  # the client makes no cycles worth a pause over thousands of sockets
    try:
        server.start()
        result["server_cpus"] = server.cpus
        # warm-up: imports and first-use caches, on another user's rows than the runs'
        failures, _, _ = await open_paced(pool, server.port, user_requests(tokens, 0, 10), 0)
        if failures:
            raise RuntimeError(f"warm-up failed:\n{server.log_tail()}")
        for conn in pool.conns:
            conn.close()
        pool.conns.clear()
        await wait_connections(server, 0)
        await asyncio.sleep(1.0)
        base_rss = server.memory_kb()["VmRSS"]
        opened = 0
        for target in sorted(args.connections):
            count = target - opened
            cpu0, client0 = server.cpu_seconds(), client_cpu_seconds()
            failures, seconds, errors = await open_paced(
                pool, server.port, user_requests(tokens, opened, count), args.rate
            )
            now_open = await wait_connections(server, target - failures)
            cpu = server.cpu_seconds() - cpu0
            opened = target
            await asyncio.sleep(2.0)
            rss = server.memory_kb()["VmRSS"]
            probe_s = await probe(server, pool, 1000 + target, now_open)
            step = {
                "connections": now_open,
                "opened": count,
                "failures": failures,
                "retries": sum(errors.values()),
                "errors": dict(errors.most_common(3)),
                "seconds": seconds,
                "server_cpu_s": cpu,
                "ms_per_conn": 1000 * cpu / max(1, count - failures),
                "client_cpu_s": client_cpu_seconds() - client0,
                "rss_base_kb": base_rss,
                "rss_kb": rss,
                "kb_per_conn": (rss - base_rss) / max(1, now_open),
                "probe_s": probe_s,
            }
            result["steps"].append(step)
            log(
                f"{now_open} open: {count} opened in {seconds:.1f}s, server CPU {cpu:.2f}s = "
                f"{step['ms_per_conn']:.3f} ms/conn; RSS +{(rss - base_rss) / 1024:.1f} MiB = "
                f"{step['kb_per_conn']:.1f} KB/conn; one event reached all in {probe_s * 1000:.0f} ms"
            )
        if args.storm:
            result["storm"] = await storm(args, server, pool, tokens)
    finally:
        for conn in pool.conns:
            conn.close()
        await server.close()
        gc.enable()
    return result


async def storm(args: argparse.Namespace, server: ServerProcess, pool: StormPool, tokens: list[str]) -> dict[str, Any]:
    # Keep the first `storm` connections (all of them have seen the probe, the newest event).
    keep = pool.conns[: args.storm]
    for conn in pool.conns[args.storm :]:
        conn.close()
    await wait_connections(server, len(keep))
    positions = [(pool.epoch[c], pool.last_seq[c], i) for i, c in enumerate(keep)]
    log(f"storm: restarting the server with {len(keep)} connections open")
    server.stop()
    t_down = time.monotonic()
    while any(c.open for c in keep) and time.monotonic() - t_down < 30:
        await asyncio.sleep(0.05)
    pool.conns.clear()
    server.start()
    t_ready = time.monotonic()
    cpu0, client0 = server.cpu_seconds(), client_cpu_seconds()
    phase = 7
    pool.storm_phase = phase
    await server.api.emit(phase, args.storm_events, args.storm_rate, 1, 300)
    requests = []
    for epoch, seq, i in positions:
        path, subprotocols = user_requests(tokens, i, 1)[0]
        requests.append((f"{path}?since={seq}&epoch={epoch}", subprotocols))
    failures, open_s, errors = await open_paced(pool, server.port, requests, 0)
    deadline = time.monotonic() + 60
    while len(pool.resumed_at) < len(pool.conns) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    last_live = max(pool.resumed_at.values(), default=float("nan")) - t_ready
    storm_cpu = server.cpu_seconds() - cpu0
    # then every storm event, on every connection
    deadline = time.monotonic() + 60
    want = args.storm_events
    while time.monotonic() < deadline:
        if all(len(pool.storm_seen[c]) >= want for c in pool.conns):
            break
        await asyncio.sleep(0.1)
    gaps = repeats = missing = 0
    for conn in pool.conns:
        seen = pool.storm_seen[conn]
        repeats += len(seen) - len(set(seen))
        missing += want - len(set(seen))
        gaps += sum(1 for a, b in itertools.pairwise(seen) if b != a + 1)
    delays = sorted(pool.storm_delays)
    live = sorted(pool.live_delays)

    def pct(q: float, values: list[float] = delays) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")

    result = {
        "clients": len(keep),
        "reconnected": len(pool.conns),
        "failures": failures,
        "retries": sum(errors.values()),
        "errors": dict(errors.most_common(3)),
        "connected_all_s": open_s,
        "last_live_s": last_live,
        "outcome": dict(pool.outcome),
        "replayed": pool.replayed,
        "server_cpu_s": storm_cpu,
        "client_cpu_s": client_cpu_seconds() - client0,
        "events": want,
        "event_rate": args.storm_rate,
        "delay_p50_ms": pct(0.5),
        "delay_p99_ms": pct(0.99),
        "delay_max_ms": delays[-1] * 1000 if delays else float("nan"),
        "live_events": len(live),
        "live_p50_ms": pct(0.5, live),
        "live_p99_ms": pct(0.99, live),
        "live_max_ms": live[-1] * 1000 if live else float("nan"),
        "missing": missing,
        "repeats": repeats,
        "out_of_order": gaps,
    }
    log(
        f"storm: {len(pool.conns)} reconnected; the last live {last_live:.2f}s after READY "
        f"({dict(pool.outcome)}, {pool.replayed} events replayed); server CPU {storm_cpu:.1f}s, client CPU "
        f"{result['client_cpu_s']:.1f}s; "
        f"storm events delayed p50 {result['delay_p50_ms']:.0f} / p99 {result['delay_p99_ms']:.0f} / max "
        f"{result['delay_max_ms']:.0f} ms (to connections already live: p50 {result['live_p50_ms']:.0f} / p99 "
        f"{result['live_p99_ms']:.0f} / max {result['live_max_ms']:.0f} ms); missing {missing}, repeated {repeats}, "
        f"out of order {gaps}"
    )
    return result


STEP_HEAD = (
    "| open connections | opened in this step | seconds | server CPU | per connection "
    "| KB per connection (RSS growth, no gc) | one event to all |"
)
STORM_HEAD = (
    "| last client live after READY | resumed / reset | replayed | server CPU "
    "| storm events' delay p50 / p99 / max | to clients already live: p50 / p99 / max "
    "| missing | repeated | out of order |"
)


def render(result: dict[str, Any], machine: dict[str, str], command: str) -> str:
    lines = [
        "# Connection cost and reconnect storm (bench/connect_bench.py)\n",
        f"Server pinned to cpu {result.get('server_cpus', '?')}; {result['users']:,} users; "
        f"connections opened at {result['rate']:g}/s.\n",
        STEP_HEAD,
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["steps"]:
        lines.append(
            f"| {s['connections']:,} | {s['opened']:,} | {s['seconds']:.1f} | {s['server_cpu_s']:.2f} s | "
            f"{s['ms_per_conn']:.3f} ms | {s['kb_per_conn']:.1f} | {s['probe_s'] * 1000:.0f} ms |"
        )
    st = result.get("storm")
    if st:
        outcome = st["outcome"]
        lines += [
            "",
            (
                f"Storm: {st['clients']:,} clients reconnect at once after a restart, with since/epoch, "
                f"while {st['events']} events are published at {st['event_rate']:g}/s.\n"
            ),
            STORM_HEAD,
            "|---:|---|---:|---:|---|---|---:|---:|---:|",
            (
                f"| {st['last_live_s']:.2f} s | {outcome.get('resumed', 0):,} / {outcome.get('reset', 0):,} | "
                f"{st['replayed']:,} | {st['server_cpu_s']:.1f} s | {st['delay_p50_ms']:.0f} / "
                f"{st['delay_p99_ms']:.0f} / {st['delay_max_ms']:.0f} ms | {st['live_p50_ms']:.0f} / "
                f"{st['live_p99_ms']:.0f} / {st['live_max_ms']:.0f} ms | {st['missing']} | {st['repeats']} | "
                f"{st['out_of_order']} |"
            ),
        ]
    lines.append("")
    lines += machine_and_command(machine, command)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1000,10000", help="comma-separated steps (default 1000,10000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="handshakes started per second (default 1000)")
    parser.add_argument("--users", type=int, default=1000, help="users the connections belong to (default 1000)")
    parser.add_argument("--storm", type=int, default=10000, help="clients in the reconnect storm (0: none)")
    parser.add_argument("--storm-events", type=int, default=50, help="events published during the storm")
    parser.add_argument(
        "--storm-rate", type=float, default=5.0, help="their rate per second (5: 50,000 deliveries/s to 10,000 clients)"
    )
    parser.add_argument("--log-level", default="info", help="the server's LOG_LEVEL (default info, as in production)")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--profile", type=Path, default=None, help="write the server's cProfile stats here")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "CONNECT_RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs)")
    args = parser.parse_args(argv)
    args.connections = [int(x) for x in args.connections.split(",") if x]
    if args.storm > max(args.connections):
        parser.error("--storm cannot exceed the largest --connections step")
    machine = machine_description()  # before pinning, so that it sees every CPU
    with session("connect-bench-", args.pin, None, args.keep) as workdir:
        result = run_client(run(args, workdir))
    report = render(result, machine, command_line(__file__, argv))
    publish(report, args.output)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(sys.argv[1:])
