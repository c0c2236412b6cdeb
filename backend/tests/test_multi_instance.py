"""Several server processes behind one Redis: one order, resume anywhere, survive kill -9 and a Redis restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ProcessServer, RedisServer, WsClient, wait_until, ws_open
from websockets.exceptions import ConnectionClosed

from hybrid_dns.auth.tokens import issue_token

USERS = {"admin": "admin", "viewer": "viewer"}


class Cluster:
    def __init__(self, tmp_path: Path, redis: RedisServer) -> None:
        self.data = tmp_path / "data"
        self.redis = redis
        self.instances: list[ProcessServer] = []
        self.env = {"DATA_DIR": str(self.data), "BROKER_URL": redis.url, "LOG_LEVEL": "info"}

    def add(self, name: str) -> ProcessServer:
        server = ProcessServer({**self.env, "INSTANCE_ID": name}, self.data.parent / f"{name}.log").start()
        self.instances.append(server)
        return server

    def token(self, user: str) -> str:
        secret = (self.data / "secret-key").read_text().strip()
        return issue_token(secret, user, USERS[user], 3600)[0]

    def headers(self, user: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    @contextlib.asynccontextmanager
    async def ws(self, server: ProcessServer, ctype: str, user: str, **query: Any) -> Any:
        async with ws_open(server, ctype, user, token=self.token(user), query=query) as client:  # type: ignore[arg-type]
            yield client

    async def emit(self, server: ProcessServer, http: httpx.AsyncClient, i: int) -> httpx.Response:
        return await http.post(
            f"{server.base_url}/api/websocket-demo/emit-dns-event",
            json={"event_type": "zone_updated", "data": {"i": i}},
            headers=self.headers(),
        )


@contextlib.contextmanager
def running_cluster(tmp_path: Path, redis: RedisServer) -> Iterator[Cluster]:
    """A data directory with its users, ready for instances (`add`), all killed at the end."""
    c = Cluster(tmp_path, redis)
    first = c.add("a")  # creates the database, the secret key and the first admin
    first.terminate()
    c.instances.clear()
    env = {**os.environ, **c.env}
    for name, role in USERS.items():
        if name != "admin":
            subprocess.run(
                [sys.executable, "-m", "hybrid_dns.cli", "create-user", name, "--role", role],
                env={**env, "HYBRID_DNS_PASSWORD": "long enough password"},
                check=True,
                capture_output=True,
            )
    try:
        yield c
    finally:
        for server in c.instances:
            server.kill()


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    with running_cluster(tmp_path, redis_server) as c:
        yield c


async def events(client: WsClient, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    return [await client.next_event(timeout) for _ in range(count)]


async def test_clients_on_two_instances_see_one_order(cluster: Cluster) -> None:
    a, b = cluster.add("a"), cluster.add("b")
    async with cluster.ws(a, "dns_management", "viewer") as on_a, cluster.ws(b, "dns_management", "admin") as on_b:
        assert on_a.connected["epoch"] == on_b.connected["epoch"]  # type: ignore[index]
        assert (on_a.connected["instance_id"], on_b.connected["instance_id"]) == ("a", "b")  # type: ignore[index]
        async with httpx.AsyncClient(timeout=10) as http:
            results = await asyncio.gather(*(cluster.emit(a if i % 2 else b, http, i) for i in range(40)))
        assert all(r.status_code == 200 for r in results)
        got_a, got_b = await events(on_a, 40), await events(on_b, 40)
        assert [e["id"] for e in got_a] == [e["id"] for e in got_b]
        seqs = [e["seq"] for e in got_a]
        assert seqs == list(range(seqs[0], seqs[0] + 40))
        assert {r.json()["id"] for r in results} == {e["id"] for e in got_a}

        async with httpx.AsyncClient(timeout=10) as http, asyncio.timeout(10):
            while True:  # other instances' figures are as fresh as their last heartbeat (every 2 s)
                stats = (await http.get(f"{a.base_url}/api/websocket/stats", headers=cluster.headers())).json()
                if stats["cluster"]["total_connections"] == 2:
                    break
                await asyncio.sleep(0.2)
        assert stats["cluster"]["instances"] == 2
        assert stats["cluster"]["total_connections"] == 2
        assert stats["cluster"]["connections_by_type"]["dns_management"] == 2
        assert {i["instance_id"] for i in stats["instances"]} == {"a", "b"}


async def test_a_client_resumes_on_the_other_instance(cluster: Cluster) -> None:
    a, b = cluster.add("a"), cluster.add("b")
    async with httpx.AsyncClient(timeout=10) as http:
        async with cluster.ws(a, "dns_management", "viewer") as on_a:
            await cluster.emit(a, http, 0)
            last = (await on_a.next_event())["seq"]
            epoch = on_a.connected["epoch"]  # type: ignore[index]
        away = [(await cluster.emit(a, http, i)).json() for i in range(1, 6)]
    async with cluster.ws(b, "dns_management", "viewer", since=last, epoch=epoch) as on_b:
        frame = await on_b.recv()
        replayed = frame["events"] if frame["type"] == "batch" else [frame]
        assert [e["id"] for e in replayed] == [e["id"] for e in away]
        assert (await on_b.reply("resumed"))["replayed"] == 5


async def test_kill_9_of_an_instance_loses_nothing_for_its_clients(cluster: Cluster) -> None:
    a, b = cluster.add("a"), cluster.add("b")
    published: list[int] = []
    stop = asyncio.Event()

    async def emit_through_b() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            i = 0
            while not stop.is_set():
                response = await cluster.emit(b, http, i)
                assert response.status_code == 200
                published.append(response.json()["seq"])
                i += 1
                await asyncio.sleep(0.005)

    received: list[int] = []
    async with cluster.ws(a, "dns_management", "viewer") as on_a:
        epoch = on_a.connected["epoch"]  # type: ignore[index]
        emitter = asyncio.ensure_future(emit_through_b())
        while len(received) < 20:
            received.append((await on_a.next_event())["seq"])
        a.kill()  # kill -9: no close frame, no goodbye
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                received.append((await on_a.next_event(timeout=5))["seq"])
    async with cluster.ws(b, "dns_management", "viewer", since=received[-1], epoch=epoch) as on_b:
        await wait_until(lambda: len(published) > len(received) + 20, what="events after the kill")
        stop.set()
        await emitter
        while not received or received[-1] < published[-1]:
            frame = await on_b.recv()
            if frame["type"] == "batch":
                received.extend(e["seq"] for e in frame["events"])
            elif "seq" in frame:
                received.append(frame["seq"])
            else:
                assert frame["type"] == "resumed", frame
    first = received[0]
    assert received == list(range(first, published[-1] + 1)), "a gap or a duplicate across the kill"
    assert set(published) <= set(received) | set(range(published[0], first))

    async with httpx.AsyncClient(timeout=10) as http:

        async def instances() -> int:
            stats = (await http.get(f"{b.base_url}/api/websocket/stats", headers=cluster.headers())).json()
            return int(stats["cluster"]["instances"])

        async with asyncio.timeout(15):
            while await instances() != 1:  # the dead instance's heartbeat runs out
                await asyncio.sleep(0.2)


async def test_redis_restart_never_duplicates_and_announces_loss(cluster: Cluster) -> None:
    a = cluster.add("a")
    async with cluster.ws(a, "dns_management", "viewer") as client, httpx.AsyncClient(timeout=10) as http:
        old_epoch = client.connected["epoch"]  # type: ignore[index]
        for i in range(5):
            assert (await cluster.emit(a, http, i)).status_code == 200
        before = await events(client, 5)
        cluster.redis.stop()
        failed = await cluster.emit(a, http, 99)
        assert failed.status_code == 503 and "may not have been published" in failed.json()["detail"]
        health = await http.get(f"{a.base_url}/healthz")
        assert health.status_code == 503 and health.json()["broker"]["healthy"] is False
        await asyncio.to_thread(cluster.redis.start)  # back, and empty
        reset = await client.reply("reset", timeout=15)
        assert reset["reason"] == "epoch_changed" and reset["epoch"] != old_epoch
        after = []
        for i in range(5):
            response = await cluster.emit(a, http, 100 + i)
            assert response.status_code == 200
            after.append(response.json()["id"])
        got = await events(client, 5)
        assert [e["id"] for e in got] == after
        seqs = [e["seq"] for e in got]
        # A new stream: its seqs start again after the reset's last_seq (0), and only increase.
        assert reset["last_seq"] == 0 and 0 < seqs[0] and seqs == sorted(set(seqs))
        ids = [e["id"] for e in before + got]
        assert len(ids) == len(set(ids))
        assert (await http.get(f"{a.base_url}/healthz")).status_code == 200


# --- work done once for the cluster: the leader ------------------------------------------------

FAST_HEALTH = {
    "HEALTH_BROADCAST_INTERVAL": "1",
    "FORWARDER_CHECK_INTERVAL": "0.2",
    "FORWARDER_CHECK_TIMEOUT": "0.3",
    "FORWARDER_FAILURES_TO_DEGRADE": "2",
    "FORWARDER_SUCCESSES_TO_RECOVER": "2",
}


async def leaders(cluster: Cluster, server: ProcessServer) -> dict[str, bool]:
    async with httpx.AsyncClient(timeout=10) as http:
        stats = (await http.get(f"{server.base_url}/api/websocket/stats", headers=cluster.headers())).json()
    return {i["instance_id"]: bool(i["leader"]) for i in stats["instances"]}


async def health_updates(client: WsClient, count: int, timeout: float) -> list[float]:
    """Receive times of the next `count` health_update events (other events are skipped)."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    async with asyncio.timeout(timeout):
        while len(times) < count:
            event = await client.next_event(timeout)
            if event["type"] == "health_update":
                times.append(loop.time())
    return times


