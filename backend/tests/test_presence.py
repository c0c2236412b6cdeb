"""Presence: who else is viewing or editing a zone, the RPZ rules or a forwarder, on one instance and
across instances (Redis), gone at once when a socket closes and within the TTL when an instance dies.
Real servers and processes, real WebSocket clients, a real redis-server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conftest import LiveServer, WsClient, ws_open
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)

from hybrid_dns.realtime.presence import PRESENCE_TTL, REFRESH_EVERY


async def presence(client: WsClient, topic: str, timeout: float = 5) -> dict[str, Any]:
    """The next presence frame about `topic` (events, and frames about other topics, are passed over)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await client.recv(max(0.01, deadline - time.monotonic()))
        if isinstance(frame, dict) and frame.get("type") == "presence" and frame["topic"] == topic:
            return frame
        assert isinstance(frame, dict) and (frame.get("type") in ("batch", "presence") or "seq" in frame), frame


def who(frame: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["user_id"], m["state"]) for m in frame["members"]]


async def enter(client: WsClient, topic: str, state: str | None, request_id: str) -> dict[str, Any]:
    await client.send({"type": "presence", "topic": topic, "state": state, "id": request_id})
    reply = await presence(client, topic)
    assert reply["id"] == request_id, reply
    return reply


async def nothing_more(client: WsClient, label: str) -> None:
    """No frame is waiting: the pong to a ping sent now is the next frame."""
    await client.send({"type": "ping", "id": label})
    assert (await client.reply("pong"))["id"] == label


async def test_two_users_see_each_other_join_change_and_leave(server: LiveServer) -> None:
    async with (
        ws_open(server, "dns_management", "viewer") as viewer,
        ws_open(server, "security", "op") as op,
        ws_open(server, "dns_management", "viewer2") as elsewhere,
    ):
        reply = await enter(viewer, "zone:12", "viewing", "v1")
        assert who(reply) == [("viewer", "viewing")] and reply["members"][0]["since"].endswith("Z")
        await enter(elsewhere, "zone:13", "viewing", "e1")

        reply = await enter(op, "zone:12", "editing", "o1")
        assert who(reply) == [("op", "editing"), ("viewer", "viewing")]
        pushed = await presence(viewer, "zone:12")
        assert "id" not in pushed and who(pushed) == [("op", "editing"), ("viewer", "viewing")]

        # A second tab of the viewer's, editing: one entry for the user, its strongest state.
        async with ws_open(server, "dns_management", "viewer") as second_tab:
            reply = await enter(second_tab, "zone:12", "editing", "t1")
            assert who(reply) == [("op", "editing"), ("viewer", "editing")]
            assert who(await presence(viewer, "zone:12")) == [("op", "editing"), ("viewer", "editing")]
            assert who(await presence(op, "zone:12")) == [("op", "editing"), ("viewer", "editing")]
        # The tab closed: at once, the viewer is back to viewing, since when it began.
        after_close = await presence(op, "zone:12")
        assert who(after_close) == [("op", "editing"), ("viewer", "viewing")]
        assert after_close["members"][1]["since"] == reply_since(pushed, "viewer")
        assert who(await presence(viewer, "zone:12")) == [("op", "editing"), ("viewer", "viewing")]

        await enter(op, "zone:12", "viewing", "o2")
        assert who(await presence(viewer, "zone:12")) == [("op", "viewing"), ("viewer", "viewing")]
        reply = await enter(op, "zone:12", None, "o3")  # leaves: the answer is who is still there
        assert who(reply) == [("viewer", "viewing")]
        assert who(await presence(viewer, "zone:12")) == [("viewer", "viewing")]

        for client, label in ((viewer, "v"), (op, "o"), (elsewhere, "e")):  # no stray frames anywhere
            await nothing_more(client, label)


def reply_since(frame: dict[str, Any], user: str) -> str:
    return str(next(m["since"] for m in frame["members"] if m["user_id"] == user))


