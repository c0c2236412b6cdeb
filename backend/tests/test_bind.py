"""BIND deployment: rendering (pure), the RPZ log follower, and a real named driven by the app."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from conftest import LiveServer, require_binary, wait_until, ws_open
from named_server import NamedServer

from hybrid_dns.dns import render
from hybrid_dns.dns.render import ForwarderSpec, RecordSpec, RenderError, RuleSpec, ZoneSpec
from hybrid_dns.dns.rpzlog import FileFollower, RpzHit, ThreatReporter, parse_rpz_line
from hybrid_dns.models import Forwarder, Record, RpzRule, Zone

# --- rendering --------------------------------------------------------------------------------


def _checkzone(zone: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str] | None:
    binary = shutil.which("named-checkzone")
    if binary is None:
        return None
    path = tmp_path / f"{zone}.zone"
    path.write_text(text)
    # -k fail: as named loads a primary zone (named-checkzone alone only warns about host names).
    return subprocess.run([binary, "-k", "fail", zone, str(path)], capture_output=True, text=True, check=False)


def test_zone_file_has_soa_serial_and_relative_names(tmp_path: Path) -> None:
    zone = ZoneSpec(
        name="Example.COM.",
        serial=2024010107,
        admin_email="admin@example.com",
        default_ttl=600,
        records=(
            RecordSpec("www", "A", "192.0.2.10"),
            RecordSpec("mail.example.com.", "a", "192.0.2.20", ttl=120),
            RecordSpec("example.com", "MX", "10 mail"),
            RecordSpec("@", "TXT", '"v=spf1 -all; ok"'),
            RecordSpec("ftp.example.com", "CNAME", "www"),
        ),
    )
    text = render.render_zone_file(zone)
    lines = text.splitlines()
    assert "$ORIGIN example.com." in lines and "$TTL 600" in lines
    assert "@\tIN\tSOA\tlocalhost. admin.example.com. ( 2024010107 3600 900 1209600 300 )" in lines
    assert "@\tIN\tNS\tlocalhost." in lines  # an apex NS when the zone has none
    assert "www\t\tIN\tA\t192.0.2.10" in lines
    assert "mail\t120\tIN\tA\t192.0.2.20" in lines
    assert "@\t\tIN\tMX\t10 mail" in lines
    assert "ftp\t\tIN\tCNAME\twww" in lines
    assert render.zone_file_name("Example.COM.") == "example.com.zone"
    checked = _checkzone("example.com", text, tmp_path)
    assert checked is None or checked.returncode == 0, checked.stdout


@pytest.mark.parametrize(
    "record",
    [
        RecordSpec("www", "A", "192.0.2.1\n$INCLUDE /etc/passwd"),
        RecordSpec("$INCLUDE", "A", "/etc/passwd"),
        RecordSpec("a b", "A", "192.0.2.1"),
        RecordSpec("www", "A A", "192.0.2.1"),
        RecordSpec("www", "SOA", "x y 1 2 3 4 5"),
        RecordSpec("www", "A", "   "),
        RecordSpec("other.org.", "A", "192.0.2.30"),  # outside the zone
    ],
)
def test_zone_file_refuses_data_that_would_inject_or_break(record: RecordSpec) -> None:
    with pytest.raises(RenderError):
        render.render_zone_file(ZoneSpec(name="example.com", records=(record,)))


def test_zones_conf_forwarders_and_rpz_snippets_pass_named_checkconf(tmp_path: Path) -> None:
    zones = [
        ZoneSpec(name="example.com", primary_ns="ns1.example.net."),  # an in-zone NS would need an address
        ZoneSpec(name="corp.local", zone_type="forward", forwarders=("10.0.0.1", "10.0.0.2:5353")),
    ]
    conf = render.render_zones_conf(zones, tmp_path, "rpz.local")
    assert f'zone "example.com" {{\n\ttype primary;\n\tfile "{tmp_path}/zones/example.com.zone";\n}};' in conf
    assert (
        'zone "corp.local" {\n\ttype forward;\n\tforward only;\n\tforwarders { 10.0.0.1; 10.0.0.2 port 5353; };' in conf
    )
    assert f'zone "rpz.local" {{\n\ttype primary;\n\tfile "{tmp_path}/rpz/rpz.local.zone";' in conf

    forwarders = [
        ForwarderSpec("ad", ("ad.corp", "example.com", "shared.net"), ("10.1.0.1",)),
        ForwarderSpec("intranet", ("intra.corp", "shared.net"), ("10.2.0.1", "[2001:db8::1]:53")),
        ForwarderSpec("off", ("off.corp",), ("10.3.0.1",), enabled=False),
    ]
    fconf = render.render_forwarders_conf(forwarders, taken=["example.com"])
    assert 'zone "ad.corp"' in fconf and 'zone "intra.corp"' in fconf
    assert 'zone "example.com"' not in fconf  # the app's own zone wins
    assert 'zone "off.corp"' not in fconf  # disabled
    assert "forwarders { 10.1.0.1; 10.2.0.1; 2001:db8::1 port 53; };" in fconf  # shared.net: both, merged
    with pytest.raises(RenderError):
        render.render_forwarders_conf([ForwarderSpec("x", ("a.corp",), ("not-an-ip",))])

    rendered = render.render_all(
        zones,
        [],
        forwarders,
        config_dir=tmp_path,
        rpz_zone="rpz.local",
        rpz_serial_value=1,
        query_log=tmp_path / "rpz.log",
    )
    for rel, text in rendered.files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert (
        'response-policy { zone "rpz.local" min-update-interval 0; } qname-wait-recurse no;'
        in rendered.files["response-policy.conf"]
    )
    assert f'file "{tmp_path}/rpz.log"' in rendered.files["logging.conf"]
    checkconf = shutil.which("named-checkconf")
    if checkconf is not None:
        result = subprocess.run([checkconf, "-z", str(tmp_path / "check.conf")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_rpz_zone_rules(tmp_path: Path) -> None:
    rules = [
        RuleSpec("Bad.Example", "block", category="malware"),
        RuleSpec("ads.example", "redirect", redirect_to="sinkhole.example.net"),
        RuleSpec("ip.example", "redirect", redirect_to="192.0.2.99"),
        RuleSpec("ok.bad.example", "passthru"),
    ]
    text = render.render_rpz_zone("rpz.local", rules, serial=42)
    lines = text.splitlines()
    assert "@\tIN\tSOA\tlocalhost. hostmaster.localhost. ( 42 3600 900 1209600 60 )" in lines
    assert "bad.example\tIN\tCNAME\t." in lines and "*.bad.example\tIN\tCNAME\t." in lines
    assert "ads.example\tIN\tCNAME\tsinkhole.example.net." in lines
    assert "ip.example\tIN\tA\t192.0.2.99" in lines
    assert "ok.bad.example\tIN\tCNAME\trpz-passthru." in lines
    assert render.rpz_serial(text) == 42
    with pytest.raises(RenderError):
        render.render_rpz_zone("rpz.local", [RuleSpec("x.example", "redirect")], 1)
    checked = _checkzone("rpz.local", text, tmp_path)
    assert checked is None or checked.returncode == 0, checked.stdout


# --- the RPZ log ------------------------------------------------------------------------------

LINE = (
    "26-Nov-2026 07:12:26.849 client @0x7f627a767098 127.0.0.1#56705 (x.bad.test): "
    "rpz QNAME NXDOMAIN rewrite x.bad.test/A/IN via x.bad.test.rpz.local"
)


def test_parse_rpz_lines() -> None:
    hit = parse_rpz_line(LINE, "rpz.local")
    assert hit == RpzHit("127.0.0.1", "x.bad.test", "A", "QNAME", "NXDOMAIN", "x.bad.test")
    assert hit.action == "block"
    v6 = parse_rpz_line(
        "client @0x1 2001:db8::5#1234 (ads.example): view internal: rpz QNAME Local-Data rewrite "
        "ads.example/AAAA/IN via ads.example.rpz.local",
        "rpz.local",
    )
    assert v6 is not None and v6.client == "2001:db8::5" and v6.action == "redirect" and v6.qtype == "AAAA"
    assert parse_rpz_line("26-Nov-2026 07:12:24.849 rpz: rpz.local: reload done: success") is None


def test_file_follower_starts_at_end_and_follows_truncation_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "rpz.log"
    path.write_text("old line\n")
    follower = FileFollower(path)
    assert follower.poll() == []  # what was there before is old news
    with path.open("a") as f:
        f.write("one\ntwo (partial")
    assert follower.poll() == ["one"]
    with path.open("a") as f:
        f.write(")\n")
    assert follower.poll() == ["two (partial)"]
    path.write_text("")  # truncated in place
    assert follower.poll() == []
    with path.open("a") as f:
        f.write("after truncation\n")
    assert follower.poll() == ["after truncation"]
    with path.open("a") as f:
        f.write("last of old file\n")
    os.rename(path, tmp_path / "rpz.log.0")  # named's rotation
    path.write_text("first of new file\n")
    assert follower.poll() == ["last of old file", "first of new file"]
    path.unlink()
    assert follower.poll() == []
    path.write_text("recreated\n")
    assert follower.poll() == ["recreated"]
    follower.close()


async def test_threat_reporter_coalesces_repeats_per_client_and_name() -> None:
    sent: list[dict[str, Any]] = []

    async def emit(data: dict[str, Any]) -> None:
        sent.append(data)

    rules = {"bad.test": RuleSpec("bad.test", "block", category="malware")}

    def lookup(name: str) -> RuleSpec | None:
        labels = name.split(".")
        return next((rules[".".join(labels[i:])] for i in range(len(labels)) if ".".join(labels[i:]) in rules), None)

    reporter = ThreatReporter(emit, lookup, window=0.4)
    hit = parse_rpz_line(LINE, "rpz.local")
    assert hit is not None
    for _ in range(3):
        await reporter.handle(hit)
    other = RpzHit("10.0.0.9", "x.bad.test", "A", "QNAME", "NXDOMAIN", "x.bad.test")
    await reporter.handle(other)
    await reporter.handle(RpzHit("10.0.0.9", "ok.test", "A", "QNAME", "PASSTHRU", "ok.test"))  # not a threat
    assert [(e["client"], e["count"]) for e in sent] == [("127.0.0.1", 1), ("10.0.0.9", 1)]
    first = sent[0]
    assert first["name"] == first["query"] == "x.bad.test"
    assert (first["rule"], first["category"], first["action"]) == ("bad.test", "malware", "block")
    await wait_until(lambda: len(sent) == 3, timeout=3, what="the coalesced event")
    assert sent[2]["client"] == "127.0.0.1" and sent[2]["count"] == 2 and sent[2]["coalesced"] is True
    await reporter.close()


# --- the app, without named -------------------------------------------------------------------


async def _add(server: LiveServer, *rows: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with server.app.state.db() as session:
            session.add_all(rows)
            await session.commit()
        return list(rows)

    return await server.call(go())


async def _zone(server: LiveServer, name: str, **fields: Any) -> Zone:
    # named refuses a zone whose in-zone NS has no address: these zones name an outside one.
    fields.setdefault("primary_ns", "ns.example.net.")
    (zone,) = await _add(server, Zone(name=name, zone_type=fields.pop("zone_type", "master"), **fields))
    return zone  # type: ignore[no-any-return]


def _reload(server: LiveServer, zones: list[str], reason: str) -> Any:
    async def go() -> None:
        server.app.state.bind.request_reload(zones, reason)

    return server.call(go())


async def _flush(server: LiveServer) -> dict[str, Any]:
    return await server.call(server.app.state.bind.flush())  # type: ignore[no-any-return]


async def _next_of(ws: Any, event_type: str, timeout: float = 20) -> dict[str, Any]:
    events = await ws.events_until(lambda e: e["type"] == event_type, timeout=timeout)
    return events[-1]  # type: ignore[no-any-return]


async def test_render_only_without_a_reload_command(make_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    server = make_server(BIND_RELOAD_DEBOUNCE=0.05)
    await _flush(server)  # the start-up render: silent when it works
    folder = server.settings.bind_config_dir
    assert (folder / "zones.conf").exists() and (folder / "rpz" / "rpz.local.zone").exists()
    async with ws_open(server, "dns_management", "viewer") as ws:
        zone = await _zone(server, "example.com", serial=7)
        await _add(server, Record(zone_id=zone.id, name="www", type="A", value="192.0.2.1"))
        await _add(
            server, Forwarder(name="ad", forwarder_type="active_directory", domains=["ad.corp"], servers=["10.0.0.1"])
        )
        await _reload(server, ["example.com"], "record_created")
        event = await _next_of(ws, "bind_reload")
    data = event["data"]
    assert data["success"] is True and data["applied"] is False and data["error"] is None
    assert data["zones"] == ["example.com"] and data["reason"] == "record_created"
    assert "zones/example.com.zone" in data["changed"] and "forwarders.conf" in data["changed"]
    assert isinstance(data["duration_ms"], float)
    text = (folder / "zones" / "example.com.zone").read_text()
    assert "( 7 3600" in text and "www\t\tIN\tA\t192.0.2.1" in text
    assert 'zone "ad.corp"' in (folder / "forwarders.conf").read_text()
    # Nothing changed: the next cycle rewrites nothing.
    before = (folder / "zones.conf").stat().st_mtime_ns
    await _reload(server, [], "noop")
    assert (await _flush(server))["changed"] == []
    assert (folder / "zones.conf").stat().st_mtime_ns == before


async def test_twenty_quick_requests_make_one_reload(make_server: Callable[..., LiveServer]) -> None:
    true = shutil.which("true")
    assert true is not None
    server = make_server(BIND_RELOAD_DEBOUNCE=0.3, BIND_RELOAD_COMMAND=true)
    await _flush(server)
    bind = server.app.state.bind
    reloads_before, cycles_before = bind.reloads, bind.cycles
    names = [f"z{i}.example" for i in range(20)]
    await _add(server, *(Zone(name=n, zone_type="master", primary_ns="ns.example.net.") for n in names))
    async with ws_open(server, "dns_management", "viewer") as ws:
        for name in names:  # separate calls into the server, as separate API requests would be
            await _reload(server, [name], f"zone {name} created")
        event = await _next_of(ws, "bind_reload")
        await _flush(server)
        assert ws.pending == []
        with pytest.raises(TimeoutError):
            await ws.next_event(timeout=0.5)  # and no second bind_reload
    data = event["data"]
    assert data["success"] is True and data["applied"] is True and data["requests"] == 20
    assert data["zones"] == sorted(names)
    assert (bind.reloads - reloads_before, bind.cycles - cycles_before) == (1, 1)


async def test_failed_reload_command_gives_bind_reload_failure_and_health_alert(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(BIND_RELOAD_DEBOUNCE=0.05, BIND_RELOAD_COMMAND="false --no-such-thing")
    await _flush(server)
    async with ws_open(server, "dns_management", "viewer") as dns_ws, ws_open(server, "health", "viewer") as health:
        await _zone(server, "fail.example")
        await _reload(server, ["fail.example"], "zone created")
        event = await _next_of(dns_ws, "bind_reload")
        alert = await _next_of(health, "health_alert")
    assert event["severity"] == "error"
    assert event["data"]["success"] is False and event["data"]["applied"] is False
    assert event["data"]["stage"] == "reload" and "exit 1" in event["data"]["error"]
    assert alert["data"]["component"] == "bind" and alert["data"]["stage"] == "reload"
    assert alert["data"]["zones"] == ["fail.example"]


# --- a real named -----------------------------------------------------------------------------


async def _query(named: NamedServer, name: str, rdtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.udp(query, "127.0.0.1", port=named.port, timeout=1)


async def _answers(named: NamedServer, name: str, rdtype: str = "A") -> list[str]:
    response = await _query(named, name, rdtype)
    return sorted(
        rr.to_text() for rrset in response.answer for rr in rrset if rrset.rdtype == dns.rdatatype.from_text(rdtype)
    )


async def _eventually(check: Callable[[], Any], timeout: float = 10, what: str = "named's answer") -> None:
    """Poll an async check until it is truthy (named loads zones asynchronously after `rndc reload`)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if await check():
                        return
                except dns.exception.Timeout:
                    pass  # e.g. asked before the RPZ was loaded: named went recursing, offline
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.fixture
def named_app(make_server: Callable[..., LiveServer], tmp_path: Path) -> Any:
    config_dir = tmp_path / "bind"
    query_log = tmp_path / "named" / "rpz.log"
    named = NamedServer(tmp_path / "named", config_dir, query_log).prepare().start()
    try:
        server = make_server(
            BIND_CONFIG_DIR=str(config_dir),
            BIND_RELOAD_COMMAND=named.reload_command,
            BIND_RELOAD_DEBOUNCE=0.2,
            BIND_QUERY_LOG=str(query_log),
        )
        yield named, server
    finally:
        named.stop()