async def test_health_is_broadcast_once_for_the_cluster_and_survives_the_leaders_death(cluster: Cluster) -> None:
    cluster.env.update(FAST_HEALTH)
    a = cluster.add("a")  # first up: it takes the leader lease
    b = cluster.add("b")
    await wait_until_async(lambda: leaders(cluster, a), lambda v: v == {"a": True, "b": False}, "a to lead alone")
    async with cluster.ws(b, "health", "viewer") as client:
        async with cluster.ws(a, "health", "admin"):
            # Subscribers on both instances, one broadcaster at 1/s: five updates span four intervals.
            # One broadcaster per instance would bring five in about two seconds.
            times = await health_updates(client, 5, timeout=20)
            gaps = [round(later - earlier, 2) for earlier, later in itertools.pairwise(times)]
            assert times[-1] - times[0] > 3.0, f"health_update came more often than once per interval: gaps {gaps}"
        # Now the only subscriber is on b, which does not lead: a broadcasts for it (it learns b's
        # demand from b's heartbeat), and b's own broadcaster stays idle.
        await health_updates(client, 3, timeout=20)
        async with httpx.AsyncClient(timeout=10) as http:
            stats = (await http.get(f"{b.base_url}/api/websocket/stats", headers=cluster.headers())).json()
        assert stats["leader"] is False and stats["broadcasters"]["health_update"]["running"] is False

        a.kill()  # kill -9: the lease is not given up; it expires (6 s) and b takes it
        times = await health_updates(client, 3, timeout=20)
        assert len(times) == 3
    assert (await leaders(cluster, b)) == {"b": True}


