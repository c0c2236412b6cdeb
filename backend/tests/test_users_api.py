"""The users API (admins): list, create, change role, disable, reset a password; audited, announced to
admins, applied at once to the user's open sockets on every instance; and a new user's read state
starting at their first sign-in. Real servers, HTTP and WebSocket clients, Redis and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from conftest import PASSWORD, LiveServer, WsClient, pg_database, refused, ws_open
from sqlalchemy import select
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)

from hybrid_dns.models import AuditEntry
from hybrid_dns.realtime.events import EventDraft, EventType

NEW_PASSWORD = "a brand new password"


def ok(response: httpx.Response, code: int = 200) -> Any:
    assert response.status_code == code, (response.status_code, response.text)
    return response.json() if response.content else None


def refusal(response: httpx.Response, code: int, field: str | None = None) -> str:
    assert response.status_code == code, (response.status_code, response.text)
    body = response.json()
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    return str(body["detail"])


async def login(base_url: str, username: str, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
        return await http.post("/api/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def still_open(client: WsClient, label: str) -> None:
    await client.send({"type": "ping", "id": label})
    assert (await client.reply("pong"))["id"] == label


async def expect_marker(server: LiveServer, client: WsClient) -> None:
    """The next event the client sees is a marker emitted now: nothing else came before it."""
    marker = await server.emit("config_change", {"section": "marker"})
    assert (await client.next_event())["id"] == marker.id


async def audit_actions(server: LiveServer, prefix: str = "user.") -> list[tuple[str, str | None, str | None, str]]:
    async def run() -> list[tuple[str, str | None, str | None, str]]:
        async with server.app.state.db() as session:
            rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            return [
                (r.action, r.actor, r.target, r.details.get("via", ""))
                for r in rows.all()
                if r.action.startswith(prefix) and r.details.get("via") != "first start"
            ]

    return await server.call(run())


# --- the API ------------------------------------------------------------------------------------


async def test_only_admins_may_use_the_users_api(server: LiveServer) -> None:
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"username": "x1", "role": "viewer", "password": NEW_PASSWORD}),
        ("GET", "/api/users/viewer", None),
        ("PATCH", "/api/users/viewer", {"disabled": True}),
        ("POST", "/api/users/viewer/password", {"password": NEW_PASSWORD}),
    ]
    async with server.http() as anon, server.http("op") as op, server.http("admin") as admin:
        for method, path, body in calls:
            assert (await anon.request(method, path, json=body)).status_code == 401, path
            assert "admin" in refusal(await op.request(method, path, json=body), 403), path
        assert ok(await admin.get("/api/users/viewer"))["disabled"] is False  # nothing the operator tried changed
        assert (await login(server.base_url, "viewer")).status_code == 200


async def test_admins_list_create_and_change_users_and_other_admins_see_it_live(server: LiveServer) -> None:
    async with (
        server.http("admin") as admin,
        ws_open(server, "admin", "admin") as admin_socket,
        ws_open(server, "system", "viewer") as viewer_socket,
    ):
        listing = ok(await admin.get("/api/users"))
        assert [u["username"] for u in listing["items"]] == ["admin", "op", "viewer", "viewer2"]
        assert listing["total"] == 4
        assert listing["items"][1] | {"created_at": None} == {
            "username": "op",
            "role": "operator",
            "disabled": False,
            "version": 1,
            "updated_by": None,
            "created_at": None,
            "last_login_at": None,
        }

        created = await admin.post("/api/users", json={"username": "alice", "role": "operator", "password": PASSWORD})
        alice = ok(created, 201)
        assert created.headers["etag"] == '"1"'
        assert (alice["username"], alice["role"], alice["disabled"], alice["version"]) == (
            "alice",
            "operator",
            False,
            1,
        )
        assert alice["updated_by"] == "admin" and alice["last_login_at"] is None
        event = await admin_socket.next_event()
        assert (event["type"], event["actor"]) == ("user_created", "admin")
        assert event["data"] == alice

        # Refusals, each naming its field.
        refusal(
            await admin.post("/api/users", json={"username": "alice", "role": "viewer", "password": PASSWORD}),
            409,
            "username",
        )
        refusal(
            await admin.post("/api/users", json={"username": "-bad", "role": "viewer", "password": PASSWORD}),
            422,
            "username",
        )
        refusal(
            await admin.post("/api/users", json={"username": "bob", "role": "viewer", "password": "short"}),
            422,
            "password",
        )
        refusal(
            await admin.post("/api/users", json={"username": "bob", "role": "root", "password": PASSWORD}), 422, "role"
        )
        refusal(await admin.patch("/api/users/alice", json={"role": None}), 422, "role")
        assert (await admin.get("/api/users/nobody")).status_code == 404
        assert (await admin.patch("/api/users/nobody", json={"disabled": True})).status_code == 404

        got = await admin.get("/api/users/alice")
        assert got.headers["etag"] == '"1"' and ok(got) == alice
        assert (await login(server.base_url, "alice")).status_code == 200

        changed = await admin.patch("/api/users/alice", json={"role": "viewer"}, headers={"If-Match": '"1"'})
        assert ok(changed)["role"] == "viewer" and changed.headers["etag"] == '"2"'
        event = await admin_socket.events_until(lambda e: e["type"] == "user_updated")
        assert event[-1]["data"]["changes"] == ["role"] and event[-1]["data"]["version"] == 2
        assert event[-1]["data"]["role"] == "viewer"

        stale = await admin.patch("/api/users/alice", json={"disabled": True}, headers={"If-Match": '"1"'})
        detail = refusal(stale, 412)
        assert "admin" in detail and stale.json()["current"]["version"] == 2
        disabled = ok(await admin.patch("/api/users/alice", json={"disabled": True}, headers={"If-Match": '"2"'}))
        assert disabled["disabled"] is True and disabled["version"] == 3
        assert (await login(server.base_url, "alice")).status_code == 401
        enabled = ok(await admin.patch("/api/users/alice", json={"disabled": False, "role": "operator"}))
        assert (enabled["disabled"], enabled["role"], enabled["version"]) == (False, "operator", 4)
        # Nothing to change: no new version, no event.
        assert ok(await admin.patch("/api/users/alice", json={"role": "operator"}))["version"] == 4

        assert [u["username"] for u in ok(await admin.get("/api/users", params={"role": "operator"}))["items"]] == [
            "alice",
            "op",
        ]
        assert ok(await admin.get("/api/users", params={"search": "VIEW"}))["total"] == 2
        # Account changes are the admins' business: a viewer's socket saw none of it.
        await expect_marker(server, viewer_socket)

    assert await audit_actions(server) == [
        ("user.create", "admin", "alice", "api"),
        ("user.role_changed", "admin", "alice", "api"),
        ("user.disabled", "admin", "alice", "api"),
        ("user.role_changed", "admin", "alice", "api"),
        ("user.enabled", "admin", "alice", "api"),
    ]


async def test_admins_cannot_lock_themselves_out(server: LiveServer) -> None:
    async with server.http("admin") as admin:
        ok(await admin.post("/api/users", json={"username": "boss", "role": "admin", "password": PASSWORD}), 201)
        refusal(await admin.patch("/api/users/admin", json={"disabled": True}), 409, "disabled")
        refusal(await admin.patch("/api/users/admin", json={"role": "operator"}), 409, "role")
        assert ok(await admin.get("/api/users/admin"))["version"] == 1
        # Another admin may.
        async with server.http("boss") as boss:
            assert ok(await boss.patch("/api/users/admin", json={"role": "operator"}))["role"] == "operator"


async def demote_each_other(server: LiveServer, body: dict[str, Any]) -> list[int]:
    """Two admins change each other at the same moment; their status codes."""
    async with server.http("admin") as admin, server.http("boss") as boss:
        answers = await asyncio.gather(
            admin.patch("/api/users/boss", json=body), boss.patch("/api/users/admin", json=body)
        )
    return sorted(a.status_code for a in answers)


async def check_an_admin_is_always_left(server: LiveServer) -> None:
    async with server.http("admin") as admin:
        ok(await admin.post("/api/users", json={"username": "boss", "role": "admin", "password": PASSWORD}), 201)
    for body in ({"role": "viewer"}, {"disabled": True}):
        assert await demote_each_other(server, body) == [200, 409], body
        async with server.http() as http:
            users = []
            for name in ("admin", "boss"):
                token = server.token(name)
                answer = await http.get(f"/api/users/{name}", headers=bearer(token))
                if answer.status_code == 200:
                    users.append(answer.json())
        (left,) = users  # the one still an active admin can read users; the other cannot
        assert left["role"] == "admin" and not left["disabled"]
        async with server.http(left["username"]) as survivor:  # make both admins again for the next round
            other = "boss" if left["username"] == "admin" else "admin"
            ok(await survivor.patch(f"/api/users/{other}", json={"role": "admin", "disabled": False}))


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(server: LiveServer) -> None:
    await check_an_admin_is_always_left(server)


async def test_two_admins_demoting_each_other_at_once_leave_one_admin_on_postgresql(tmp_path: Path) -> None:
    async with pg_database() as url:
        server = LiveServer(tmp_path / "data", DATABASE_URL=url).start()
        try:
            await check_an_admin_is_always_left(server)
        finally:
            server.stop()


# --- open sockets follow at once ----------------------------------------------------------------


async def test_disabling_or_demoting_closes_the_users_sockets_at_once(make_server: Any) -> None:
    # The periodic re-check is far away: only the API's own re-check can close these in time.
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=3600)
    async with (
        server.http("admin") as admin,
        ws_open(server, "security", "op") as security,
        ws_open(server, "dns_management", "op") as dns,
    ):
        ok(await admin.patch("/api/users/op", json={"role": "viewer"}))
        assert await security.expect_close(timeout=3) == (4403, "role viewer may not open security")
        await still_open(dns, "a viewer may keep this one")
        ok(await admin.patch("/api/users/op", json={"disabled": True}))
        assert await dns.expect_close(timeout=3) == (4403, "user not allowed")
    assert await refused(server, "health", "op") == (4403, "user not allowed")


async def test_a_change_on_one_instance_closes_sockets_on_the_other_at_once(cluster: Cluster) -> None:  # noqa: F811
    cluster.env["WEBSOCKET_ACCESS_RECHECK_INTERVAL"] = "600"  # only the user_updated event can do it in time
    a, b = cluster.add("a"), cluster.add("b")
    async with (
        cluster.ws(b, "health", "viewer") as on_b,
        httpx.AsyncClient(base_url=a.base_url, timeout=20, headers=cluster.headers()) as admin,
    ):
        ok(await admin.patch("/api/users/viewer", json={"disabled": True}))
        assert await on_b.expect_close(timeout=5) == (4403, "user not allowed")


# --- password reset -------------------------------------------------------------------------------


async def test_a_password_reset_signs_the_user_out_everywhere(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_ACCESS_RECHECK_INTERVAL=3600)
    first = ok(await login(server.base_url, "viewer"))["access_token"]
    second = ok(await login(server.base_url, "viewer"))["access_token"]
    async with (
        ws_open(server, "health", "viewer", token=first) as on_first,
        ws_open(server, "system", "viewer", token=second) as on_second,
        ws_open(server, "system", "viewer2") as someone_else,
        ws_open(server, "admin", "admin") as admin_socket,
        server.http("admin") as admin,
    ):
        refusal(await admin.post("/api/users/viewer/password", json={"password": "short"}), 422, "password")
        assert (await admin.post("/api/users/nobody/password", json={"password": NEW_PASSWORD})).status_code == 404
        done = await admin.post("/api/users/viewer/password", json={"password": NEW_PASSWORD})
        assert done.status_code == 204
        for client in (on_first, on_second):
            expired = await client.events_until(lambda e: e["type"] == "session_expired")
            assert expired[-1]["data"]["reason"] == "password_reset"
            assert await client.expect_close(timeout=3) == (4001, "password reset")
        updated = await admin_socket.events_until(lambda e: e["type"] == "user_updated")
        assert updated[-1]["data"]["changes"] == ["password"] and updated[-1]["data"]["version"] == 2
        await still_open(someone_else, "another user is untouched")
    async with server.http() as http:
        for token in (first, second):
            me = await http.get("/api/auth/me", headers=bearer(token))
            assert me.status_code == 401 and me.json()["detail"] == "token revoked"
    assert (await login(server.base_url, "viewer")).status_code == 401
    fresh = ok(await login(server.base_url, "viewer", NEW_PASSWORD))["access_token"]
    async with ws_open(server, "health", "viewer", token=fresh) as again:
        await still_open(again, "signed in again with the new password")
    assert ("user.password_reset", "admin", "viewer", "api") in await audit_actions(server)


async def test_admins_resetting_their_own_password_keep_the_session_they_asked_with(server: LiveServer) -> None:
    asking = ok(await login(server.base_url, "admin"))["access_token"]
    other = ok(await login(server.base_url, "admin"))["access_token"]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
        done = await http.post("/api/users/admin/password", json={"password": NEW_PASSWORD}, headers=bearer(asking))
        assert done.status_code == 204
        assert (await http.get("/api/users", headers=bearer(asking))).status_code == 200
        assert (await http.get("/api/auth/me", headers=bearer(other))).status_code == 401


async def test_a_password_reset_on_one_instance_closes_the_sessions_on_the_other(cluster: Cluster) -> None:  # noqa: F811
    cluster.env["WEBSOCKET_ACCESS_RECHECK_INTERVAL"] = "600"
    a, b = cluster.add("a"), cluster.add("b")
    token = ok(await login(b.base_url, "viewer", "long enough password"))["access_token"]
    async with (
        ws_open(b, "health", "viewer", token=token) as on_b,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=a.base_url, timeout=20, headers=cluster.headers()) as admin,
    ):
        ok(await admin.post("/api/users/viewer/password", json={"password": NEW_PASSWORD}), 204)
        assert await on_b.expect_close(timeout=5) == (4001, "password reset")


# --- unread starts at the first sign-in -----------------------------------------------------------


async def test_a_new_user_starts_with_nothing_unread(server: LiveServer) -> None:
    drafts = [EventDraft.make(EventType.ZONE_UPDATED, {"zone": f"z{i}.example", "i": i}) for i in range(3000)]
    await server.call(server.realtime.service.publish(drafts))
    async with server.http("admin") as admin:
        ok(await admin.post("/api/users", json={"username": "newbie", "role": "viewer", "password": PASSWORD}), 201)
        assert ok(await admin.get("/api/events/unread-count"))["unread_count"] > 3000  # the admin's backlog stays
    token = ok(await login(server.base_url, "newbie"))["access_token"]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20, headers=bearer(token)) as newbie:
        assert ok(await newbie.get("/api/events/unread-count")) == {"unread_count": 0}
        page = ok(await newbie.get("/api/events", params={"limit": 500}))
        assert len(page["events"]) == 500 and all(e["read"] for e in page["events"])
        assert ok(await newbie.get("/api/events", params={"unread": "true"}))["events"] == []

        news = await server.emit("zone_created", {"zone": "news.example"})
        assert ok(await newbie.get("/api/events/unread-count")) == {"unread_count": 1}
        # A second sign-in is no new start: what came after the first stays unread (and this sign-in
        # is news, as every sign-in but the first is).
        ok(await login(server.base_url, "newbie"))
        unread = ok(await newbie.get("/api/events", params={"unread": "true"}))["events"]
        assert [(e["id"], e["type"]) for e in unread][:1] == [(news.id, "zone_created")]
        assert [e["type"] for e in unread][1:] == ["user_login"]


async def test_the_users_list_says_when_each_user_last_signed_in(server: LiveServer) -> None:
    async with server.http("admin") as admin:
        assert ok(await admin.get("/api/users/viewer2"))["last_login_at"] is None
        ok(await login(server.base_url, "viewer2"))
        signed_in = ok(await admin.get("/api/users/viewer2"))
        assert signed_in["last_login_at"] is not None
        assert signed_in["version"] == 1  # a sign-in is no change to the user: nobody's edit goes stale
