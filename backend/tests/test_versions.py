"""Safe concurrent edits over HTTP: versions as ETags, If-Match, 412 with the object as it is now.

Also what forms need from the DNS API: 422s that name the field they concern, and bulk removal of
records as one change. Real servers, real HTTP and WebSocket clients, real SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, WsClient, pg_database, ws_open
from sqlalchemy import select

from hybrid_dns.models import AuditEntry

BACKGROUND = {"bind_reload", "system_status", "health_update", "health_alert"}


def ok(response: httpx.Response, code: int = 200) -> Any:
    assert response.status_code == code, (response.status_code, response.text)
    return response.json() if response.content else None


async def next_change(client: WsClient, timeout: float = 5) -> dict[str, Any]:
    while True:
        event = await client.next_event(timeout)
        if event["type"] not in BACKGROUND:
            return event


async def expect_marker(server: LiveServer, client: WsClient, event_type: str = "zone_updated") -> None:
    """A marker emitted now must be the next change the client sees: nothing was emitted before it."""
    marker = await server.emit(event_type, {"marker": True})
    assert (await next_change(client))["id"] == marker.id


async def objects(http: httpx.AsyncClient) -> dict[str, Any]:
    """One of each editable DNS object, as created."""
    zone = ok(await http.post("/api/zones", json={"name": "v.example"}), 201)
    record = ok(
        await http.post(f"/api/zones/{zone['id']}/records", json={"name": "www", "type": "A", "value": "192.0.2.1"}),
        201,
    )
    rule = ok(await http.post("/api/rpz/rules", json={"domain": "bad.example"}), 201)
    forwarder = ok(
        await http.post(
            "/api/forwarders",
            json={"name": "corp", "type": "intranet", "domains": ["corp.example"], "servers": ["10.0.0.1"]},
        ),
        201,
    )
    return {"zone": zone, "record": record, "rule": rule, "forwarder": forwarder}


def paths(o: dict[str, Any]) -> dict[str, str]:
    z = f"/api/zones/{o['zone']['id']}"
    return {
        "zone": z,
        "record": f"{z}/records/{o['record']['id']}",
        "rule": f"/api/rpz/rules/{o['rule']['id']}",
        "forwarder": f"/api/forwarders/{o['forwarder']['id']}",
    }


# A change for each kind of object, and a second, different one.
CHANGES = {
    "zone": ({"refresh": 7200}, {"refresh": 10800}),
    "record": ({"ttl": 60}, {"ttl": 120}),
    "rule": ({"category": "malware"}, {"category": "phishing"}),
    "forwarder": ({"servers": ["10.0.0.2"]}, {"servers": ["10.0.0.3"]}),
}


async def test_every_editable_object_carries_its_version_as_an_etag(server: LiveServer) -> None:
    async with server.http("op") as op:
        created = await objects(op)
        where = paths(created)
        for kind, path in where.items():
            assert created[kind]["version"] == 1 and created[kind]["updated_by"] == "op", kind
            got = await op.get(path)
            assert got.headers["etag"] == '"1"' and ok(got)["version"] == 1, kind
        # A creation answers with the ETag too.
        again = await op.post("/api/rpz/rules", json={"domain": "worse.example"})
        assert again.status_code == 201 and again.headers["etag"] == '"1"'

        for kind, path in where.items():
            first, _ = CHANGES[kind]
            changed = await op.patch(path, json=first)
            assert ok(changed)["version"] == 2 and changed.headers["etag"] == '"2"', kind
            # The same values again change nothing, so the version stays.
            same = await op.patch(path, json=first)
            assert ok(same)["version"] == 2 and same.headers["etag"] == '"2"', kind

        # Lists carry versions too; a record change moves the zone's serial, not the zone's version.
        zone = ok(await op.get(where["zone"]))
        records = ok(await op.get(f"{where['zone']}/records"))["items"]
        assert [r["version"] for r in records] == [2] and zone["version"] == 2
        assert zone["serial"] > created["zone"]["serial"]
        assert [f["version"] for f in ok(await op.get("/api/forwarders"))["items"]] == [2]


@pytest.mark.parametrize("kind", ["zone", "record", "rule", "forwarder"])
async def test_a_stale_if_match_gets_412_with_the_object_as_it_is_now_and_changes_nothing(
    server: LiveServer, kind: str
) -> None:
    connection = "security" if kind == "rule" else "dns_management"
    async with server.http("admin") as alice, server.http("op") as bob:
        path = paths(await objects(alice))[kind]
        first, second = CHANGES[kind]
        read = await bob.get(path)  # bob reads version 1 and starts editing
        assert read.headers["etag"] == '"1"'
        ok(await alice.patch(path, json=first, headers={"If-Match": '"1"'}))  # alice saves first

        async with ws_open(server, connection, "viewer" if kind != "rule" else "op") as client:
            for method, body in (("PATCH", second), ("DELETE", None)):
                refused = await bob.request(method, path, json=body, headers={"If-Match": read.headers["etag"]})
                assert refused.status_code == 412, (method, refused.text)
                answer = refused.json()
                assert "admin" in answer["detail"] and "version 2" in answer["detail"], answer["detail"]
                assert answer["current"] == ok(await bob.get(path)), "the object as it is now"
                assert answer["current"]["version"] == 2 and refused.headers["etag"] == '"2"'
            await expect_marker(server, client, "rpz_update" if kind == "rule" else "zone_updated")
        for key, value in first.items():
            assert ok(await bob.get(path))[key] == value  # alice's change stands

        # With the current version (strong or weak, or *), bob's change goes through.
        done = ok(await bob.patch(path, json=second, headers={"If-Match": 'W/"2"'}))
        assert done["version"] == 3
        ok(await bob.delete(path, headers={"If-Match": '"3"'}), 204)
        assert (await bob.delete(path, headers={"If-Match": "*"})).status_code == 404  # gone: 404, not 412


async def test_without_if_match_a_write_goes_through_as_before(server: LiveServer) -> None:
    async with server.http("admin") as alice, server.http("op") as bob:
        path = paths(await objects(alice))["forwarder"]
        ok(await alice.patch(path, json={"enabled": False}))
        assert ok(await bob.patch(path, json={"servers": ["10.0.0.9"]}))["version"] == 3


async def test_a_malformed_if_match_is_refused_and_names_the_header(server: LiveServer) -> None:
    async with server.http("op") as op:
        path = paths(await objects(op))["record"]
        for bad in ('"one"', 'W/"1', '"1", "2"', '"12345678901"', '"1"x'):
            answer = await op.patch(path, json={"ttl": 30}, headers={"If-Match": bad})
            assert answer.status_code == 422, (bad, answer.text)
            assert answer.json()["errors"][0]["field"] == "If-Match"
        assert ok(await op.get(path))["version"] == 1


async def test_events_carry_the_new_version(server: LiveServer) -> None:
    async with (
        ws_open(server, "dns_management", "viewer") as dns,
        ws_open(server, "security", "op") as security,
        server.http("op") as op,
    ):
        created = await objects(op)
        where = paths(created)
        kinds = [(await next_change(dns))["type"] for _ in range(3)]
        assert kinds == ["zone_created", "record_created", "config_change"]
        added = await next_change(security)
        assert added["data"]["id"] == created["rule"]["id"] and added["data"]["version"] == 1
        for kind, path in where.items():
            ok(await op.patch(path, json=CHANGES[kind][0]))
            event = await next_change(security if kind == "rule" else dns)
            assert event["data"]["version"] == 2 and event["data"]["id"] == created[kind]["id"], event
        # The whole object comes with zone and record events, so a cache can patch itself.
        zone = ok(await op.get(where["zone"]))
        ok(await op.patch(where["zone"], json={"retry": 1200}))
        event = await next_change(dns)
        assert event["data"] == {**ok(await op.get(where["zone"])), "zone": "v.example", "changes": ["retry"]}
        assert event["data"]["version"] == zone["version"] + 1
        for kind in ("record", "rule", "forwarder"):
            ok(await op.delete(where[kind]), 204)
            event = await next_change(security if kind == "rule" else dns)
            assert event["data"]["id"] == created[kind]["id"] and event["data"]["version"] == 2, event


async def concurrent_patches(server: LiveServer, path: str, bodies: list[dict[str, Any]]) -> list[int]:
    """Send these PATCHes at once, each with If-Match "1"; their status codes."""
    clients = [server.http("op") for _ in bodies]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        answers = await asyncio.gather(
            *(c.patch(path, json=b, headers={"If-Match": '"1"'}) for c, b in zip(clients, bodies, strict=True))
        )
    return [a.status_code for a in answers]


async def check_one_wins(server: LiveServer) -> None:
    async with server.http("op") as op, ws_open(server, "dns_management", "viewer") as client:
        created = await objects(op)
        for _ in range(3):
            await next_change(client)
        where = paths(created)
        cases = [
            ("record", [{"ttl": 60 + i} for i in range(8)], "record_updated"),
            ("zone", [{"retry": 1000 + i} for i in range(8)], "zone_updated"),
            ("forwarder", [{"servers": [f"10.0.1.{i}"]} for i in range(8)], "config_change"),
        ]
        for kind, bodies, event_type in cases:
            codes = await concurrent_patches(server, where[kind], bodies)
            assert sorted(codes) == [200] + [412] * (len(bodies) - 1), (kind, codes)
            final = ok(await op.get(where[kind]))
            assert final["version"] == 2, kind
            event = await next_change(client)
            assert event["type"] == event_type and event["data"]["version"] == 2
            await expect_marker(server, client)  # one change, one event


async def test_the_version_check_and_the_write_are_one_step(server: LiveServer) -> None:
    """Writers racing with the same If-Match: exactly one wins, the others get 412, nothing is lost."""
    await check_one_wins(server)


async def test_the_version_check_and_the_write_are_one_step_on_postgresql(tmp_path: Path) -> None:
    async with pg_database() as url:
        server = LiveServer(tmp_path / "data", DATABASE_URL=url).start()
        try:
            await check_one_wins(server)
        finally:
            server.stop()


# --- 422s name their field ----------------------------------------------------------------------


def fields_of(response: httpx.Response) -> list[str]:
    assert response.status_code in (409, 422), (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return [e["field"] for e in body.get("errors") or []]


async def test_refusals_name_the_field_of_the_body_they_concern(server: LiveServer) -> None:
    async with server.http("op") as op:
        zone = ok(await op.post("/api/zones", json={"name": "f.example"}), 201)
        records = f"/api/zones/{zone['id']}/records"
        www = ok(await op.post(records, json={"name": "www", "type": "A", "value": "192.0.2.1"}), 201)
        cases: list[tuple[str, str, dict[str, Any], list[str]]] = [
            ("POST", "/api/zones", {"name": "bad..name"}, ["name"]),
            ("POST", "/api/zones", {"name": "f.example"}, ["name"]),  # 409: exists
            ("POST", "/api/zones", {"name": "g.example", "primary_ns": "ns1"}, ["primary_ns"]),
            ("POST", "/api/zones", {"name": "g.example", "admin_email": "a@@b"}, ["admin_email"]),
            ("POST", "/api/zones", {"name": "g.example", "refresh": 9000, "expire": 9000}, ["expire"]),
            ("POST", "/api/zones", {"name": "h.example", "zone_type": "forward"}, ["forwarders"]),
            (
                "POST",
                "/api/zones",
                {"name": "h.example", "zone_type": "forward", "forwarders": ["10.0.0.1", "nope"]},
                ["forwarders.1"],
            ),
            ("PATCH", f"/api/zones/{zone['id']}", {"forwarders": ["10.0.0.1"]}, ["forwarders"]),
            ("POST", records, {"name": "a b", "type": "A", "value": "192.0.2.1"}, ["name"]),
            ("POST", records, {"name": "@", "type": "CNAME", "value": "x.example."}, ["name"]),
            ("POST", records, {"name": "mail", "type": "MX", "value": "mail.example."}, ["value"]),
            ("POST", records, {"name": "www", "type": "A", "value": "192.0.2.1"}, ["value"]),  # 409: a duplicate
            ("POST", records, {"name": "www", "type": "A", "value": "192.0.2.2", "ttl": 0}, ["ttl"]),
            ("PATCH", f"{records}/{www['id']}", {"type": "AAAA"}, ["value"]),
            ("PATCH", f"{records}/{www['id']}", {"value": "not-an-ip"}, ["value"]),
            ("PATCH", f"{records}/{www['id']}", {"name": None}, ["name"]),
            ("POST", "/api/rpz/rules", {"domain": "com"}, ["domain"]),
            ("POST", "/api/rpz/rules", {"domain": "r.example", "action": "redirect"}, ["redirect_to"]),
            ("POST", "/api/rpz/rules", {"domain": "r.example", "category": "Bad Category!"}, ["category"]),
            (
                "POST",
                "/api/rpz/rules/import",
                {"domains": ["ok.example", "com", "x y.example"]},
                ["domains.1", "domains.2"],
            ),
            (
                "POST",
                "/api/forwarders",
                {"name": "n", "type": "public", "servers": ["10.0.0.1", "10.0.0.1:99999"]},
                ["servers.1"],
            ),
            ("POST", "/api/forwarders", {"name": "n", "type": "intranet", "servers": ["10.0.0.1"]}, ["domains"]),
            (
                "POST",
                "/api/forwarders",
                {"name": "n", "type": "intranet", "domains": ["f.example"], "servers": ["10.0.0.1"]},
                ["domains.0"],  # 409: a zone here
            ),
            ("POST", "/api/forwarders", {"name": "-n", "type": "public", "servers": ["10.0.0.1"]}, ["name"]),
        ]
        for method, path, body, expected in cases:
            got = fields_of(await op.request(method, path, json=body))
            assert got == expected, (method, path, body, got)


async def test_a_refusal_about_the_whole_zone_names_no_field(server: LiveServer) -> None:
    async with server.http("op") as op:
        forward = ok(
            await op.post(
                "/api/zones", json={"name": "fw.example", "zone_type": "forward", "forwarders": ["10.0.0.1"]}
            ),
            201,
        )
        answer = await op.post(
            f"/api/zones/{forward['id']}/records", json={"name": "www", "type": "A", "value": "192.0.2.1"}
        )
        assert answer.status_code == 422 and "forward zone" in answer.json()["detail"]
        assert not answer.json().get("errors")


# --- bulk removal of records ---------------------------------------------------------------------


async def test_bulk_delete_is_one_change_one_serial_one_batch(server: LiveServer) -> None:
    async with server.http("op") as op:
        zone = ok(await op.post("/api/zones", json={"name": "bulk.example"}), 201)
        other = ok(await op.post("/api/zones", json={"name": "other.example"}), 201)
        records = f"/api/zones/{zone['id']}/records"
        made = [
            ok(await op.post(records, json={"name": f"h{i}", "type": "A", "value": f"192.0.2.{i}"}), 201)
            for i in range(1, 6)
        ]
        elsewhere = ok(
            await op.post(f"/api/zones/{other['id']}/records", json={"name": "x", "type": "A", "value": "192.0.2.99"}),
            201,
        )
        before = ok(await op.get(f"/api/zones/{zone['id']}"))["serial"]
        async with ws_open(server, "dns_management", "viewer") as client:
            ids = [made[2]["id"], made[0]["id"], 2_000_000, elsewhere["id"], made[1]["id"], made[0]["id"]]
            answer = ok(await op.post(f"{records}/bulk-delete", json={"ids": ids}))
            assert answer == {
                "deleted": [made[2]["id"], made[0]["id"], made[1]["id"]],
                "not_found": [2_000_000, elsewhere["id"]],
                "serial": before + 1,
            }
            # One batch frame holding the three record_deleted events, all with the one new serial.
            while True:
                frame = await client.recv()
                events = frame["events"] if frame["type"] == "batch" else [frame]
                if any(e["type"] == "record_deleted" for e in events):
                    break
                assert all(e["type"] in BACKGROUND for e in events), frame
            assert frame["type"] == "batch" and [e["type"] for e in frame["events"]] == ["record_deleted"] * 3
            assert [e["data"]["id"] for e in frame["events"]] == answer["deleted"]
            assert {e["data"]["serial"] for e in frame["events"]} == {before + 1}

            # Nothing of this zone to remove: no change at all.
            again = ok(await op.post(f"{records}/bulk-delete", json={"ids": [made[0]["id"], elsewhere["id"]]}))
            assert again == {"deleted": [], "not_found": [made[0]["id"], elsewhere["id"]], "serial": before + 1}
            await expect_marker(server, client)
        left = ok(await op.get(records))["items"]
        assert sorted(r["name"] for r in left) == ["h4", "h5"]
        assert ok(await op.get(f"/api/zones/{other['id']}/records"))["total"] == 1

    async def bulk_rows() -> list[AuditEntry]:
        async with server.app.state.db() as session:
            rows = await session.scalars(select(AuditEntry).where(AuditEntry.action == "record.bulk_delete"))
            return list(rows.all())

    (row,) = await server.call(bulk_rows())
    assert row.actor == "op" and [r["name"] for r in row.details["records"]] == ["h3", "h1", "h2"]


async def test_bulk_delete_is_refused_for_viewers_and_for_bad_bodies(server: LiveServer) -> None:
    async with server.http("op") as op, server.http("viewer") as viewer:
        zone = ok(await op.post("/api/zones", json={"name": "bulk.example"}), 201)
        path = f"/api/zones/{zone['id']}/records/bulk-delete"
        assert (await viewer.post(path, json={"ids": [1]})).status_code == 403
        for body in ({"ids": []}, {"ids": [0]}, {"ids": ["one"]}, {"ids": [True]}, {}, {"ids": [1], "x": 1}):
            assert (await op.post(path, json=body)).status_code == 422, body
        assert (await op.post("/api/zones/999999/records/bulk-delete", json={"ids": [1]})).status_code == 404