async def test_a_forwarder_change_is_announced_once_by_the_cluster(cluster: Cluster) -> None:
    from dns_responders import DnsResponder

    cluster.env.update(FAST_HEALTH)
    responder = await DnsResponder().start()
    try:
        a, b = cluster.add("a"), cluster.add("b")
        async with httpx.AsyncClient(timeout=10) as http:
            created = await http.post(
                f"{a.base_url}/api/forwarders",
                json={"name": "corp", "type": "active_directory", "domains": ["corp.example"],
                      "servers": [responder.address]},
                headers=cluster.headers(),
            )  # fmt: skip
            assert created.status_code == 201, created.text
        async with cluster.ws(a, "health", "viewer") as on_a, cluster.ws(b, "health", "admin") as on_b:
            # Both instances probe (so that a new leader starts warm): wait until both have seen it healthy.
            await wait_until(lambda: responder.answered >= 6, 10, "both instances to probe the forwarder")
            responder.silent = True
            changes = {}
            for name, client in (("a", on_a), ("b", on_b)):
                got = await client.events_until(
                    lambda e: e["type"] == "forwarder_status_change" and e["data"]["new_status"] == "unhealthy", 15
                )
                changes[name] = [e for e in got if e["type"] == "forwarder_status_change"]
            # Let both instances go through several more rounds: a second announcement would be made by now,
            # and would arrive before the next two health_updates (one order for every event).
            seen = responder.queries
            await wait_until(lambda: responder.queries >= seen + 8, 10, "more rounds from both instances")
            for name, client in (("a", on_a), ("b", on_b)):
                for _ in range(2):
                    rest = await client.events_until(lambda e: e["type"] == "health_update", 10)
                    changes[name] += [e for e in rest if e["type"] == "forwarder_status_change"]
            assert [len(v) for v in changes.values()] == [1, 1], changes
            assert changes["a"][0]["id"] == changes["b"][0]["id"]
    finally:
        responder.stop()