async def test_real_named_serves_records_blocks_rpz_and_keeps_last_good_config(named_app: Any) -> None:
    named, server = named_app
    startup = await _flush(server)
    assert startup is not None and startup["success"] is True, (startup, named.log_tail())
    assert startup["applied"] is True and startup["changed"] == []  # named already had these files

    async with ws_open(server, "dns_management", "admin") as ws, ws_open(server, "health", "viewer") as health:
        # A zone and a record -> one reload -> named answers with the record.
        zone = await _zone(server, "example.test", serial=1, primary_ns="ns1")
        await _add(
            server,
            Record(zone_id=zone.id, name="ns1", type="A", value="127.0.0.1"),
            Record(zone_id=zone.id, name="www", type="A", value="192.0.2.10", ttl=60),
        )
        await _reload(server, ["example.test"], "record_created")
        event = await _next_of(ws, "bind_reload")
        assert event["data"]["success"] is True, (event, named.log_tail())
        assert event["data"]["applied"] is True and event["data"]["zones"] == ["example.test"]

        async def www_answers() -> bool:
            return await _answers(named, "www.example.test.") == ["192.0.2.10"]

        await _eventually(www_answers)

        # An RPZ block rule -> the name is NXDOMAIN (qname-wait-recurse no: no recursion needed).
        await _add(
            server,
            RpzRule(domain="blocked.test", action="block", category="malware"),
            RpzRule(domain="walled.test", action="redirect", redirect_to="www.example.test"),
        )
        await _reload(server, [], "rpz_update")
        event = await _next_of(ws, "bind_reload")
        assert event["data"]["success"] is True and "rpz/rpz.local.zone" in event["data"]["changed"], event

        async def blocked() -> bool:
            return (await _query(named, "blocked.test.")).rcode() == dns.rcode.NXDOMAIN

        await _eventually(blocked, what="the RPZ block")
        assert (await _query(named, "sub.blocked.test.")).rcode() == dns.rcode.NXDOMAIN  # and its subdomains
        assert "192.0.2.10" in " ".join(await _answers(named, "walled.test."))

        # A broken zone (a CNAME beside another record, put in behind the API's back) -> named-checkzone
        # refuses it, no reload, failure event, health alert.
        await _add(
            server,
            Record(zone_id=zone.id, name="www", type="CNAME", value="elsewhere.test."),
            Record(zone_id=zone.id, name="new", type="A", value="192.0.2.11"),
        )
        await _reload(server, ["example.test"], "record_created")
        event = await _next_of(ws, "bind_reload")
        alert = await _next_of(health, "health_alert")
        data = event["data"]
        assert data["success"] is False and data["applied"] is False and data["stage"] == "check"
        assert "named-checkzone example.test" in data["error"] and "CNAME" in data["error"]
        assert data["failed_zones"] == ["example.test"]
        assert alert["data"]["component"] == "bind" and alert["data"]["zones"] == ["example.test"]
        assert alert["data"]["failed_zones"] == ["example.test"]
        # named keeps the last good configuration, and so do the files on disk.
        assert await www_answers()
        assert (await _query(named, "new.example.test.")).rcode() == dns.rcode.NXDOMAIN
        assert "CNAME" not in (server.settings.bind_config_dir / "zones" / "example.test.zone").read_text()

        # Fixing it brings the change in.
        async def drop_cname() -> None:
            from sqlalchemy import delete

            async with server.app.state.db() as session:
                await session.execute(delete(Record).where(Record.type == "CNAME"))
                await session.commit()

        await server.call(drop_cname())
        await _reload(server, ["example.test"], "record_deleted")
        event = await _next_of(ws, "bind_reload")
        assert event["data"]["success"] is True, event

        async def new_answers() -> bool:
            return await _answers(named, "new.example.test.") == ["192.0.2.11"]

        await _eventually(new_answers)


