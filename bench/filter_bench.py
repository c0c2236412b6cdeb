"""What server-side filters cost the hub: CPU per event and dispatch-time percentiles, in process.

    .venv/bin/python bench/filter_bench.py                    # 1,000 and 5,000 connections (a few minutes)
    .venv/bin/python bench/filter_bench.py --connections 1000 --scenarios none,zones
    git archive HEAD backend/src | tar -x -C /tmp/head        # the hub before a change, for `none`:
    .venv/bin/python bench/filter_bench.py --baseline /tmp/head/backend/src

The real `Hub`, real `Connection`s and real events (`EventDraft.make`, so with their `about`), no
sockets: each connection is registered and never started, so a dispatch does everything it does for
a live socket (pick the targets: the per-type set, the audience rule, the filtered index and each
candidate's filter; put the frame on each target's queue) except the write itself, which costs the
same per delivery with or without filters (see RESULTS.md for what a delivery costs on the wire).
Queues are emptied between dispatches, outside the timing.

Scenarios, N connections of one admin each subscribed to every type:

| scenario | connections |
|---|---|
| `none` | no filter (the path every connection took before filters existed) |
| `zones` | 90% with a zone filter of 1 to 3 zones out of `--zones` (1,000) zones; 10% no filter |
| `zones+severity` | as `zones`, each also `min_severity: warning` |
| `severity` | 90% with `min_severity: error`; 10% no filter |
| `text` | 90% with `text` (never indexed: every such connection's filter is checked per event); 10% no filter |
| `zones-scan` | as `zones`, but every connection checked in turn (the reference without the index) |

Events: `record_created` / `record_updated` in one of the zones (names under it), 94% info, 5%
warning, 1% error, one of 20 actors; each dispatched alone (the common case: one emit, one event).
Reported: events/s through dispatch, process CPU per event, dispatch time p50/p99/max (a wall
clock per dispatch), and deliveries (queued frames) per event. Each measurement runs in a process
of its own, pinned to `--cpu`; of `--repeat` runs the one with the least CPU per event is reported
(on a shared machine the others were disturbed). With `--baseline DIR`, `none` is also measured
with the `hybrid_dns` package under DIR (another tree, e.g. the last commit), its runs alternating
with this tree's, so that both see the same machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

SCENARIOS = ("none", "zones", "zones+severity", "severity", "text", "zones-scan")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--connections", default="1000,5000", help="comma-separated (default 1000,5000)"
    )
    parser.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="events per run at 1,000 connections, fewer with more (default 10000)",
    )
    parser.add_argument(
        "--zones",
        type=int,
        default=1000,
        help="zones events and filters are spread over",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of {SCENARIOS}",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="also measure `none` with the hybrid_dns package under DIR",
    )
    parser.add_argument(
        "--cpu", type=int, default=0, help="pin each run to this CPU (-1: do not pin)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per scenario; the least CPU per event is reported",
    )
    parser.add_argument(
        "--worker", default=None, help=argparse.SUPPRESS
    )  # one run, as JSON: see _worker
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.worker is not None:
        return _worker(json.loads(args.worker))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from benchkit.system import machine_description

    machine = machine_description()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(
            f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}"
        )
    here = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "backend", "src"
    )
    rows = []
    for n in (int(x) for x in args.connections.split(",")):
        events = max(1000, args.events * 1000 // n)
        for scenario in scenarios:
            trees = [("this tree", here)]
            if scenario == "none" and args.baseline:
                trees.append(("baseline", os.path.abspath(args.baseline)))
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):
                for (
                    label,
                    src,
                ) in trees:  # alternating, so that both see the same machine
                    job = {
                        "scenario": scenario,
                        "n": n,
                        "events": events,
                        "zones": args.zones,
                        "src": src,
                    }
                    job["cpu"] = args.cpu
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", json.dumps(job)],
                        check=False,
                        capture_output=True,
                        text=True,
                    )
                    if out.returncode != 0:
                        raise SystemExit(f"run failed: {job}\n{out.stderr}")
                    result = json.loads(out.stdout)
                    if label not in best or result["cpu_us"] < best[label]["cpu_us"]:
                        best[label] = result
            for label, _ in trees:
                r = best[label] | {"tree": label}
                rows.append(r)
                print(
                    f"[{time.strftime('%H:%M:%S')}] {scenario} x {n} ({label}): {r['cpu_us']:.1f} us CPU/event, "
                    f"p99 {r['p99_us']:.1f} us, {r['deliveries']:.0f} deliveries/event",
                    file=sys.stderr,
                )
    print(f"Pinned to cpu {args.cpu}; best of {args.repeat} runs each.\n")
    print(
        "| connections | scenario | events | events/s | CPU µs/event | dispatch p50 µs | p99 µs | max µs "
        "| deliveries/event |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = f"`{r['scenario']}`" + (" (baseline)" if r["tree"] == "baseline" else "")
        print(
            f"| {r['n']:,} | {name} | {r['events']:,} | {r['events_per_s']:,.0f} | {r['cpu_us']:.1f} | "
            f"{r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['max_us']:.0f} | {r['deliveries']:.1f} |"
        )
    print()
    for key, value in machine.items():
        print(f"- {key}: {value}")
    if args.baseline:
        print(f"- baseline: {os.path.abspath(args.baseline)}")
    return 0


def _worker(job: dict[str, Any]) -> int:
    """One run in this process: pinned, importing hybrid_dns from the job's tree; prints its figures as JSON."""
    sys.path.insert(0, job["src"])
    if job["cpu"] >= 0:
        os.sched_setaffinity(0, {job["cpu"]})
    result = run(job["scenario"], job["n"], job["events"], job["zones"])
    print(json.dumps(result | {"events": job["events"]}))
    return 0


