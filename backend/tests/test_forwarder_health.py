"""Forwarder health checks against real DNS servers on loopback, observed over a real `health` WebSocket.

The responders (tests/dns_responders.py) run in the test's event loop; the app runs in its own
thread and queries them over UDP, as it would query a domain controller. Forwarders are inserted
directly through the app's database. Every wait is on a condition (an event, a round count) with a
deadline; the intervals are short so that the hysteresis rounds take well under a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from conftest import LiveServer, WsClient, wait_until, ws_open
from dns_responders import DnsResponder
from sqlalchemy import delete, update

from hybrid_dns.models import Forwarder
from hybrid_dns.monitoring.forwarders import ForwarderMonitor, parse_server

FAST: dict[str, Any] = {
    "broadcasters": True,
    "HEALTH_BROADCAST_INTERVAL": 0.2,
    "FORWARDER_CHECK_INTERVAL": 0.1,
    "FORWARDER_CHECK_TIMEOUT": 0.3,
    "FORWARDER_FAILURES_TO_DEGRADE": 2,
    "FORWARDER_SUCCESSES_TO_RECOVER": 2,
}

Event = dict[str, Any]


@pytest.fixture
async def responders() -> AsyncIterator[Callable[..., Awaitable[DnsResponder]]]:
    made: list[DnsResponder] = []

    async def make(**kwargs: Any) -> DnsResponder:
        responder = await DnsResponder(**kwargs).start()
        made.append(responder)
        return responder

    yield make
    for responder in made:
        responder.stop()


def monitor(server: LiveServer) -> ForwarderMonitor:
    return server.app.state.forwarder_monitor


async def add_forwarder(
    server: LiveServer,
    name: str,
    servers: Sequence[str],
    *,
    domains: Sequence[str] = ("corp.example",),
    enabled: bool = True,
    forwarder_type: str = "active_directory",
) -> None:
    async def run() -> None:
        async with server.app.state.db() as session:
            session.add(
                Forwarder(
                    name=name,
                    forwarder_type=forwarder_type,
                    domains=list(domains),
                    servers=list(servers),
                    enabled=enabled,
                )
            )
            await session.commit()

    await server.call(run())


async def change_forwarder(server: LiveServer, name: str, *, remove: bool = False, **values: Any) -> None:
    async def run() -> None:
        async with server.app.state.db() as session:
            if remove:
                await session.execute(delete(Forwarder).where(Forwarder.name == name))
            else:
                await session.execute(update(Forwarder).where(Forwarder.name == name).values(**values))
            await session.commit()

    await server.call(run())


def forwarder_in(event: Event, name: str) -> Event | None:
    if event["type"] != "health_update":
        return None
    return next((f for f in event["data"]["forwarders"] if f["name"] == name), None)


def health_shows(name: str, status: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        found = forwarder_in(event, name)
        return found is not None and found["status"] == status

    return match


def is_alert(name: str, alert: str, state: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        data = event["data"]
        return event["type"] == "health_alert" and (data["forwarder"], data["alert"], data["state"]) == (
            name,
            alert,
            state,
        )

    return match


def is_change(name: str) -> Callable[[Event], bool]:
    return lambda e: e["type"] == "forwarder_status_change" and e["data"]["forwarder"] == name


async def after_rounds(server: LiveServer, count: int, timeout: float = 10) -> None:
    """Wait until `count` more check rounds have completed (the one in progress counts as the first)."""
    target = monitor(server).rounds + count
    await wait_until(lambda: monitor(server).rounds >= target, timeout, f"{count} more check rounds")


async def events_until_marker(server: LiveServer, client: WsClient) -> list[Event]:
    """Everything the client received up to now: a marker event closes the list."""
    marker = await server.emit("system_status", {"marker": True})
    return await client.events_until(lambda e: e["id"] == marker.id, timeout=10)


async def test_forwarder_down_after_hysteresis_then_recovers(make_server: Any, responders: Any) -> None:
    dc = await responders()
    server: LiveServer = make_server(**FAST)
    await add_forwarder(server, "corp", [dc.address])
    seen: list[Event] = []
    async with ws_open(server, "health", "viewer") as health:
        seen += await health.events_until(health_shows("corp", "healthy"), timeout=10)
        corp = forwarder_in(seen[-1], "corp")
        assert corp is not None
        assert (corp["type"], corp["domains"]) == ("active_directory", ["corp.example"])
        assert corp["avg_response_ms"] is not None and corp["avg_response_ms"] > 0
        assert corp["last_check"].endswith("Z") and seen[-1]["data"]["checked_at"].endswith("Z")
        (srv,) = corp["servers"]
        assert (srv["address"], srv["status"], srv["rcode"]) == (dc.address, "healthy", "NOERROR")
        assert srv["response_ms"] > 0 and srv["last_check"].endswith("Z")
        assert seen[-1]["data"]["summary"] == {"total": 1, "healthy": 1, "degraded": 0, "unhealthy": 0}
        assert "corp.example." in dc.qnames  # a real query for the forwarder's domain reached the server

        dc.stop()
        seen += await health.events_until(is_change("corp"), timeout=10)
        change = seen[-1]
        assert (change["data"]["old_status"], change["data"]["new_status"]) == ("healthy", "unhealthy")
        assert change["severity"] == "error" and "none of 1" in change["data"]["reason"]
        # Not after one lost round: the change came with the FAILURES_TO_DEGRADE-th failure in a row.
        (srv,) = change["data"]["servers"]
        assert (srv["consecutive_failures"], srv["status"], srv["response_ms"]) == (2, "unhealthy", None)
        assert srv["error"]

        seen += await health.events_until(is_alert("corp", "all_servers_down", "raised"), timeout=5)
        alert = seen[-1]
        assert alert["severity"] == "error"
        assert (alert["data"]["value"], alert["data"]["threshold"]) == (1, 1) and "corp" in alert["data"]["message"]
        assert any(is_alert("corp", "high_failure_ratio", "raised")(e) for e in seen)
        seen += await health.events_until(health_shows("corp", "unhealthy"), timeout=5)
        assert seen[-1]["data"]["summary"]["unhealthy"] == 1

        await after_rounds(server, 2)  # still down: nothing new is raised
        await dc.start()  # the same port again, as a restarted server
        seen += await health.events_until(is_change("corp"), timeout=10)
        back = seen[-1]
        assert (back["data"]["old_status"], back["data"]["new_status"]) == ("unhealthy", "healthy")
        assert back["severity"] == "info" and back["data"]["servers"][0]["consecutive_successes"] == 2
        seen += await health.events_until(is_alert("corp", "all_servers_down", "cleared"), timeout=5)
        assert seen[-1]["severity"] == "info"
        seen += await events_until_marker(server, health)

    assert sum(is_alert("corp", "all_servers_down", "raised")(e) for e in seen) == 1
    assert sum(is_alert("corp", "high_failure_ratio", "raised")(e) for e in seen) == 1
    assert sum(is_alert("corp", "high_failure_ratio", "cleared")(e) for e in seen) == 1
    assert sum(is_change("corp")(e) for e in seen) == 2


async def test_a_single_lost_round_does_not_flip_the_status(make_server: Any, responders: Any) -> None:
    dc = await responders()
    server: LiveServer = make_server(**FAST)
    await add_forwarder(server, "corp", [dc.address])
    async with ws_open(server, "health", "viewer") as health:
        await health.events_until(health_shows("corp", "healthy"), timeout=10)
        dc.drop_next = 1  # one lost packet
        await wait_until(lambda: dc.dropped == 1, what="the dropped query")
        await after_rounds(server, 3)  # the lossy round and two good ones after it
        seen = await events_until_marker(server, health)
    assert not [e for e in seen if e["type"] in ("forwarder_status_change", "health_alert")]
    snapshot = await server.call(monitor(server).snapshot())
    (corp,) = snapshot["forwarders"]
    (srv,) = corp["servers"]
    assert corp["status"] == srv["status"] == "healthy"
    assert srv["failures"] == 1 and srv["consecutive_successes"] >= 2  # the loss was seen, and absorbed


async def test_one_silent_server_makes_the_forwarder_degraded(make_server: Any, responders: Any) -> None:
    good, silent = await responders(), await responders(silent=True)
    server: LiveServer = make_server(**FAST)
    await add_forwarder(server, "mixed", [good.address, silent.address])
    await add_forwarder(server, "typo", ["dc1.corp.example", "300.1.2.3:53"], forwarder_type="intranet")
    async with ws_open(server, "health", "viewer") as health:
        seen = await health.events_until(health_shows("mixed", "degraded"), timeout=10)
        mixed = forwarder_in(seen[-1], "mixed")
        assert mixed is not None
        by_address = {s["address"]: s for s in mixed["servers"]}
        assert by_address[good.address]["status"] == "healthy"
        assert by_address[silent.address]["status"] == "unhealthy"
        assert by_address[silent.address]["response_ms"] is None
        assert mixed["avg_response_ms"] == by_address[good.address]["response_ms"]

        seen += await health.events_until(is_alert("mixed", "high_failure_ratio", "raised"), timeout=10)
        ratio = seen[-1]["data"]
        assert (ratio["value"], ratio["threshold"]) == (0.5, 0.5) and seen[-1]["severity"] == "warning"
        seen += await health.events_until(health_shows("typo", "unhealthy"), timeout=5)
        summary = seen[-1]["data"]["summary"]
        assert summary == {"total": 2, "healthy": 0, "degraded": 1, "unhealthy": 1}
        typo = forwarder_in(seen[-1], "typo")
        assert typo is not None and all("invalid server address" in s["error"] for s in typo["servers"])
        await after_rounds(server, 2)
        seen += await events_until_marker(server, health)
    assert silent.queries > 0 and good.answered > 0
    # The first state observed is set without an event; one good server is not "all servers down".
    assert not [e for e in seen if e["type"] == "forwarder_status_change"]
    assert not [e for e in seen if is_alert("mixed", "all_servers_down", "raised")(e)]
    assert any(is_alert("typo", "all_servers_down", "raised")(e) for e in seen)
    assert monitor(server).running  # bad addresses did not kill the loop


async def test_a_slow_server_raises_slow_response_and_clears_it(make_server: Any, responders: Any) -> None:
    slow = await responders(delay=0.12)
    server: LiveServer = make_server(**{**FAST, "HEALTH_ALERT_RESPONSE_MS": 60, "FORWARDER_CHECK_TIMEOUT": 1})
    await add_forwarder(server, "far", [slow.address], forwarder_type="public", domains=["example.org"])
    async with ws_open(server, "health", "viewer") as health:
        seen = await health.events_until(is_alert("far", "slow_response", "raised"), timeout=10)
        alert = seen[-1]
        assert alert["severity"] == "warning"
        assert alert["data"]["value"] > 60 and alert["data"]["threshold"] == 60
        snapshot = await server.call(monitor(server).snapshot())
        (far,) = snapshot["forwarders"]
        assert far["status"] == far["servers"][0]["status"] == "degraded" and far["avg_response_ms"] >= 100
        assert far["servers"][0]["rcode"] == "NXDOMAIN"  # any answer means alive
        assert "slow_response" in far["alerts"]

        slow.delay = 0
        seen += await health.events_until(is_change("far"), timeout=10)
        assert (seen[-1]["data"]["old_status"], seen[-1]["data"]["new_status"]) == ("degraded", "healthy")
        seen += await health.events_until(is_alert("far", "slow_response", "cleared"), timeout=5)
        assert seen[-1]["severity"] == "info" and seen[-1]["data"]["value"] <= 60
    assert not [e for e in seen if e["type"] == "health_alert" and e["data"]["alert"] != "slow_response"]


async def test_disabled_forwarders_are_not_checked_and_the_list_is_reloaded(make_server: Any, responders: Any) -> None:
    on, off = await responders(), await responders()
    server: LiveServer = make_server(**FAST)
    await add_forwarder(server, "on", [on.address])
    await add_forwarder(server, "off", [off.address], enabled=False)
    async with ws_open(server, "health", "viewer") as health:
        seen = await health.events_until(health_shows("on", "healthy"), timeout=10)
        await after_rounds(server, 3)
        assert off.queries == 0 and on.queries >= 3
        assert [f["name"] for f in (await server.call(monitor(server).snapshot()))["forwarders"]] == ["on"]

        await change_forwarder(server, "off", enabled=True)
        seen = await health.events_until(health_shows("off", "healthy"), timeout=10)
        assert off.queries > 0 and seen[-1]["data"]["summary"]["total"] == 2

        await change_forwarder(server, "on", remove=True)
        seen = await health.events_until(lambda e: e["type"] == "health_update" and e["data"]["summary"]["total"] == 1)
        assert [f["name"] for f in seen[-1]["data"]["forwarders"]] == ["off"]
        await after_rounds(server, 1)
        asked = on.queries
        await after_rounds(server, 2)
        assert on.queries == asked  # removed: no longer asked


def test_server_addresses() -> None:
    assert parse_server("10.0.0.1") == ("10.0.0.1", 53)
    assert parse_server("10.0.0.1:5353") == ("10.0.0.1", 5353)
    assert parse_server("fd00::53") == ("fd00::53", 53)
    assert parse_server("[fd00::53]:5353") == ("fd00::53", 5353)
    for bad in ("dc1.corp.example", "10.0.0.1:0", "10.0.0.1:x", "[fd00::53", "300.1.2.3"):
        with pytest.raises(ValueError):
            parse_server(bad)
