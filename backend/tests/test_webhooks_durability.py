"""Webhook deliveries survive what servers go through: a server killed (kill -9) in the middle of
delivering loses none of them, and with two instances on Redis only the leader delivers (each event
once) and the other takes over from the stored state when the leader goes away. Real processes
(`hybrid-dns serve`), a real redis-server and a receiver the test starts.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import LiveServer, ProcessServer, pg_database, wait_until
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)
from webhook_receiver import Answer, Receiver

from hybrid_dns.auth.tokens import issue_token

FAST = {
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2",
    "WEBHOOK_TIMEOUT": "1",
}


def ok(response: httpx.Response, code: int = 200) -> Any:
    assert response.status_code == code, (response.status_code, response.text)
    return response.json() if response.content else None


async def emit(http: httpx.AsyncClient, server: ProcessServer, headers: dict[str, str], i: int) -> str:
    body = {"event_type": "zone_updated", "data": {"zone": f"z{i}.example"}}
    answer = ok(await http.post(f"{server.base_url}/api/websocket-demo/emit-dns-event", json=body, headers=headers))
    return str(answer["id"])


async def test_a_server_killed_while_delivering_loses_no_delivery(tmp_path: Path) -> None:
    # A slow receiver: when the server is killed, deliveries are queued, one is in flight, and the
    # last events may not even have been matched to the endpoint yet.
    receiver = await Receiver(lambda r: Answer(delay=0.1)).start()
    data = tmp_path / "data"
    env = {"DATA_DIR": str(data), "LOG_LEVEL": "info", **FAST}
    server = ProcessServer(env, tmp_path / "server.log").start()
    try:
        secret = (data / "secret-key").read_text().strip()
        headers = {"Authorization": f"Bearer {issue_token(secret, 'admin', 'admin', 3600)[0]}"}  # the first user
        async with httpx.AsyncClient(timeout=10) as http:
            hook = ok(
                await http.post(
                    f"{server.base_url}/api/webhooks",
                    json={"url": receiver.url, "event_types": ["zone_updated"]},
                    headers=headers,
                ),
                201,
            )
            sent = [await emit(http, server, headers, i) for i in range(20)]
            await wait_until(lambda: len(receiver.requests) >= 3, 10, "the first deliveries")
            sent += [await emit(http, server, headers, i) for i in range(20, 25)]
            server.kill()  # SIGKILL: no shutdown of any kind
            delivered_before = len(set(receiver.ids()))
            assert delivered_before < len(sent), "the kill came too late to test anything"

            server = ProcessServer(env, tmp_path / "server.log").start()
            # A delivery in flight at the kill is retried once its claim runs out (WEBHOOK_TIMEOUT + 5 s).
            await wait_until(lambda: set(receiver.ids()) >= set(sent), 20, "every delivery after the restart")
            counts = collections.Counter(receiver.ids())
            assert sum(n - 1 for n in counts.values()) <= 1, counts  # at least once: at most the one in flight twice

            async def logged() -> bool:
                page = ok(
                    await http.get(f"{server.base_url}/api/webhooks/{hook['id']}/deliveries?limit=200", headers=headers)
                )
                return page["total"] == len(sent) and all(d["status"] == "succeeded" for d in page["items"])

            async with asyncio.timeout(10):
                while not await logged():
                    await asyncio.sleep(0.1)
    finally:
        server.kill()
        await receiver.close()


async def test_two_instances_deliver_each_event_once_and_a_new_leader_takes_over(
    cluster: Cluster,  # noqa: F811
) -> None:
    receiver = await Receiver().start()
    try:
        cluster.env.update(FAST)
        a, b = cluster.add("a"), cluster.add("b")
        headers = cluster.headers()
        async with httpx.AsyncClient(timeout=10) as http:
            ok(
                await http.post(
                    f"{b.base_url}/api/webhooks",
                    json={"url": receiver.url, "event_types": ["zone_updated"]},
                    headers=headers,
                ),
                201,
            )
            sent = [await emit(http, a if i % 2 else b, headers, i) for i in range(30)]
            await wait_until(lambda: set(receiver.ids()) == set(sent), 15, "every delivery")
            assert sorted(receiver.ids()) == sorted(sent)  # each once: only the leader delivers

            stats = ok(await http.get(f"{a.base_url}/api/websocket/stats", headers=headers))
            leaders = [i["instance_id"] for i in stats["instances"] if i.get("leader")]
            assert len(leaders) == 1, stats["instances"]
            leader, other = (a, b) if leaders[0] == "a" else (b, a)
            leader.terminate()  # gives the lease up; the other takes it at its next heartbeat

            more = [await emit(http, other, headers, i) for i in range(30, 40)]
            await wait_until(lambda: set(receiver.ids()) >= set(more), 20, "the new leader's deliveries")
            assert sorted(receiver.ids()) == sorted(sent + more)
    finally:
        await receiver.close()


async def test_on_postgresql_deliveries_go_in_order_and_are_logged(make_server: Callable[..., LiveServer]) -> None:
    """The production database: the cursor's compare-and-set, the claims (UPDATE ... RETURNING) and the
    log, on PostgreSQL (the other tests run on the default SQLite)."""
    receiver = await Receiver().start()
    try:
        async with pg_database() as url:
            server = make_server(
                DATABASE_URL=url, WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_RETRY_SCHEDULE="0.2", WEBHOOK_TIMEOUT=3
            )
            try:
                async with server.http("admin") as http:
                    hook = ok(
                        await http.post(
                            "/api/webhooks",
                            json={"url": receiver.url, "event_types": ["zone_created"], "ordered": True},
                        ),
                        201,
                    )
                    sent = [(await server.emit("zone_created", {"zone": f"pg{i}.example"})).id for i in range(10)]
                    await wait_until(lambda: receiver.ids() == sent, 15, "every delivery, in order")

                    async def logged() -> bool:
                        page = ok(await http.get(f"/api/webhooks/{hook['id']}/deliveries"))
                        return page["total"] == 10 and all(d["status"] == "succeeded" for d in page["items"])

                    async with asyncio.timeout(10):
                        while not await logged():
                            await asyncio.sleep(0.05)
            finally:
                server.stop()  # before the database is dropped
    finally:
        await receiver.close()