def _filter_for(scenario: str, rng: random.Random, zones: int) -> dict[str, Any] | None:
    if rng.random() < 0.1 or scenario == "none":
        return None
    if scenario in ("zones", "zones-scan", "zones+severity"):
        f: dict[str, Any] = {
            "zones": [
                f"z{rng.randrange(zones)}.example" for _ in range(rng.randint(1, 3))
            ]
        }
        if scenario == "zones+severity":
            f["min_severity"] = "warning"
        return f
    if scenario == "severity":
        return {"min_severity": "error"}
    if scenario == "text":
        return {"text": f"host{rng.randrange(50)}."}
    raise ValueError(scenario)


def run(scenario: str, n: int, events: int, zones: int) -> dict[str, Any]:
    from hybrid_dns.auth.roles import Role
    from hybrid_dns.realtime.events import ConnectionType, Event, EventDraft
    from hybrid_dns.realtime.hub import Hub
    from hybrid_dns.realtime.metrics import RealtimeMetrics

    rng = random.Random(42)
    hub = Hub(RealtimeMetrics(), queue_limit=1000)

    async def never(message: dict[str, Any]) -> None:
        raise AssertionError("not started: nothing is sent")

    conns = []
    filters = []
    for _ in range(n):
        obj = _filter_for(scenario, rng, zones)
        kwargs: dict[str, Any] = {}
        if obj is not None and scenario != "zones-scan":
            from hybrid_dns.realtime.filters import parse_filter

            kwargs["event_filter"] = parse_filter(obj)
        conn = hub.register(
            never,
            connection_type=ConnectionType.ADMIN,
            user_id="bench",
            role=Role.ADMIN,
            first_frame=lambda c: "{}",
            start=False,
            **kwargs,
        )
        conns.append(conn)
        if scenario == "zones-scan" and obj is not None:
            from hybrid_dns.realtime.filters import parse_filter

            filters.append((conn, parse_filter(obj)))
    for conn in conns:
        conn.queue.clear()

    drafts = []
    for i in range(events):
        zone = f"z{rng.randrange(zones)}.example"
        roll = rng.random()
        severity = "error" if roll < 0.01 else ("warning" if roll < 0.06 else "info")
        data = {
            "zone": zone,
            "name": f"host{rng.randrange(50)}",
            "type": "A",
            "value": f"192.0.2.{i % 250}",
            "i": i,
        }
        etype = "record_created" if i % 2 else "record_updated"
        drafts.append(
            EventDraft.make(
                etype, data, actor=f"user{rng.randrange(20)}", severity=severity
            )
        )
    evs = [Event.from_draft(d, seq) for seq, d in enumerate(drafts, 1)]

    if scenario == "zones-scan":
        # The reference without the index: every filtered connection is looked at for every event.
        scanned = filters

        def dispatch(event: Event) -> None:
            hub.dispatch([event])  # the unfiltered 10%, as usual
            item = (event.frame, event.emitted_at, event.seq)
            for conn, f in scanned:
                if f is not None and f.matches(event):
                    conn.queue.put(item)

        # Those connections take no part in the hub's own fan-out.
        for conn, _ in scanned:
            hub.set_subscriptions(conn, ())
    else:

        def dispatch(event: Event) -> None:
            hub.dispatch([event])

    times = []
    delivered = 0
    gc.collect()
    gc.freeze()
    gc.disable()
    clock = time.perf_counter_ns
    cpu_total = 0.0
    try:
        for start in range(0, events, 50):
            chunk = evs[start : start + 50]
            cpu0 = time.process_time()
            for event in chunk:
                t0 = clock()
                dispatch(event)
                times.append(clock() - t0)
            cpu_total += time.process_time() - cpu0
            for conn in conns:
                delivered += len(conn.queue)
                conn.queue.clear()
    finally:
        gc.enable()
        gc.unfreeze()
    times.sort()
    wall = sum(times) / 1e9
    return {
        "scenario": scenario,
        "n": n,
        "events_per_s": events / wall,
        "cpu_us": cpu_total / events * 1e6,
        "p50_us": statistics.median(times) / 1000,
        "p99_us": times[int(len(times) * 0.99)] / 1000,
        "max_us": times[-1] / 1000,
        "deliveries": delivered / events,
    }


if __name__ == "__main__":
    sys.exit(main())