async def wait_until_async(fetch: Any, predicate: Any, what: str, timeout: float = 15) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            try:
                value = await fetch()
                if predicate(value):
                    return value
            except (httpx.HTTPError, KeyError):
                pass
            await asyncio.sleep(0.2)


async def test_an_expired_session_with_sockets_on_two_instances_is_announced_once(cluster: Cluster) -> None:
    """What the user sees. The race it guards against (both instances' timers firing within a broker
    round trip) is rare here; the mechanism that closes it, one publish per event id, is tested
    directly in test_delivery (test_an_event_id_given_twice_is_published_once)."""
    a, b = cluster.add("a"), cluster.add("b")
    secret = (cluster.data / "secret-key").read_text().strip()
    token = issue_token(secret, "viewer", "viewer", 4)[0]  # one session (one jti), expiring in 4 s
    async with (
        ws_open(a, "health", "viewer", token=token) as on_a,  # type: ignore[arg-type]
        ws_open(b, "system", "viewer", token=token) as on_b,  # type: ignore[arg-type]
    ):
        for client in (on_a, on_b):
            frames: list[Any] = []
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(15):
                    while True:
                        frames.append(await client.recv(timeout=15))
            expired = [f for f in frames if f.get("type") == "session_expired"]
            assert len(expired) == 1, f"session_expired told {len(expired)} times: {expired}"
            assert client.ws.close_code == 4001


async def test_a_settings_change_reaches_every_instance_and_a_demo_event_changes_none(cluster: Cluster) -> None:
    a, b = cluster.add("a"), cluster.add("b")
    async with httpx.AsyncClient(timeout=10) as http:

        async def live(server: ProcessServer) -> dict[str, Any]:
            return (await http.get(f"{server.base_url}/api/settings", headers=cluster.headers())).json()  # type: ignore[no-any-return]

        before = await live(b)
        # Anyone with the demo endpoint can emit a settings config_change: it must change nothing.
        forged = {"section": "settings", "changes": {"HEALTH_ALERT_RESPONSE_MS": {"old": 500, "new": 1}}}
        response = await http.post(
            f"{b.base_url}/api/websocket-demo/emit-dns-event",
            json={"event_type": "config_change", "data": forged},
            headers=cluster.headers(),
        )
        assert response.status_code == 200, response.text
        # A real change, made on a, after it: once b shows it, b has handled the forged event too.
        changed = await http.put(
            f"{a.base_url}/api/settings", json={"LOGIN_FAILURE_LIMIT": 7}, headers=cluster.headers()
        )
        assert changed.status_code == 200, changed.text
        await wait_until_async(lambda: live(b), lambda v: v["LOGIN_FAILURE_LIMIT"] == 7, "b to apply a's change")
        for server in (a, b):
            assert await live(server) == {**before, "LOGIN_FAILURE_LIMIT": 7}