async def test_a_closed_socket_leaves_its_topics_at_once(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as watcher:
        await enter(watcher, "rpz", "viewing", "w")
        async with ws_open(server, "security", "op") as op:
            await enter(op, "rpz", "editing", "o")
            await enter(op, "forwarders", "viewing", "o2")
            assert who(await presence(watcher, "rpz")) == [("op", "editing"), ("viewer", "viewing")]
        assert who(await presence(watcher, "rpz", timeout=2)) == [("viewer", "viewing")]
        await nothing_more(watcher, "nothing about forwarders: the watcher is not in that topic")


async def test_a_connection_is_in_a_bounded_number_of_topics(server: LiveServer) -> None:
    async with ws_open(server, "health", "viewer") as client:
        for i in range(1, 9):
            await enter(client, f"zone:{i}", "viewing", f"z{i}")
        await client.send({"type": "presence", "topic": "forwarder:1", "state": "viewing", "id": "ninth"})
        error = await client.reply("error")
        assert (error["code"], error["id"]) == ("too_many_topics", "ninth")
        assert "8" in error["message"]
        await enter(client, "zone:8", "editing", "a change in a topic it is in is fine")
        await enter(client, "zone:1", None, "leave one")
        assert who(await enter(client, "forwarder:1", "viewing", "ninth again")) == [("viewer", "viewing")]

        for bad in ({"topic": "zone:x", "state": "viewing"}, {"topic": "rpz", "state": "typing"}, {"topic": "rpz"}):
            await client.send({"type": "presence", **bad, "id": "bad"})
            error = await client.reply("error")
            assert (error["code"], error["id"]) == ("invalid_message", "bad"), bad


# --- several instances ----------------------------------------------------------------------------


async def test_presence_crosses_instances_within_a_second(cluster: Cluster) -> None:  # noqa: F811
    a, b = cluster.add("a"), cluster.add("b")
    async with cluster.ws(a, "dns_management", "viewer") as on_a:
        await enter(on_a, "zone:5", "viewing", "a1")
        async with cluster.ws(b, "dns_management", "admin") as on_b:
            began = time.monotonic()
            reply = await enter(on_b, "zone:5", "editing", "b1")
            assert who(reply) == [("admin", "editing"), ("viewer", "viewing")]  # b reads a's member from Redis
            assert who(await presence(on_a, "zone:5", timeout=3)) == [("admin", "editing"), ("viewer", "viewing")]
            assert time.monotonic() - began < 3
            await enter(on_b, "zone:5", "viewing", "b2")
            assert who(await presence(on_a, "zone:5", timeout=3)) == [("admin", "viewing"), ("viewer", "viewing")]
            began = time.monotonic()
        # b's socket closed: a's client hears of it at once, not after the TTL.
        assert who(await presence(on_a, "zone:5", timeout=3)) == [("viewer", "viewing")]
        assert time.monotonic() - began < 3


async def test_an_instance_that_dies_loses_its_members_within_the_ttl(cluster: Cluster) -> None:  # noqa: F811
    a, b = cluster.add("a"), cluster.add("b")
    async with cluster.ws(a, "dns_management", "viewer") as on_a:
        await enter(on_a, "forwarder:3", "viewing", "a1")
        async with cluster.ws(b, "dns_management", "admin") as on_b:
            await enter(on_b, "forwarder:3", "editing", "b1")
            assert who(await presence(on_a, "forwarder:3")) == [("admin", "editing"), ("viewer", "viewing")]
            # Still there after several TTLs, while b refreshes its members.
            await asyncio.sleep(PRESENCE_TTL + REFRESH_EVERY)
            await nothing_more(on_a, "admin still present")
            b.kill()  # kill -9: b never says goodbye, nor removes its members
            died = time.monotonic()
            gone = await presence(on_a, "forwarder:3", timeout=PRESENCE_TTL + 4 * REFRESH_EVERY)
            assert who(gone) == [("viewer", "viewing")]
            assert time.monotonic() - died <= PRESENCE_TTL + 3 * REFRESH_EVERY