async def test_blocked_queries_become_threat_detected_events(named_app: Any) -> None:
    named, server = named_app
    await _flush(server)
    bind = server.app.state.bind
    await wait_until(lambda: bind.watcher is not None and bind.watcher.ready, what="the RPZ log watcher")

    def short_window() -> None:
        bind.watcher.reporter.window = 3.0

    await server.call_fn(short_window)
    await _add(server, RpzRule(domain="evil.test", action="block", category="phishing"))
    await _reload(server, [], "rpz_update")
    result = await _flush(server)
    assert result["success"] is True, result

    async with ws_open(server, "security", "op") as ws:

        async def blocked() -> bool:
            return (await _query(named, "login.evil.test.")).rcode() == dns.rcode.NXDOMAIN

        await _eventually(blocked, what="the RPZ block")
        first = await _next_of(ws, "threat_detected", timeout=10)
        data = first["data"]
        assert data["client"] == "127.0.0.1" and data["name"] == "login.evil.test"
        assert (data["rule"], data["category"], data["action"], data["count"]) == ("evil.test", "phishing", "block", 1)
        # The same client asking again within the window: one more event, with the count.
        for _ in range(3):
            assert (await _query(named, "login.evil.test.")).rcode() == dns.rcode.NXDOMAIN
        again = await _next_of(ws, "threat_detected", timeout=10)
        assert again["data"]["name"] == "login.evil.test" and again["data"].get("coalesced") is True
        assert again["data"]["count"] == 3


