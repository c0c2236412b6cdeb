"""Two server processes behind one real redis-server that fails: what their clients and emitters see.

Redis here keeps nothing on disk, so a restart brings it back empty: the worst case for history.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import ProcessServer, RedisServer, WsClient, wait_until
from test_multi_instance import Cluster, running_cluster
from websockets.exceptions import ConnectionClosed

EMIT = "/api/websocket-demo/emit-dns-event"


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    with running_cluster(tmp_path, redis_server) as c:
        c.env["BROKER_PUBLISH_TIMEOUT"] = "0.5"  # emits during an outage answer 503 sooner
        yield c


class Collector:
    """Everything one WebSocket client receives, in order, read as it arrives."""

    def __init__(self, client: WsClient) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = []  # events (batches flattened) and resets, in arrival order
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = orjson.loads(await self.client.ws.recv())
                if frame.get("type") == "batch":
                    self.frames.extend(frame["events"])
                elif frame.get("type") == "reset" or "seq" in frame:
                    self.frames.append(frame)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") != "reset"]

    @property
    def resets(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "reset"]

    @property
    def ids(self) -> set[str]:
        return {e["id"] for e in self.events}

    def segments(self) -> list[list[int]]:
        """The seqs received between resets: one list per epoch."""
        return [
            [f["seq"] for f in group]
            for is_reset, group in itertools.groupby(self.frames, key=lambda f: f.get("type") == "reset")
            if not is_reset
        ]


async def history_ids(cluster: Cluster, server: ProcessServer, http: httpx.AsyncClient) -> set[str]:
    """Every event id GET /api/events shows on `server`, page by page."""
    ids: set[str] = set()
    after = 0
    while True:
        page = await http.get(
            f"{server.base_url}/api/events", params={"after_seq": after, "limit": 500}, headers=cluster.headers()
        )
        assert page.status_code == 200, page.text
        body = page.json()
        ids.update(e["id"] for e in body["events"])
        if not body["has_more"] or not body["events"]:
            return ids
        after = body["events"][-1]["seq"]


async def test_an_empty_redis_restarting_under_load_loses_no_acknowledged_event(cluster: Cluster) -> None:
    """Emits keep coming through both instances while Redis restarts empty five times. Every emit
    that answered 200 reaches the clients of both instances (or, at the least, GET /api/events),
    and each restart is one new epoch and one `reset` for each client."""
    a, b = cluster.add("a"), cluster.add("b")
    restarts = 5
    acked: list[str] = []
    stop = asyncio.Event()

    async def emit_through(server: ProcessServer, start: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for i in itertools.count(start):
                if stop.is_set():
                    return
                with contextlib.suppress(httpx.TransportError):
                    response = await cluster.emit(server, http, i)
                    if response.status_code == 200:
                        acked.append(response.json()["id"])
                    else:  # Redis is down: nothing acknowledged, and the caller is told so
                        assert response.status_code == 503, response.text

    async with cluster.ws(a, "dns_management", "viewer") as on_a, cluster.ws(b, "dns_management", "admin") as on_b:
        first_epoch = on_a.connected["epoch"]  # type: ignore[index]
        clients = {"a": Collector(on_a), "b": Collector(on_b)}
        emitters = [asyncio.ensure_future(emit_through(a, 0)), asyncio.ensure_future(emit_through(b, 10**6))]
        try:
            for n in range(restarts):
                goal = len(acked) + 20
                await wait_until(lambda goal=goal: len(acked) >= goal, 20, "emits to go through")
                await asyncio.to_thread(cluster.redis.restart)  # back at once, and empty
                await wait_until(
                    lambda n=n: all(len(c.resets) >= n + 1 for c in clients.values()),
                    20,
                    f"both instances' clients to be told of restart {n + 1}",
                )
            goal = len(acked) + 20
            await wait_until(lambda: len(acked) >= goal, 20, "emits after the last restart")
        finally:
            stop.set()
            await asyncio.gather(*emitters)

        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=10) as http:
            for name, client in clients.items():
                server = a if name == "a" else b
                missing = set(acked) - client.ids
                deadline = loop.time() + 20  # the last events may still be on their way
                while missing and loop.time() < deadline:
                    missing -= client.ids | await history_ids(cluster, server, http)
                    await asyncio.sleep(0.1)
                assert not missing, (
                    f"{len(missing)} of {len(acked)} acknowledged events reached neither the clients of {name}"
                    " nor its GET /api/events"
                )
        for name, client in clients.items():
            events = client.events
            assert len(events) == len(client.ids), f"{name}: an event arrived twice"
            resets = client.resets
            assert [r["reason"] for r in resets] == ["epoch_changed"] * restarts, f"{name}: {resets}"
            epochs = [r["epoch"] for r in resets]
            assert len({first_epoch, *epochs}) == restarts + 1, f"{name}: an epoch seen twice {epochs}"
            for segment in client.segments():
                assert segment == sorted(set(segment)), f"{name}: seqs out of order within an epoch"
        assert [r["epoch"] for r in clients["a"].resets] == [r["epoch"] for r in clients["b"].resets]


async def test_both_instances_deliver_again_within_a_second_of_redis_returning(cluster: Cluster) -> None:
    a, b = cluster.add("a"), cluster.add("b")
    loop = asyncio.get_running_loop()
    async with (
        cluster.ws(a, "dns_management", "viewer") as on_a,
        cluster.ws(b, "dns_management", "admin") as on_b,
        httpx.AsyncClient(timeout=10) as http,
    ):
        clients = {"a": Collector(on_a), "b": Collector(on_b)}
        cluster.redis.stop()
        for server in (a, b):
            await wait_until_async(lambda s=server: http.get(f"{s.base_url}/healthz"), 503, "/healthz to say 503")
        # The outage itself: long enough for a reconnect backoff allowed to grow to seconds to do so, so
        # that a reader sleeping long between tries would make its instance lag behind the other.
        down_until = loop.time() + 6
        while loop.time() < down_until:
            assert (await http.get(f"{a.base_url}/healthz")).status_code == 503
            await asyncio.sleep(0.5)
        await asyncio.to_thread(cluster.redis.start)  # empty
        back = loop.time()
        deadline = back + 1.5  # "within about a second", with room for a loaded machine (it takes ~0.3 s)

        async def healthy(server: ProcessServer) -> None:
            while (await http.get(f"{server.base_url}/healthz")).status_code != 200:
                assert loop.time() < deadline, f"{server.base_url}/healthz still 503 after {loop.time() - back:.1f} s"
                await asyncio.sleep(0.05)

        # Both instances are healthy again by themselves: nothing is emitted on b, nothing wakes it.
        await asyncio.gather(healthy(a), healthy(b))
        while (response := await cluster.emit(a, http, 1)).status_code != 200:
            assert response.status_code == 503 and loop.time() < deadline, response.text
        event_id = response.json()["id"]
        await wait_until(
            lambda: all(event_id in c.ids for c in clients.values()),
            max(0.01, deadline - loop.time()),
            "both instances' clients to receive an event emitted after Redis came back",
        )
        assert all(len(c.resets) == 1 for c in clients.values())


async def wait_until_async(fetch: Any, status: int, what: str, timeout: float = 10) -> None:
    """Until `fetch()` answers `status`, with a deadline."""
    try:
        async with asyncio.timeout(timeout):
            while (await fetch()).status_code != status:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


async def test_an_idempotency_key_makes_a_retry_safe_across_instances_and_outages(cluster: Cluster) -> None:
    a, b = cluster.add("a"), cluster.add("b")

    async def emit(server: ProcessServer, key: str, i: int) -> httpx.Response:
        headers = {**cluster.headers(), "Idempotency-Key": key}
        body = {"event_type": "zone_updated", "data": {"i": i}}
        return await http.post(f"{server.base_url}{EMIT}", json=body, headers=headers)

    async with cluster.ws(b, "dns_management", "viewer") as client, httpx.AsyncClient(timeout=10) as http:
        collector = Collector(client)
        first = await emit(a, "order-1", 1)
        again = await emit(b, "order-1", 1)  # the same request, retried on the other instance
        other = await emit(a, "order-2", 2)
        assert first.status_code == again.status_code == other.status_code == 200
        assert again.json() == first.json()
        assert other.json()["seq"] > first.json()["seq"]
        await wait_until(lambda: other.json()["id"] in collector.ids, 10, "the second event")
        assert [e["id"] for e in collector.events] == [first.json()["id"], other.json()["id"]]

        # Redis unreachable: the answer does not claim that nothing was published, and says what to do.
        cluster.redis.stop()
        failed = await emit(a, "order-3", 3)
        assert failed.status_code == 503
        assert failed.json()["detail"] == (
            "event broker unavailable; the event may not have been published: retry with the same Idempotency-Key"
        )
        await asyncio.to_thread(cluster.redis.start)
        retried = [await emit(server, "order-3", 3) for server in (a, b, a)]
        assert [r.status_code for r in retried] == [200, 200, 200]
        assert retried[0].json() == retried[1].json() == retried[2].json()
        await wait_until(lambda: retried[0].json()["id"] in collector.ids, 10, "the retried event")
        assert sum(e["id"] == retried[0].json()["id"] for e in collector.events) == 1
