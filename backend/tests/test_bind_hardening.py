"""BIND hardening: nothing an operator sends can become configuration, nothing stored can block deployment.

- the renderer refuses every injected token even when validation is bypassed (rows put straight
  into the database);
- the API refuses, with a 422 that says why and without storing or announcing anything, what BIND
  would be given but refuse (configuration injection, values that do not load, RPZ rules that are
  not domains), and accepts what BIND accepts;
- a zone, rule or forwarder that cannot deploy never stops the others (a real named answers);
- BIND_RELOAD_DEBOUNCE changed through PUT /api/settings is in effect at once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from conftest import LiveServer, require_binary, ws_open
from named_server import NamedServer
from sqlalchemy import select
from test_bind import _add, _answers, _eventually, _next_of, _query, _reload
from test_dns_api import error, expect_marker, make_zone, next_change, ok

from hybrid_dns.dns import render, rules
from hybrid_dns.dns import validation as v
from hybrid_dns.dns.render import ForwarderSpec, RecordSpec, RenderError, RuleSpec, ZoneSpec
from hybrid_dns.models import Forwarder, Record, RpzRule, Zone

# Injection payloads: an IPv6 scope id holding configuration (short enough for the API's
# 64-character limit on a server, so that the address rules are what refuses them).
ROOT_FORWARD = 'fe80::1%;};zone "."{type forward;forwarders{6.6.6.6;};};'
STATS_CHANNEL = "fe80::1%;};statistics-channels{inet 0.0.0.0 port 8053;};"
SCOPE_ID_PAYLOAD = 'fe80::1%eth0; }; zone "." { type forward; forwarders { 6.6.6.6; }; };'
NEWLINE_SCOPE = "fe80::1%a\nevil IN A 6.6.6.6"


def _zone(*records: RecordSpec, **fields: Any) -> ZoneSpec:
    return ZoneSpec(name=fields.pop("name", "example.com"), primary_ns="ns.example.net.", records=records, **fields)


def _forwarder(*servers: str, name: str = "ad", domain: str = "c.local") -> Callable[[], object]:
    return lambda: render.render_forwarders_conf([ForwarderSpec(name, (domain,), servers)])


def _conf(zone: ZoneSpec) -> Callable[[], object]:
    return lambda: render.render_zones_conf([zone], Path("/b"), "rpz.local")


def _rpz(domain: str, action: str = "block", redirect_to: str | None = None) -> Callable[[], object]:
    return lambda: render.render_rpz_zone("rpz.local", [RuleSpec(domain, action, redirect_to)], 1)


def _records(*records: RecordSpec) -> Callable[[], object]:
    return lambda: render.render_zone_file(_zone(*records))


def _soa(**fields: str) -> Callable[[], object]:
    return lambda: render.render_zone_file(ZoneSpec("example.com", **fields))


# --- the renderer, on its own --------------------------------------------------------------------

INJECTED: dict[str, Callable[[], object]] = {
    "forwarder server, scope id": _forwarder(SCOPE_ID_PAYLOAD),
    "forwarder server, [v6]:port with scope id": _forwarder("[fe80::1%0]:53"),
    "forwarder server, port as words": _forwarder("10.0.0.1 port 53"),
    "forwarder name with a line break": _forwarder("10.0.0.1", name='x\nzone "." { type forward; };'),
    "forwarder domain with quotes": _forwarder("10.0.0.1", domain='c.local" { }; zone "x'),
    "forward zone server, scope id": _conf(ZoneSpec("c.local", zone_type="forward", forwarders=(STATS_CHANNEL,))),
    "zone name with quotes": _conf(_zone(name='x.example" { }; zone "y')),
    "redirect_to, newline in the scope id": _rpz("x.example", "redirect", NEWLINE_SCOPE),
    "redirect_to, an RPZ action": _rpz("x.example", "redirect", "rpz-drop."),
    "RPZ rule *": _rpz("*"),
    "RPZ rule, client-ip trigger": _rpz("32.1.0.0.10.rpz-client-ip"),
    "RPZ rule, a top-level domain": _rpz("com"),
    "RPZ redirect to an address, owner not a host name": _rpz("_x.example.com", "redirect", "192.0.2.1"),
    "MX value with a second line": _records(RecordSpec("@", "MX", "10 mx.example.com.\n$INCLUDE /etc/passwd")),
    "TXT value not quoted": _records(RecordSpec("@", "TXT", 'x" ; evil')),
    "TXT value, line break inside the quotes": _records(RecordSpec("@", "TXT", '"a\nb"')),
    "TXT string over 255 characters": _records(RecordSpec("@", "TXT", '"' + "x" * 256 + '"')),
    "label with a trailing newline": _records(RecordSpec("www\n", "A", "192.0.2.1")),
    "CNAME target with an escape": _records(RecordSpec("x", "CNAME", "a\\$b.example.")),
    "AAAA with a scope id": _records(RecordSpec("www", "AAAA", "fe80::1%eth0")),
    "wildcard NS owner": _records(RecordSpec("*", "NS", "ns.example.net.")),
    "A owner not a host name": _records(RecordSpec("a_b", "A", "192.0.2.1")),
    "TTL beyond bounds": _records(RecordSpec("www", "A", "192.0.2.1", ttl=2**31)),
    "primary_ns with a line break": _soa(primary_ns="ns.example.net.\n$INCLUDE /x"),
    "primary_ns with $": _soa(primary_ns="ns$1.example.net."),
    "primary_ns not a host name": _soa(primary_ns="ns_1.example.net."),
    "admin_email with a space": _soa(admin_email="a b@example.com"),
    "admin_email with ;": _soa(admin_email="a;b@example.com"),
}


@pytest.mark.parametrize("render_it", list(INJECTED.values()), ids=list(INJECTED))
def test_the_renderer_refuses_every_injected_token_when_validation_is_bypassed(render_it: Callable[[], object]) -> None:
    with pytest.raises(RenderError):
        render_it()


def test_many_item_files_leave_a_bad_item_out_and_name_it() -> None:
    problems: dict[str, str] = {}
    text = render.render_forwarders_conf(
        [ForwarderSpec("bad", ("bad.corp",), (ROOT_FORWARD,)), ForwarderSpec("good", ("good.corp",), ("10.0.0.1",))],
        problems=problems,
    )
    assert list(problems) == ["bad"] and "scope id" in problems["bad"]
    assert 'zone "good.corp"' in text and "6.6.6.6" not in text and "bad.corp" not in text
    problems = {}
    rpz = render.render_rpz_zone("rpz.local", [RuleSpec("*", "block"), RuleSpec("evil.test", "block")], 1, problems)
    assert list(problems) == ["*"] and "evil.test\tIN\tCNAME\t." in rpz and "\n*\t" not in rpz


VALID_RECORDS = [
    ("www", "A", "192.0.2.10"),
    ("www", "AAAA", "2001:db8::10"),
    ("*", "A", "192.0.2.11"),
    ("gc._msdcs", "A", "192.0.2.12"),  # Active Directory's exception to the host name rule
    ("@", "MX", "10 mail"),
    ("null", "MX", "0 ."),
    ("mail", "A", "192.0.2.25"),
    ("alias", "CNAME", "www"),
    ("@", "TXT", '"v=spf1 mx -all; ok" "café \\"quoted\\" (x) $y"'),
    ("_dmarc", "TXT", '"v=DMARC1; p=none"'),
    ("_sip._tcp", "SRV", "10 5 5060 sip.example.net."),
    ("_none._tcp", "SRV", "0 0 0 ."),
    ("sub", "NS", "ns1.sub"),
    ("ns1.sub", "A", "192.0.2.53"),
    ("@", "NS", "ns.example.net."),
    ("ptr", "PTR", "host_x.example.net."),
]


def test_what_validation_accepts_renders_and_loads(tmp_path: Path) -> None:
    """One rule set: every value the API stores renders, and named-checkzone -k fail (named's own
    check-names) loads the result, including the mailbox forms BIND accepts."""
    checkzone = require_binary("named-checkzone")
    records = []
    for name, rtype, value in VALID_RECORDS:
        owner, canonical = v.record(name, rtype, value, "example.com")
        records.append(RecordSpec(owner, rtype, canonical))
    for email in ("admin+dns@example.com", "first.last@example.com", "o'neil@example.net", "hostmaster"):
        zone = ZoneSpec(
            name="example.com",
            primary_ns=v.soa_name("ns.example.net.", "example.com", "primary_ns"),
            admin_email=v.soa_name(email, "example.com", "admin_email", email=True),
            records=tuple(records),
        )
        path = tmp_path / "example.com.zone"
        path.write_text(render.render_zone_file(zone))
        checked = subprocess.run([checkzone, "-k", "fail", "example.com", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, (email, checked.stdout, path.read_text())
    owner, canonical = v.record("10", "PTR", "host.example.com.", "2.0.192.in-addr.arpa")
    reverse = ZoneSpec(
        "2.0.192.in-addr.arpa", primary_ns="ns.example.net.", records=(RecordSpec(owner, "PTR", canonical),)
    )
    path = tmp_path / "reverse.zone"
    path.write_text(render.render_zone_file(reverse))
    checked = subprocess.run([checkzone, "-k", "fail", reverse.name, str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_rules_parse_servers_strictly() -> None:
    assert rules.server_text(*rules.server("[2001:db8::53]:53")) == "[2001:db8::53]:53"
    assert rules.server_text(*rules.server("10.0.0.1:5353")) == "10.0.0.1:5353"
    assert rules.server_text(*rules.server("2001:db8::53")) == "2001:db8::53"
    arabic_ten, fullwidth_53 = "\u0661\u0660", "\uff15\uff13"  # digits that are not ASCII
    bad_servers = [
        ROOT_FORWARD,
        "fe80::1%eth0",
        "[fe80::1%eth0]:53",
        "10.0.0.1 ",
        " 10.0.0.1",
        "10.0.0.1:0",
        "10.0.0.1:65536",
        "[10.0.0.1]:53",
        "2001:db8::53:53:53:53:53:53",
        f"{arabic_ten}.0.0.1",
        f"10.0.0.1:{fullwidth_53}",
    ]
    for bad in bad_servers:
        with pytest.raises(rules.RuleError):
            rules.server(bad)


# --- the API ----------------------------------------------------------------------------------------


async def _flush(server: LiveServer) -> dict[str, Any]:
    result: dict[str, Any] = await server.call(server.app.state.bind.flush())
    return result


async def _rows(server: LiveServer, model: Any) -> list[Any]:
    async def run() -> list[Any]:
        async with server.app.state.db() as session:
            return list((await session.scalars(select(model))).all())

    return await server.call(run())


def _bind_files(server: LiveServer) -> str:
    folder = server.settings.bind_config_dir
    return "\n".join(p.read_text() for p in sorted(folder.rglob("*")) if p.is_file())


async def test_configuration_injection_is_refused_and_nothing_is_stored(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(BIND_RELOAD_DEBOUNCE=0)
    await _flush(server)
    async with (
        ws_open(server, "dns_management", "viewer") as dns_ws,
        ws_open(server, "security", "op") as security,
        server.http("op") as op,
    ):
        for servers in ([ROOT_FORWARD], [STATS_CHANNEL], ["[fe80::1%eth0]:53"], ["10.0.0.1", "fe80::1%eth0"]):
            body = {"name": "evil", "type": "intranet", "domains": ["corp.local"], "servers": servers}
            assert "scope id" in error(await op.post("/api/forwarders", json=body), 422), servers
        for servers in (["10.0.0.1 port 53"], ["10.0.0.1;"], ["10.0.0.1 :53"]):
            body = {"name": "evil", "type": "intranet", "domains": ["corp.local"], "servers": servers}
            assert "not an IP address" in error(await op.post("/api/forwarders", json=body), 422), servers
        good = ok(
            await op.post(
                "/api/forwarders",
                json={"name": "good", "type": "intranet", "domains": ["corp.local"], "servers": ["10.0.0.1"]},
            ),
            201,
        )
        await next_change(dns_ws)
        assert "scope id" in error(
            await op.patch(f"/api/forwarders/{good['id']}", json={"servers": [ROOT_FORWARD]}), 422
        )
        forward = {"name": "fwd.example", "zone_type": "forward", "forwarders": [STATS_CHANNEL]}
        assert "scope id" in error(await op.post("/api/zones", json=forward), 422)
        await expect_marker(server, dns_ws)

        for target in (NEWLINE_SCOPE, "fe80::1%eth0"):
            rule = {"domain": "x.example", "action": "redirect", "redirect_to": target}
            error(await op.post("/api/rpz/rules", json=rule), 422)
        imported = {"domains": ["y.example"], "action": "redirect", "redirect_to": NEWLINE_SCOPE}
        error(await op.post("/api/rpz/rules/import", json=imported), 422)
        await expect_marker(server, security, "security_alert")

    assert [f.servers for f in await _rows(server, Forwarder)] == [["10.0.0.1"]]
    assert await _rows(server, Zone) == [] and await _rows(server, RpzRule) == []
    result = await _flush(server)
    assert result["success"] is True, result
    files = _bind_files(server)
    assert 'zone "corp.local"' in files
    assert "6.6.6.6" not in files and "%" not in files and "statistics-channels" not in files


async def test_values_that_would_not_deploy_are_refused_saying_why(make_server: Callable[..., LiveServer]) -> None:
    require_binary("named-checkzone")
    server = make_server(BIND_RELOAD_DEBOUNCE=0)
    async with ws_open(server, "dns_management", "viewer") as client, server.http("op") as op:
        zone = await make_zone(op, "ok.example", primary_ns="ns.example.net.")
        zid = zone["id"]
        await next_change(client)
        records = f"/api/zones/{zid}/records"
        for body, words in [
            ({"name": "www\\010", "type": "A", "value": "192.0.2.1"}, "label"),  # a label ending in a newline
            ({"name": "a_b", "type": "A", "value": "192.0.2.1"}, "host name"),
            ({"name": "*", "type": "NS", "value": "ns.example.net."}, "wildcard"),
            ({"name": "*.sub", "type": "NS", "value": "ns.example.net."}, "wildcard"),
            ({"name": "@", "type": "NS", "value": "ns1"}, "ns1.ok.example is inside the zone and has no address"),
            ({"name": "sub", "type": "NS", "value": "ns1.ok.example."}, "has no address"),
            ({"name": "@", "type": "MX", "value": "10 mail_1"}, "host name"),
            ({"name": "x", "type": "CNAME", "value": "a\\$b.example."}, "label"),
            ({"name": "_sip._tcp", "type": "SRV", "value": "1 1 5060 sip_1.example.net."}, "host name"),
            ({"name": "www", "type": "AAAA", "value": "fe80::1%eth0"}, "AAAA"),
        ]:
            assert words in error(await op.post(records, json=body), 422), body
        for body, words in [
            ({"primary_ns": "ns\\0361.example.net."}, "label"),
            ({"primary_ns": "ns_1.example.net."}, "host name"),
            ({"primary_ns": "ns1"}, "has no address"),
            ({"admin_email": "a b@example.com"}, "before @"),
            ({"admin_email": "hostmaster@mail_1.example.com"}, "host name"),
        ]:
            assert words in error(await op.patch(f"/api/zones/{zid}", json=body), 422), body
        detail = error(await op.post("/api/zones", json={"name": "new.example", "primary_ns": "ns1"}), 422)
        assert "inside the new zone" in detail and "add an A or AAAA record for ns1" in detail
        await expect_marker(server, client)
        current = ok(await op.get(f"/api/zones/{zid}"))
        assert current["serial"] == zone["serial"] and current["record_count"] == 0

        # What BIND accepts is accepted: a '+' in the mailbox; an in-zone name server once it has an address.
        email = ok(await op.patch(f"/api/zones/{zid}", json={"admin_email": "admin+dns@ok.example"}))["admin_email"]
        assert email == "admin+dns@ok.example"
        ns1 = ok(await op.post(records, json={"name": "ns1", "type": "A", "value": "192.0.2.53"}), 201)
        assert ok(await op.patch(f"/api/zones/{zid}", json={"primary_ns": "ns1.ok.example."}))["primary_ns"] == "ns1"
        assert "has no address" in error(await op.delete(f"{records}/{ns1['id']}"), 422)
        # A zone whose name is not a host name gets a mailbox BIND accepts.
        msdcs = await make_zone(op, "_msdcs.corp.example")
        assert msdcs["admin_email"] == "hostmaster.corp.example."
    result = await _flush(server)
    assert result["success"] is True and result["failed_zones"] == [], result
    text = (server.settings.bind_config_dir / "zones" / "ok.example.zone").read_text()
    assert "SOA\tns1 admin+dns.ok.example. (" in text and "ns1\t\tIN\tA\t192.0.2.53" in text


async def test_rpz_rules_that_are_not_one_domain_are_refused(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(BIND_RELOAD_DEBOUNCE=0)
    async with ws_open(server, "security", "op") as client, server.http("op") as op:
        for domain, words in [
            ("*", "every name"),
            ("*.", "every name"),
            ("com", "top-level"),
            ("*.com", "top-level"),
            ("32.1.0.0.10.rpz-client-ip", "rpz-"),
            ("24.0.2.0.192.rpz-ip.example.com", "rpz-"),
            ("ns.example.com.rpz-nsdname", "rpz-"),
            ("32.1.2.0.192.rpz-nsip.example", "rpz-"),
            ("rpz-passthru.example.com", "rpz-"),
            ("a.*.example.com", "wildcard"),
        ]:
            assert words in error(await op.post("/api/rpz/rules", json={"domain": domain}), 422), domain
        detail = error(await op.post("/api/rpz/rules/import", json={"domains": ["fine.example", "rpz-ip"]}), 422)
        assert "rpz-ip" in detail and "1 invalid" in detail
        for body, words in [
            ({"domain": "x.example", "action": "redirect", "redirect_to": "rpz-drop."}, "rpz-"),
            ({"domain": "_x.example", "action": "redirect", "redirect_to": "192.0.2.1"}, "host name"),
        ]:
            assert words in error(await op.post("/api/rpz/rules", json=body), 422), body
        await expect_marker(server, client, "security_alert")

        ok(await op.post("/api/rpz/rules", json={"domain": "*.ads.example"}), 201)
        rule = ok(await op.post("/api/rpz/rules", json={"domain": "Bad.Example."}), 201)
        assert rule["domain"] == "bad.example"
        await next_change(client)
        await next_change(client)
        body = {"action": "redirect", "redirect_to": "fe80::1%eth0"}
        assert "scope id" in error(await op.patch(f"/api/rpz/rules/{rule['id']}", json=body), 422)
        await expect_marker(server, client, "security_alert")
    assert sorted(r.domain for r in await _rows(server, RpzRule)) == ["*.ads.example", "bad.example"]
    result = await _flush(server)
    assert result["success"] is True, result


async def test_a_reload_debounce_changed_in_settings_is_in_effect_at_once(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(BIND_RELOAD_DEBOUNCE=0.05)
    await _flush(server)
    async with server.http("admin") as admin, ws_open(server, "dns_management", "viewer") as client:
        ok(await admin.put("/api/settings", json={"BIND_RELOAD_DEBOUNCE": 1.5}))
        start = time.monotonic()
        await make_zone(admin, "slow.example")
        while (event := await client.next_event(timeout=20))["type"] != "bind_reload":
            pass
        elapsed = time.monotonic() - start
    assert event["data"]["zones"] == ["slow.example"] and event["data"]["success"] is True
    assert elapsed >= 1.5, f"the reload came {elapsed:.2f}s after the change: the new debounce was not applied"


# --- per-zone deployment, with a real named ----------------------------------------------------------


@pytest.fixture
def named_app(make_server: Callable[..., LiveServer], tmp_path: Path) -> Iterator[tuple[NamedServer, LiveServer]]:
    config_dir = tmp_path / "bind"
    named = NamedServer(tmp_path / "named", config_dir).prepare().start()
    try:
        server = make_server(
            BIND_CONFIG_DIR=str(config_dir), BIND_RELOAD_COMMAND=named.reload_command, BIND_RELOAD_DEBOUNCE=0.05
        )
        yield named, server
    finally:
        named.stop()


async def test_what_cannot_deploy_never_stops_the_rest(named_app: tuple[NamedServer, LiveServer]) -> None:
    """Rows put straight into the database (a restore, a migration, a bug) that cannot deploy: each is
    left out or kept at its last good version, named, and everything else deploys and answers."""
    named, server = named_app
    startup = await _flush(server)
    assert startup["success"] is True, (startup, named.log_tail())
    conf = server.settings.bind_config_dir / "zones.conf"
    async with ws_open(server, "dns_management", "viewer") as ws, ws_open(server, "health", "viewer") as health:
        good, broken, garbage = await _add(
            server,
            Zone(name="good.test", zone_type="master", primary_ns="ns.example.net.", serial=1),
            Zone(name="broken.test", zone_type="master", primary_ns="ns.example.net.", serial=1),
            Zone(name="garbage.test", zone_type="master", primary_ns="ns.example.net.", serial=1),
        )
        await _add(server, Zone(name="fwdbad.test", zone_type="forward", forwarders=[STATS_CHANNEL]))
        await _add(
            server,
            Record(zone_id=good.id, name="www", type="A", value="192.0.2.10"),
            Record(zone_id=broken.id, name="@", type="NS", value="ns1.broken.test."),  # no address: named refuses
            Record(zone_id=garbage.id, name="www", type="A", value="192.0.2.1\n$INCLUDE /etc/passwd"),
            RpzRule(domain="*", action="block", category="custom"),
            RpzRule(domain="evil.test", action="block", category="custom"),
            Forwarder(name="bad", forwarder_type="intranet", domains=["bad.corp"], servers=[ROOT_FORWARD]),
            Forwarder(name="good", forwarder_type="intranet", domains=["good.corp"], servers=["127.0.0.1:1"]),
        )
        await _reload(server, [], "rows added")
        event = await _next_of(ws, "bind_reload")
        alert = await _next_of(health, "health_alert")
        data = event["data"]
        assert data["success"] is False and data["applied"] is True, (data, named.log_tail())
        assert data["failed_zones"] == ["broken.test", "fwdbad.test", "garbage.test"]
        assert data["failed_rules"] == ["*"] and data["failed_forwarders"] == ["bad"]
        assert "named-checkzone broken.test" in data["error"] and "no address records" in data["error"]
        assert "garbage.test is left out (it never had a good version): cannot be rendered" in data["error"]
        assert alert["data"]["failed_zones"] == ["broken.test", "fwdbad.test", "garbage.test"]
        assert alert["data"]["failed_rules"] == ["*"] and alert["data"]["failed_forwarders"] == ["bad"]

        async def good_answers() -> bool:
            return await _answers(named, "www.good.test.") == ["192.0.2.10"]

        await _eventually(good_answers)
        assert (await _query(named, "evil.test.")).rcode() == dns.rcode.NXDOMAIN
        files = _bind_files(server)
        assert "broken.test" not in conf.read_text() and "fwdbad.test" not in files and "garbage.test" not in files
        assert 'zone "good.corp"' in files and "6.6.6.6" not in files and "%" not in files
        assert "statistics-channels" not in files
        assert "\n*\tIN" not in files  # the '*' rule is not in the RPZ zone

        # A zone that had a good version and breaks keeps it, while a new zone in the same cycle deploys.
        (second,) = await _add(server, Zone(name="second.test", zone_type="master", primary_ns="ns.example.net."))
        await _add(
            server,
            Record(zone_id=second.id, name="www", type="A", value="192.0.2.20"),
            Record(zone_id=good.id, name="www", type="CNAME", value="elsewhere.test."),
            Record(zone_id=good.id, name="new", type="A", value="192.0.2.11"),
        )
        await _reload(server, ["good.test", "second.test"], "records added")
        event = await _next_of(ws, "bind_reload")
        data = event["data"]
        assert data["applied"] is True, data
        assert data["failed_zones"] == ["broken.test", "fwdbad.test", "garbage.test", "good.test"]
        assert "zone good.test keeps its last good version: named-checkzone good.test" in data["error"]

        async def second_answers() -> bool:
            return await _answers(named, "www.second.test.") == ["192.0.2.20"]

        await _eventually(second_answers)
        assert await good_answers()
        assert (await _query(named, "new.good.test.")).rcode() == dns.rcode.NXDOMAIN
        assert 'zone "good.test"' in conf.read_text()
