"""The DNS management API: zones, records, RPZ rules, forwarders; roles, validation, events, audit.

A real server, real HTTP and WebSocket clients. Every change must arrive as its event (with the
right data and actor), and a change that fails must emit nothing: a marker event emitted right
after the failure must be the next event a client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, RedisServer, WsClient, pg_database, ws_open
from sqlalchemy import select

from hybrid_dns.models import AuditEntry, Record, Zone

# Events other parts of the server may emit meanwhile (the BIND deployer announces its reloads).
BACKGROUND = {"bind_reload", "system_status", "health_update", "health_alert"}


async def next_change(client: WsClient, timeout: float = 5) -> dict[str, Any]:
    """The next event that is not background noise."""
    while True:
        event = await client.next_event(timeout)
        if event["type"] not in BACKGROUND:
            return event


async def expect_marker(server: LiveServer, client: WsClient, event_type: str = "zone_updated") -> None:
    """Emit a marker; it must be the very next change the client sees (so nothing came before it)."""
    marker = await server.emit(event_type, {"marker": True})
    event = await next_change(client)
    assert event["id"] == marker.id, f"expected the marker, got {event}"


async def audit_rows(server: LiveServer, prefix: str = "") -> list[AuditEntry]:
    async def run() -> list[AuditEntry]:
        async with server.app.state.db() as session:
            rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            # Not the first admin's creation at the server's first start: it is no part of any test.
            first_start = ("user.create", "first start")
            return [
                r for r in rows.all() if r.action.startswith(prefix) and (r.action, r.details.get("via")) != first_start
            ]

    return await server.call(run())


def ok(response: httpx.Response, code: int = 200) -> Any:
    assert response.status_code == code, (response.status_code, response.text)
    return response.json() if response.content else None


def error(response: httpx.Response, code: int) -> str:
    assert response.status_code == code, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


async def make_zone(http: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    return ok(await http.post("/api/zones", json={"name": name, **fields}), 201)  # type: ignore[no-any-return]


# --- roles ------------------------------------------------------------------------------------


async def test_viewers_read_operators_and_admins_write_anonymous_is_refused(server: LiveServer) -> None:
    async with server.http("admin") as admin:
        zone = await make_zone(admin, "roles.example")
        record = ok(
            await admin.post(
                f"/api/zones/{zone['id']}/records", json={"name": "www", "type": "A", "value": "192.0.2.1"}
            ),
            201,
        )
        rule = ok(await admin.post("/api/rpz/rules", json={"domain": "bad.example"}), 201)
        fwd = ok(
            await admin.post(
                "/api/forwarders",
                json={"name": "ad", "type": "active_directory", "domains": ["corp.local"], "servers": ["10.0.0.1"]},
            ),
            201,
        )
    z, r = f"/api/zones/{zone['id']}", f"/api/zones/{zone['id']}/records/{record['id']}"
    reads = [
        "/api/zones",
        z,
        f"{z}/records",
        r,
        "/api/rpz/rules",
        f"/api/rpz/rules/{rule['id']}",
        "/api/forwarders",
        f"/api/forwarders/{fwd['id']}",
    ]
    writes: list[tuple[str, str, Any]] = [
        ("POST", "/api/zones", {"name": "x.example"}),
        ("PATCH", z, {"refresh": 7200}),
        ("DELETE", z, None),
        ("POST", f"{z}/records", {"name": "a", "type": "A", "value": "192.0.2.9"}),
        ("PATCH", r, {"ttl": 60}),
        ("DELETE", r, None),
        ("POST", "/api/rpz/rules", {"domain": "x.example"}),
        ("PATCH", f"/api/rpz/rules/{rule['id']}", {"category": "x"}),
        ("DELETE", f"/api/rpz/rules/{rule['id']}", None),
        ("POST", "/api/rpz/rules/import", {"domains": ["y.example"]}),
        ("POST", "/api/rpz/rules/bulk-delete", {"domains": ["bad.example"]}),
        ("POST", "/api/forwarders", {"name": "n", "type": "public", "servers": ["1.1.1.1"]}),
        ("PATCH", f"/api/forwarders/{fwd['id']}", {"enabled": False}),
        ("DELETE", f"/api/forwarders/{fwd['id']}", None),
    ]
    async with server.http() as anon, server.http("viewer") as viewer:
        for path in reads:
            assert (await anon.get(path)).status_code == 401, path
            ok(await viewer.get(path))
        for method, path, body in writes:
            assert (await anon.request(method, path, json=body)).status_code == 401, (method, path)
            detail = error(await viewer.request(method, path, json=body), 403)
            assert "operator" in detail
    # Nothing the viewer tried changed anything, and the operator may write.
    async with server.http("op") as op:
        ok(await op.patch(f"/api/forwarders/{fwd['id']}", json={"enabled": False}))
        ok(await op.delete(r), 204)
        assert ok(await op.get(f"{z}/records"))["total"] == 0
        assert ok(await op.get("/api/rpz/rules"))["total"] == 1


# --- zones and records --------------------------------------------------------------------------


async def test_zone_and_record_crud_emit_events_bump_the_serial_and_are_audited(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client, server.http("op") as op:
        zone = await make_zone(op, "Example.COM.", primary_ns="ns1.example.net.", admin_email="hostmaster@example.com")
        assert zone["name"] == "example.com" and zone["zone_type"] == "master" and zone["admin_email"] == "hostmaster"
        event = await next_change(client)
        assert event["type"] == "zone_created" and event["actor"] == "op"
        # The whole zone as the API answers it (a list can add it without a refetch), and its name as `zone`.
        assert event["data"] == {**zone, "zone": "example.com", "version": 1}
        serials = [zone["serial"]]
        zid = zone["id"]

        updated = ok(await op.patch(f"/api/zones/{zid}", json={"refresh": 7200, "default_ttl": 600}))
        assert updated["refresh"] == 7200 and updated["serial"] > serials[-1]
        serials.append(updated["serial"])
        event = await next_change(client)
        assert event["type"] == "zone_updated" and event["actor"] == "op"
        assert event["data"]["serial"] == updated["serial"] and event["data"]["changes"] == ["default_ttl", "refresh"]

        rec = ok(
            await op.post(
                f"/api/zones/{zid}/records",
                json={"name": "Mail.example.com.", "type": "mx", "value": "10 mx1", "ttl": 300},
            ),
            201,
        )
        assert (rec["name"], rec["type"], rec["value"], rec["ttl"]) == ("mail", "MX", "10 mx1.example.com.", 300)
        event = await next_change(client)
        assert event["type"] == "record_created" and event["actor"] == "op"
        data = event["data"]
        assert {k: data[k] for k in ("zone", "name", "type", "value", "ttl")} == {
            "zone": "example.com",
            "name": "mail",
            "type": "MX",
            "value": "10 mx1.example.com.",
            "ttl": 300,
        }
        assert data["serial"] > serials[-1]
        serials.append(data["serial"])

        rec = ok(await op.patch(f"/api/zones/{zid}/records/{rec['id']}", json={"value": "20 mx2.example.com."}))
        assert rec["value"] == "20 mx2.example.com." and rec["ttl"] == 300
        event = await next_change(client)
        assert event["type"] == "record_updated" and event["data"]["value"] == "20 mx2.example.com."
        assert event["data"]["previous"]["value"] == "10 mx1.example.com." and event["data"]["serial"] > serials[-1]
        serials.append(event["data"]["serial"])

        www = ok(
            await op.post(f"/api/zones/{zid}/records", json={"name": "www", "type": "A", "value": "192.0.2.80"}), 201
        )
        serials.append((await next_change(client))["data"]["serial"])
        ok(
            await op.post(f"/api/zones/{zid}/records", json={"name": "www", "type": "AAAA", "value": "2001:db8::80"}),
            201,
        )
        serials.append((await next_change(client))["data"]["serial"])

        page = ok(await op.get(f"/api/zones/{zid}/records", params={"type": "A"}))
        assert page["total"] == 1 and page["items"][0]["id"] == www["id"]
        page = ok(await op.get(f"/api/zones/{zid}/records", params={"name": "www.example.com.", "limit": 1}))
        assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1
        page = ok(await op.get(f"/api/zones/{zid}/records", params={"name": "www", "limit": 1, "offset": 1}))
        assert len(page["items"]) == 1 and page["items"][0]["type"] == "AAAA"

        ok(await op.delete(f"/api/zones/{zid}/records/{www['id']}"), 204)
        event = await next_change(client)
        assert event["type"] == "record_deleted" and event["data"]["name"] == "www" and event["data"]["type"] == "A"
        serials.append(event["data"]["serial"])
        current = ok(await op.get(f"/api/zones/{zid}"))
        assert current["serial"] == serials[-1] and current["record_count"] == 2
        assert serials == sorted(set(serials)), serials  # strictly increasing

        await make_zone(op, "other.example")
        await next_change(client)
        listing = ok(await op.get("/api/zones", params={"search": "EXAMPLE.c"}))
        assert [z["name"] for z in listing["items"]] == ["example.com"] and listing["items"][0]["record_count"] == 2
        assert ok(await op.get("/api/zones", params={"limit": 1, "offset": 1}))["items"][0]["name"] == "other.example"
        assert ok(await op.get("/api/zones", params={"zone_type": "forward"}))["total"] == 0

        ok(await op.delete(f"/api/zones/{zid}"), 204)
        event = await next_change(client)
        assert event["type"] == "zone_deleted" and event["actor"] == "op"
        assert event["data"]["zone"] == "example.com" and event["data"]["records"] == 2
        error(await op.get(f"/api/zones/{zid}"), 404)
        error(await op.get(f"/api/zones/{zid}/records"), 404)

        async def records_left() -> int:
            async with server.app.state.db() as session:
                return len((await session.scalars(select(Record).where(Record.zone_id == zid))).all())

        assert await server.call(records_left()) == 0

    actions = [(a.action, a.actor, a.outcome, a.target) for a in await audit_rows(server)]
    assert actions == [
        ("zone.create", "op", "success", "example.com"),
        ("zone.update", "op", "success", "example.com"),
        ("record.create", "op", "success", "mail MX in example.com"),
        ("record.update", "op", "success", "mail MX in example.com"),
        ("record.create", "op", "success", "www A in example.com"),
        ("record.create", "op", "success", "www AAAA in example.com"),
        ("record.delete", "op", "success", "www A in example.com"),
        ("zone.create", "op", "success", "other.example"),
        ("zone.delete", "op", "success", "example.com"),
    ]
    assert all(a.source == "127.0.0.1" for a in await audit_rows(server))


GOOD_AND_BAD = {
    "A": ("192.0.2.1", "192.0.2.300"),
    "AAAA": ("2001:db8::1", "2001:db8::zz"),
    "CNAME": ("target.example.net.", "two words"),
    "MX": ("10 mail.example.com.", "mail.example.com."),
    "TXT": ('"v=spf1 mx -all" "second"', '"' + "x" * 300 + '"'),
    "SRV": ("10 5 5060 sip.example.com.", "10 5 sip.example.com."),
    "PTR": ("host.example.com.", "host.example.com. extra"),
    "NS": ("ns2.example.net.", "ns2.example.net. ns3.example.net."),
}


async def test_record_values_are_validated_for_each_type(server: LiveServer) -> None:
    async with server.http("op") as op:
        zid = (await make_zone(op, "v.example"))["id"]
        for i, (rtype, (good, bad)) in enumerate(GOOD_AND_BAD.items()):
            name = f"n{i}" if rtype != "SRV" else "_sip._tcp"
            rec = ok(await op.post(f"/api/zones/{zid}/records", json={"name": name, "type": rtype, "value": good}), 201)
            assert rec["type"] == rtype
            detail = error(
                await op.post(f"/api/zones/{zid}/records", json={"name": f"bad{i}", "type": rtype, "value": bad}), 422
            )
            assert rtype in detail, detail
        txt = ok(await op.get(f"/api/zones/{zid}/records", params={"type": "TXT"}))["items"][0]
        assert txt["value"] == '"v=spf1 mx -all" "second"'
        assert "expecting an integer" in error(
            await op.post(f"/api/zones/{zid}/records", json={"type": "MX", "value": "mail"}), 422
        )

        bad_requests = [
            ({"name": "www", "type": "SPF", "value": "x"}, "type"),
            ({"name": "www", "type": "A", "value": "192.0.2.1", "ttl": 0}, "ttl"),
            ({"name": "www", "type": "A", "value": "192.0.2.1", "ttl": 10**7}, "ttl"),
            ({"name": "bad name", "type": "A", "value": "192.0.2.1"}, "record name"),
            ({"name": "www.elsewhere.org.", "type": "A", "value": "192.0.2.1"}, "not inside the zone"),
            ({"name": "www", "type": "A", "value": "192.0.2.1\n192.0.2.2"}, "control"),
            ({"name": "www", "type": "A", "value": "192.0.2.1", "extra": 1}, "extra"),
            ({"name": "@", "type": "CNAME", "value": "x.example.net."}, "apex"),
        ]
        for body, words in bad_requests:
            assert words in error(await op.post(f"/api/zones/{zid}/records", json=body), 422), body

        for bad_zone in ["bad zone.example", "a..b", "-x.example", ".", "x" * 64 + ".example"]:
            error(await op.post("/api/zones", json={"name": bad_zone}), 422)
        assert "forwarder" in error(
            await op.post("/api/zones", json={"name": "f.example", "zone_type": "forward"}), 422
        )
        assert "forward zones only" in error(
            await op.post("/api/zones", json={"name": "m.example", "forwarders": ["10.0.0.1"]}), 422
        )
        assert "expire" in error(
            await op.post("/api/zones", json={"name": "m.example", "refresh": 86400, "expire": 3600}), 422
        )
        fz = ok(
            await op.post(
                "/api/zones",
                json={"name": "fwd.example", "zone_type": "forward", "forwarders": ["10.1.1.1", "10.1.1.2:5353"]},
            ),
            201,
        )
        assert fz["forwarders"] == ["10.1.1.1", "10.1.1.2:5353"]
        assert "master" in error(
            await op.post(f"/api/zones/{fz['id']}/records", json={"type": "A", "value": "192.0.2.1"}), 422
        )
        error(await op.patch(f"/api/zones/{fz['id']}", json={"forwarders": ["not-an-ip"]}), 422)


async def test_conflicts_and_unknown_ids_emit_nothing(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client, server.http("op") as op:
        zone = await make_zone(op, "c.example")
        zid = zone["id"]
        await next_change(client)
        assert "already exists" in error(await op.post("/api/zones", json={"name": "C.Example."}), 409)
        await expect_marker(server, client)

        ok(await op.post(f"/api/zones/{zid}/records", json={"name": "www", "type": "A", "value": "192.0.2.1"}), 201)
        await next_change(client)
        for body, words in [
            ({"name": "www", "type": "A", "value": "192.0.2.1"}, "already has"),
            ({"name": "www", "type": "CNAME", "value": "other.example."}, "CNAME cannot coexist"),
        ]:
            assert words in error(await op.post(f"/api/zones/{zid}/records", json=body), 409)
            await expect_marker(server, client)
        alias = ok(
            await op.post(f"/api/zones/{zid}/records", json={"name": "alias", "type": "CNAME", "value": "www"}), 201
        )
        assert alias["value"] == "www.c.example."
        await next_change(client)
        assert "has a CNAME" in error(
            await op.post(f"/api/zones/{zid}/records", json={"name": "alias", "type": "TXT", "value": '"x"'}), 409
        )
        # Moving a record onto the CNAME's name is refused too, and changes nothing.
        www = ok(await op.get(f"/api/zones/{zid}/records", params={"type": "A"}))["items"][0]
        error(await op.patch(f"/api/zones/{zid}/records/{www['id']}", json={"name": "alias"}), 409)
        error(await op.patch(f"/api/zones/{zid}/records/{www['id']}", json={"value": "nope"}), 422)
        await expect_marker(server, client)
        assert ok(await op.get(f"/api/zones/{zid}"))["serial"] == zone["serial"] + 2  # two records added, no more

        for method, path in [
            ("GET", "/api/zones/9999"),
            ("PATCH", "/api/zones/9999"),
            ("DELETE", "/api/zones/9999"),
            ("GET", "/api/zones/9999/records"),
            ("POST", "/api/zones/9999/records"),
            ("GET", f"/api/zones/{zid}/records/9999"),
            ("PATCH", f"/api/zones/{zid}/records/9999"),
            ("DELETE", f"/api/zones/{zid}/records/9999"),
            ("GET", "/api/rpz/rules/9999"),
            ("PATCH", "/api/rpz/rules/9999"),
            ("DELETE", "/api/rpz/rules/9999"),
            ("GET", "/api/forwarders/9999"),
            ("PATCH", "/api/forwarders/9999"),
            ("DELETE", "/api/forwarders/9999"),
        ]:
            body = {"type": "A", "value": "192.0.2.1"} if method == "POST" else ({} if method == "PATCH" else None)
            assert "not found" in error(await op.request(method, path, json=body), 404), (method, path)
        # A record of another zone is not found through this one.
        other = await make_zone(op, "d.example")
        await next_change(client)
        error(await op.get(f"/api/zones/{other['id']}/records/{www['id']}"), 404)
        error(await op.delete(f"/api/zones/{other['id']}/records/{www['id']}"), 404)
        await expect_marker(server, client)
    assert [a.action for a in await audit_rows(server)] == [
        "zone.create",
        "record.create",
        "record.create",
        "zone.create",
    ]


# --- RPZ --------------------------------------------------------------------------------------


async def test_rpz_rules_events_on_security_connections_and_bulk_import_in_one_batch(server: LiveServer) -> None:
    async with ws_open(server, "security", "op") as client, server.http("op") as op:
        rule = ok(
            await op.post(
                "/api/rpz/rules", json={"domain": "Malware.Example.", "action": "block", "category": "Malware"}
            ),
            201,
        )
        assert (rule["domain"], rule["action"], rule["category"]) == ("malware.example", "block", "malware")
        event = await next_change(client)
        assert event["type"] == "rpz_update" and event["actor"] == "op"
        assert {k: event["data"][k] for k in ("action", "domains", "rule_action", "category", "count")} == {
            "action": "added",
            "domains": ["malware.example"],
            "rule_action": "block",
            "category": "malware",
            "count": 1,
        }

        assert "already exists" in error(await op.post("/api/rpz/rules", json={"domain": "malware.example"}), 409)
        await expect_marker(server, client, "security_alert")
        for body in [
            {"domain": "x.example", "action": "redirect"},
            {"domain": "x.example", "action": "block", "redirect_to": "walled.example"},
            {"domain": "x.example", "action": "drop"},
            {"domain": "bad domain.example"},
            {"domain": "x.example", "category": "no spaces"},
        ]:
            error(await op.post("/api/rpz/rules", json=body), 422)

        redirect = ok(
            await op.post(
                "/api/rpz/rules",
                json={"domain": "*.ads.example", "action": "redirect", "redirect_to": "192.0.2.53", "category": "ads"},
            ),
            201,
        )
        await next_change(client)
        updated = ok(await op.patch(f"/api/rpz/rules/{redirect['id']}", json={"action": "block"}))
        assert updated["redirect_to"] is None and updated["action"] == "block"
        event = await next_change(client)
        assert event["data"]["action"] == "updated" and event["data"]["rule_action"] == "block"

        # Bulk import: 250 domains, 1 already listed, 2 repeats -> 249 new, in 3 events of one batch frame.
        domains = (
            ["malware.example"] + [f"d{i}.bulk.example" for i in range(249)] + ["D0.bulk.example.", "d1.bulk.example"]
        )
        result = ok(
            await op.post("/api/rpz/rules/import", json={"domains": domains, "action": "block", "category": "phishing"})
        )
        assert result == {"imported": 249, "skipped_existing": 1, "duplicates": 2, "received": 252}
        frame = await client.recv()
        assert frame["type"] == "batch", frame
        events = frame["events"]
        assert [e["type"] for e in events] == ["rpz_update"] * 3
        assert [e["data"]["count"] for e in events] == [100, 100, 49]
        assert all(
            e["data"]["action"] == "imported" and e["data"]["category"] == "phishing" and e["actor"] == "op"
            for e in events
        )
        assert sorted(d for e in events for d in e["data"]["domains"]) == sorted(domains[1:250])
        assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + 3))

        again = ok(await op.post("/api/rpz/rules/import", json={"domains": domains[:5], "category": "phishing"}))
        assert again["imported"] == 0 and again["skipped_existing"] == 5
        detail = error(await op.post("/api/rpz/rules/import", json={"domains": ["ok.example", "not ok"]}), 422)
        assert "not ok" in detail
        await expect_marker(server, client, "security_alert")

        assert ok(await op.get("/api/rpz/rules", params={"category": "phishing"}))["total"] == 249
        assert ok(await op.get("/api/rpz/rules", params={"action": "redirect"}))["total"] == 0
        page = ok(await op.get("/api/rpz/rules", params={"search": "d1", "limit": 5}))
        assert page["total"] == 111 and len(page["items"]) == 5  # d1, d10-d19, d100-d199

        ok(await op.delete(f"/api/rpz/rules/{rule['id']}"), 204)
        event = await next_change(client)
        assert event["data"]["action"] == "removed" and event["data"]["domains"] == ["malware.example"]
        removed = ok(await op.post("/api/rpz/rules/bulk-delete", json={"domains": ["d0.bulk.example", "nope.example"]}))
        assert removed == {"removed": 1, "not_found": 1}
        event = await next_change(client)
        assert event["data"]["action"] == "removed" and event["data"]["domains"] == ["d0.bulk.example"]
        error(await op.get(f"/api/rpz/rules/{rule['id']}"), 404)

    audit = await audit_rows(server, "rpz.")
    assert [a.action for a in audit] == [
        "rpz.create",
        "rpz.create",
        "rpz.update",
        "rpz.import",
        "rpz.import",
        "rpz.delete",
        "rpz.bulk_delete",
    ]
    assert audit[3].details["imported"] == 249 and audit[3].actor == "op"


# --- forwarders -------------------------------------------------------------------------------


async def test_forwarder_crud_emits_config_change(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client, server.http("admin") as admin:
        fwd = ok(
            await admin.post(
                "/api/forwarders",
                json={
                    "name": "corp-ad",
                    "type": "active_directory",
                    "domains": ["Corp.Local.", "_msdcs.corp.local"],
                    "servers": ["10.0.0.10", "10.0.0.11:5353", "[2001:db8::53]:53"],
                },
            ),
            201,
        )
        assert fwd["domains"] == ["corp.local", "_msdcs.corp.local"]
        assert (
            fwd["servers"] == ["10.0.0.10", "10.0.0.11:5353", "[2001:db8::53]:53"] and fwd["type"] == "active_directory"
        )
        event = await next_change(client)
        assert event["type"] == "config_change" and event["actor"] == "admin"
        assert {k: event["data"][k] for k in ("section", "change", "forwarder")} == {
            "section": "forwarders",
            "change": "created",
            "forwarder": "corp-ad",
        }

        for body, code, words in [
            ({"name": "corp-ad", "type": "public", "servers": ["1.1.1.1"]}, 409, "already exists"),
            (
                {"name": "other", "type": "intranet", "domains": ["corp.local"], "servers": ["10.0.0.1"]},
                409,
                "already forwarded",
            ),
            ({"name": "x", "type": "intranet", "domains": ["a.local"], "servers": ["10.0.0.300"]}, 422, "IP address"),
            ({"name": "x", "type": "intranet", "domains": ["a.local"], "servers": ["10.0.0.1:99999"]}, 422, "port"),
            ({"name": "x", "type": "intranet", "servers": ["10.0.0.1"]}, 422, "domain"),
            ({"name": "x", "type": "intranet", "domains": ["a.local"], "servers": []}, 422, "servers"),
            ({"name": "x", "type": "cloud", "domains": ["a.local"], "servers": ["10.0.0.1"]}, 422, "type"),
            (
                {"name": "x", "type": "intranet", "domains": ["a.local", "A.local."], "servers": ["10.0.0.1"]},
                422,
                "twice",
            ),
        ]:
            assert words in error(await admin.post("/api/forwarders", json=body), code), body
        await expect_marker(server, client)

        public = ok(
            await admin.post(
                "/api/forwarders", json={"name": "public", "type": "public", "servers": ["1.1.1.1", "9.9.9.9"]}
            ),
            201,
        )
        await next_change(client)
        listing = ok(await admin.get("/api/forwarders", params={"type": "public"}))
        assert [f["name"] for f in listing["items"]] == ["public"]
        assert ok(await admin.get("/api/forwarders", params={"search": "CORP"}))["total"] == 1

        changed = ok(
            await admin.patch(f"/api/forwarders/{fwd['id']}", json={"servers": ["10.0.0.12"], "enabled": False})
        )
        assert changed["servers"] == ["10.0.0.12"] and changed["enabled"] is False
        event = await next_change(client)
        assert event["data"]["change"] == "updated" and event["data"]["changes"] == ["enabled", "servers"]
        assert "already exists" in error(
            await admin.patch(f"/api/forwarders/{public['id']}", json={"name": "corp-ad"}), 409
        )
        # A forwarded domain cannot also be a zone here, either way round.
        assert "forwarded" in error(await admin.post("/api/zones", json={"name": "corp.local"}), 409)
        await make_zone(admin, "intra.example")
        await next_change(client)
        assert "zone" in error(
            await admin.patch(f"/api/forwarders/{public['id']}", json={"domains": ["intra.example"]}), 409
        )
        await expect_marker(server, client)

        ok(await admin.delete(f"/api/forwarders/{fwd['id']}"), 204)
        event = await next_change(client)
        assert event["data"] == {**event["data"], "section": "forwarders", "change": "deleted", "forwarder": "corp-ad"}
        error(await admin.get(f"/api/forwarders/{fwd['id']}"), 404)
    assert [a.action for a in await audit_rows(server, "forwarder.")] == [
        "forwarder.create",
        "forwarder.create",
        "forwarder.update",
        "forwarder.delete",
    ]


# --- the broker down, and PostgreSQL ------------------------------------------------------------


async def test_a_change_is_committed_and_answered_when_the_broker_is_down(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    server = LiveServer(tmp_path / "data", BROKER_URL=redis_server.url).start()
    try:
        redis_server.stop()
        async with server.http("op") as op:
            zone = await make_zone(op, "later.example")  # 201 although nothing could be published yet
        redis_server.start()
        async with ws_open(server, "dns_management", "viewer") as client:
            created = None
            while created is None:
                frame = await client.recv(timeout=15)  # the outbox relay runs every 2 s
                for event in frame["events"] if frame["type"] == "batch" else [frame]:
                    if event["type"] == "zone_created":
                        created = event
                    else:
                        assert event["type"] in BACKGROUND | {"reset"}, event
            assert created["data"]["zone"] == "later.example" and created["data"]["id"] == zone["id"]
    finally:
        server.stop()


async def test_core_crud_on_postgresql(tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(pg_database())
        server = LiveServer(tmp_path / "data", DATABASE_URL=url).start()
        stack.callback(server.stop)
        async with ws_open(server, "dns_management", "viewer") as client, server.http("op") as op:
            zone = await make_zone(op, "pg.example")
            assert (await next_change(client))["type"] == "zone_created"
            error(await op.post("/api/zones", json={"name": "pg.example"}), 409)
            rec = ok(
                await op.post(
                    f"/api/zones/{zone['id']}/records", json={"name": "www", "type": "A", "value": "192.0.2.1"}
                ),
                201,
            )
            event = await next_change(client)
            assert event["type"] == "record_created" and event["data"]["serial"] > zone["serial"]
            error(
                await op.post(
                    f"/api/zones/{zone['id']}/records", json={"name": "www", "type": "CNAME", "value": "x.example."}
                ),
                409,
            )
            await expect_marker(server, client)
            ok(await op.patch(f"/api/zones/{zone['id']}/records/{rec['id']}", json={"ttl": 120}))
            assert (await next_change(client))["data"]["ttl"] == 120
            assert ok(await op.get("/api/zones", params={"search": "PG"}))["items"][0]["record_count"] == 1
            result = ok(await op.post("/api/rpz/rules/import", json={"domains": [f"p{i}.example" for i in range(150)]}))
            assert result["imported"] == 150
            ok(
                await op.post(
                    "/api/forwarders",
                    json={"name": "pg", "type": "intranet", "domains": ["pg.local"], "servers": ["10.9.9.9"]},
                ),
                201,
            )
            assert (await next_change(client))["data"]["change"] == "created"
            ok(await op.delete(f"/api/zones/{zone['id']}"), 204)
            assert (await next_change(client))["type"] == "zone_deleted"
        await concurrent_changes(server)

        async def zones_left() -> int:
            async with server.app.state.db() as session:
                return len((await session.scalars(select(Zone))).all())

        assert await server.call(zones_left()) == 1  # race.example
        assert [a.action for a in await audit_rows(server)][:6] == [
            "zone.create",
            "record.create",
            "record.update",
            "rpz.import",
            "forwarder.create",
            "zone.delete",
        ]


async def concurrent_changes(server: LiveServer) -> None:
    """Changes racing on one zone: each bumps the serial once, and only one of a CNAME/A pair wins."""
    async with server.http("op") as op:
        zone = await make_zone(op, "race.example")
        url = f"/api/zones/{zone['id']}/records"
        posts = [op.post(url, json={"name": f"h{i}", "type": "A", "value": f"192.0.2.{i + 1}"}) for i in range(8)]
        assert [r.status_code for r in await asyncio.gather(*posts)] == [201] * 8
        assert ok(await op.get(f"/api/zones/{zone['id']}"))["serial"] == zone["serial"] + 8
        pair = await asyncio.gather(
            op.post(url, json={"name": "both", "type": "CNAME", "value": "h1"}),
            op.post(url, json={"name": "both", "type": "A", "value": "192.0.2.99"}),
        )
        assert sorted(r.status_code for r in pair) == [201, 409]
        assert ok(await op.get(url, params={"name": "both"}))["total"] == 1


async def test_concurrent_changes_to_one_zone(server: LiveServer) -> None:
    await concurrent_changes(server)


@pytest.mark.parametrize("name", ["2.0.192.in-addr.arpa"])
async def test_reverse_zone_ptr_records(server: LiveServer, name: str) -> None:
    async with server.http("op") as op:
        zone = await make_zone(op, name)
        rec = ok(
            await op.post(
                f"/api/zones/{zone['id']}/records", json={"name": "10", "type": "PTR", "value": "host.example.com."}
            ),
            201,
        )
        assert rec["name"] == "10" and rec["value"] == "host.example.com."