async def test_zone_and_record_through_the_api_reach_named(named_app: Any) -> None:
    named, server = named_app
    await _flush(server)
    async with server.http("admin") as http, ws_open(server, "dns_management", "admin") as ws:
        # An in-zone NS needs an address record; name an outside one.
        body = {"name": "api.test", "zone_type": "master", "primary_ns": "ns.example.net."}
        created = await http.post("/api/zones", json=body)
        if created.status_code in (404, 405):
            pytest.skip("the zones API is not there yet")
        assert created.status_code in (200, 201), created.text
        zone_id = created.json()["id"]
        record = await http.post(
            f"/api/zones/{zone_id}/records", json={"name": "host", "type": "A", "value": "192.0.2.77"}
        )
        assert record.status_code in (200, 201), record.text

        async def reloaded_with_record() -> bool:
            event = await _next_of(ws, "bind_reload")
            return bool(event["data"]["success"]) and "api.test" in event["data"]["zones"]

        await _eventually(reloaded_with_record, timeout=20, what="a bind_reload for api.test")

        async def answers() -> bool:
            return await _answers(named, "host.api.test.") == ["192.0.2.77"]

        await _eventually(answers)


async def test_operator_named_conf_is_checked_and_files_put_back_when_it_fails(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    if shutil.which("named-checkconf") is None:
        pytest.skip("named-checkconf is not installed")
    config_dir = tmp_path / "bind"
    server = make_server(BIND_CONFIG_DIR=str(config_dir), BIND_RELOAD_DEBOUNCE=0.05)
    await _flush(server)
    # The operator's named.conf already has a zone of that name: the rendered zones.conf would clash.
    named_conf = tmp_path / "named.conf"
    named_conf.write_text(
        f'options {{ directory "{tmp_path}"; include "{config_dir}/response-policy.conf"; }};\n'
        f'zone "clash.test" {{ type primary; file "{tmp_path}/clash.zone"; }};\n'
        f'include "{config_dir}/zones.conf";\ninclude "{config_dir}/forwarders.conf";\n'
    )

    def use_named_conf() -> None:
        server.app.state.bind.named_conf = named_conf

    await server.call_fn(use_named_conf)
    before = (config_dir / "zones.conf").read_text()
    await _zone(server, "clash.test")
    await _reload(server, ["clash.test"], "zone created")
    result = await _flush(server)
    assert result["success"] is False and result["stage"] == "check", result
    assert "clash.test" in result["error"]
    assert (config_dir / "zones.conf").read_text() == before
    assert not (config_dir / "zones" / "clash.test.zone").exists()


async def test_a_zone_created_with_defaults_passes_named_checks(make_server: Any) -> None:
    """An in-zone default NS without an address would fail named's checks and block every reload."""
    require_binary("named-checkzone")
    server = make_server(BIND_RELOAD_DEBOUNCE=0)
    async with server.http("op") as op:
        zone = await op.post("/api/zones", json={"name": "defaults.example", "zone_type": "master"})
        assert zone.status_code == 201, zone.text
        record = await op.post(
            f"/api/zones/{zone.json()['id']}/records", json={"name": "www", "type": "A", "value": "192.0.2.1"}
        )
        assert record.status_code == 201, record.text
    result = await server.call(server.app.state.bind.flush())
    assert result is not None and result["success"] is True, result
