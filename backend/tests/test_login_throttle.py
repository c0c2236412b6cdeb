"""Login throttling as an attacker and as a user meet it: per address, per account, shared by instances.

Source addresses are real: Linux routes all of 127.0.0.0/8 to loopback, so a client bound to
127.0.0.7 reaches the server on 127.0.0.1 and the server sees 127.0.0.7.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
from conftest import PASSWORD, LiveServer, pg_database, ws_open
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)


async def attempt(base_url: str, username: str, password: str, source: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30) as http:
        return await http.post("/api/auth/login", json={"username": username, "password": password})


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    seconds = int(response.headers["Retry-After"])
    assert response.json()["detail"] == f"too many failed logins; try again in {seconds} s"
    return seconds


async def audit_logins(server: LiveServer) -> list[dict[str, Any]]:
    async with server.http("admin") as admin:
        entries = (await admin.get("/api/audit", params={"action": "auth.login", "limit": 500})).json()["entries"]
    return sorted(entries, key=lambda e: e["id"])


async def test_sixty_wrong_passwords_then_the_right_one_is_refused(server: LiveServer) -> None:
    """An online password guesser, with the default settings (5 failures per address)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:

        async def guess(password: str) -> httpx.Response:
            return await http.post("/api/auth/login", json={"username": "viewer", "password": password})

        codes = [(await guess(f"guess {i}")).status_code for i in range(60)]
        assert codes[:6] == [401] * 5 + [429]
        # Only a block that ran out lets a guess be checked, and each block is twice the one before.
        assert codes.count(401) <= 8, codes
        # Wait out the current block; the next failure is checked and starts a longer one (2 s at least).
        wrong = await guess("guess 61")
        if wrong.status_code == 429:
            await asyncio.sleep(retry_after(wrong))
            assert (await guess("guess 62")).status_code == 401
        right, wrong = await guess(PASSWORD), await guess("guess 63")
    # The password is not looked at while blocked: the right one and a wrong one get the same answer.
    assert retry_after(right) >= 1 and retry_after(wrong) >= 1
    # Another address is not slowed down by this one.
    assert (await attempt(server.base_url, "viewer", PASSWORD, source="127.0.0.2")).status_code == 200


async def test_each_further_failure_doubles_the_wait_up_to_the_cap(make_server: Any) -> None:
    server: LiveServer = make_server(LOGIN_FAILURE_LIMIT=2, LOGIN_THROTTLE_MAX_DELAY=2)
    for _ in range(2):
        assert (await attempt(server.base_url, "viewer", "wrong")).status_code == 401
    waits = []
    for _ in range(2):
        wait = retry_after(await attempt(server.base_url, "viewer", "wrong"))
        waits.append(wait)
        await asyncio.sleep(wait)  # the server's promise: after this, the address may try again
        assert (await attempt(server.base_url, "viewer", "wrong")).status_code == 401
    waits.append(retry_after(await attempt(server.base_url, "viewer", PASSWORD)))
    assert waits == [1, 2, 2]
    blocks = [e["details"].get("blocked_for") for e in await audit_logins(server)]
    assert blocks == [None, 1.0, 2.0, 2.0]


async def test_a_success_clears_only_the_counters_of_its_own_failures(make_server: Any) -> None:
    server: LiveServer = make_server(LOGIN_FAILURE_LIMIT=3)
    url = server.base_url
    # A user who mistyped, then got it right, starts again from zero.
    for _ in range(2):
        assert (await attempt(url, "viewer", "typo")).status_code == 401
    assert (await attempt(url, "viewer", PASSWORD)).status_code == 200
    for _ in range(2):
        assert (await attempt(url, "viewer", "typo")).status_code == 401
    assert (await attempt(url, "viewer", PASSWORD)).status_code == 200

    # An address guessing at another account cannot reset its counter by signing in to its own.
    guesser = "127.0.0.3"
    for _ in range(2):
        assert (await attempt(url, "admin", "guess", source=guesser)).status_code == 401
    assert (await attempt(url, "viewer2", PASSWORD, source=guesser)).status_code == 200
    assert (await attempt(url, "admin", "guess", source=guesser)).status_code == 401  # the 3rd failure
    retry_after(await attempt(url, "admin", "guess", source=guesser))


async def test_an_account_is_slowed_down_across_addresses_but_its_owner_is_not_locked_out(
    make_server: Any,
) -> None:
    server: LiveServer = make_server(LOGIN_FAILURE_LIMIT=100, LOGIN_ACCOUNT_FAILURE_LIMIT=4, LOGIN_ACCOUNT_MAX_DELAY=2)
    url = server.base_url
    # The owner signed in from their usual address before the attack.
    assert (await attempt(url, "viewer", PASSWORD)).status_code == 200
    async with ws_open(server, "security", "op") as security:
        # A spray from four addresses, one guess each.
        for i in range(4):
            assert (await attempt(url, "viewer", f"guess {i}", source=f"127.0.0.{10 + i}")).status_code == 401
        alert = await security.next_event()
        assert (alert["type"], alert["data"]["alert"]) == ("security_alert", "account_login_failures")
        assert alert["data"]["username"] == "viewer" and alert["data"]["failures"] == 4
        # The account is slowed down for everyone new, briefly (never more than LOGIN_ACCOUNT_MAX_DELAY)...
        assert 1 <= retry_after(await attempt(url, "viewer", PASSWORD, source="127.0.0.20")) <= 2
        assert 1 <= retry_after(await attempt(url, "viewer", "guess", source="127.0.0.21")) <= 2
        # ...but not for the owner's own address, whose success clears the account's counter.
        assert (await attempt(url, "viewer", PASSWORD)).status_code == 200
        assert (await attempt(url, "viewer", PASSWORD, source="127.0.0.20")).status_code == 200
        marker = await server.emit("rpz_update", {"marker": True})
        assert (await security.next_event())["id"] == marker.id  # one alert for the threshold


async def test_throttling_is_shared_by_instances(cluster: Cluster) -> None:  # noqa: F811
    cluster.env["LOGIN_FAILURE_LIMIT"] = "3"
    a, b = cluster.add("a"), cluster.add("b")
    for _ in range(3):
        assert (await attempt(a.base_url, "viewer", "wrong")).status_code == 401
    refused = await attempt(b.base_url, "viewer", "long enough password")
    assert retry_after(refused) >= 1


async def test_throttling_on_postgresql(tmp_path: Path) -> None:
    """The production database: the counters' upserts in PostgreSQL's dialect."""
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(pg_database())
        server = LiveServer(tmp_path / "data", DATABASE_URL=url, LOGIN_FAILURE_LIMIT=2).start()
        stack.callback(server.stop)
        assert (await attempt(server.base_url, "viewer", PASSWORD)).status_code == 200
        for _ in range(2):
            assert (await attempt(server.base_url, "viewer", "wrong")).status_code == 401
        assert retry_after(await attempt(server.base_url, "viewer", PASSWORD)) == 1
        assert (await attempt(server.base_url, "viewer", PASSWORD, source="127.0.0.2")).status_code == 200
