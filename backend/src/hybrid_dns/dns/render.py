"""Pure rendering of BIND9 configuration from the app's data: text in, text out, no I/O.

Files, relative to the BIND configuration folder (`settings.bind_config_dir`):

- `zones/<zone>.zone`        one zone file per master zone
- `zones.conf`               `zone` statements: master zones (type primary), forward zones (type forward)
                             and the RPZ zone
- `rpz/<rpz zone>.zone`      the response-policy zone (block -> CNAME ., redirect -> CNAME target,
                             passthru -> CNAME rpz-passthru.), with a wildcard for every rule's subdomains
- `response-policy.conf`     `response-policy { zone "<rpz>"; } ...;` to include inside named's `options`
- `forwarders.conf`          each enabled Forwarder's domains as forward zones
- `logging.conf`             a `logging` statement sending category rpz to BIND_QUERY_LOG (when set)
- `check.conf`               a self-contained config that includes the above, for named-checkconf

An operator's named.conf includes `zones.conf` and `forwarders.conf` at the top level and
`response-policy.conf` inside `options { ... }` (see `operator_snippet`).

Rendering is the last line of defence: every name, address, port, number and record value is
re-checked against the rule set the API validates with (rules.py), and a value outside it raises
RenderError instead of reaching a file. The functions that render many items (zones.conf,
forwarders.conf, the RPZ zone) can instead leave a bad item out and name it in `problems`, so one
bad row never stops the rest from deploying.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import rules as ruleset

ZONES_CONF = "zones.conf"
FORWARDERS_CONF = "forwarders.conf"
RESPONSE_POLICY_CONF = "response-policy.conf"
LOGGING_CONF = "logging.conf"
CHECK_CONF = "check.conf"
ZONES_DIR = "zones"
RPZ_DIR = "rpz"
SOA_TIMERS = ("refresh", "retry", "expire", "minimum")


class RenderError(ValueError):
    """Data that cannot be written into a BIND file safely (it would break or inject configuration)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecordSpec:
    name: str
    type: str
    value: str
    ttl: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneSpec:
    name: str
    zone_type: str = "master"  # master | forward
    serial: int = 1
    primary_ns: str = "localhost."
    admin_email: str = "hostmaster"
    refresh: int = 3600
    retry: int = 900
    expire: int = 1_209_600
    minimum: int = 300
    default_ttl: int = 3600
    forwarders: tuple[str, ...] = ()
    records: tuple[RecordSpec, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class RuleSpec:
    domain: str
    action: str  # block | redirect | passthru
    redirect_to: str | None = None
    category: str = "custom"


@dataclasses.dataclass(frozen=True, slots=True)
class ForwarderSpec:
    name: str
    domains: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()
    enabled: bool = True


# --- conversions from the ORM rows (duck-typed, so this module does not import the models) -------


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def zone_spec(zone: Any, records: Iterable[Any] = ()) -> ZoneSpec:
    d = ZoneSpec(name="")
    return ZoneSpec(
        name=str(zone.name),
        zone_type=str(_or(zone.zone_type, d.zone_type)),
        serial=int(_or(zone.serial, d.serial)),
        primary_ns=str(_or(zone.primary_ns, d.primary_ns)),
        admin_email=str(_or(zone.admin_email, d.admin_email)),
        refresh=int(_or(zone.refresh, d.refresh)),
        retry=int(_or(zone.retry, d.retry)),
        expire=int(_or(zone.expire, d.expire)),
        minimum=int(_or(zone.minimum, d.minimum)),
        default_ttl=int(_or(zone.default_ttl, d.default_ttl)),
        forwarders=tuple(zone.forwarders or ()),
        records=tuple(RecordSpec(str(r.name), str(r.type), str(r.value), r.ttl) for r in records),
    )


def rule_spec(rule: Any) -> RuleSpec:
    return RuleSpec(str(rule.domain), str(rule.action), rule.redirect_to, str(rule.category or "custom"))


def forwarder_spec(fwd: Any) -> ForwarderSpec:
    enabled = bool(_or(fwd.enabled, True))
    return ForwarderSpec(str(fwd.name), tuple(fwd.domains or ()), tuple(fwd.servers or ()), enabled)


# --- checks: the shared rule set (rules.py), applied to every token written ---------------------

_SERVER_TOKEN = re.compile(r"[0-9a-f:.]{2,45}(?: port [0-9]{1,5})?")
_FILE_NAME = re.compile(r"[a-z0-9_.-]{1,253}\.zone")

T = TypeVar("T")


def _rule(check: Callable[..., T], *args: Any) -> T:
    """Apply a check of the rule set; its RuleError becomes a RenderError."""
    try:
        return check(*args)
    except ruleset.RuleError as exc:
        raise RenderError(str(exc)) from None


def _skip(problems: dict[str, str] | None, key: str, exc: RenderError) -> None:
    """Leave one item out and say why when collecting problems; re-raise when rendering strictly."""
    if problems is None:
        raise exc
    problems.setdefault(key, str(exc))


def normalize_domain(name: str) -> str:
    """Lower case, no trailing dot; raises RenderError for anything that is not a domain name."""
    value = name.lower()
    value = value[:-1] if value.endswith(".") else value
    _rule(ruleset.labels, value, "domain name")
    return value


def _quote(value: str) -> str:
    if any(c in value for c in '"\\\n\r;{}') or not value:
        raise RenderError(f"cannot be quoted in named.conf: {value!r}")
    return f'"{value}"'


def zone_file_name(zone: str) -> str:
    """A file name for a zone: its name, which the rules limit to letters, digits, '_', '-' and dots."""
    file_name = normalize_domain(zone) + ".zone"
    if not _FILE_NAME.fullmatch(file_name):
        raise RenderError(f"no safe file name for zone {zone!r}")
    return file_name


def relative_owner(name: str, zone: str) -> str:
    """A record's owner relative to its zone: '@' for the apex; RenderError for a name outside the zone.

    "www", "www.example.com." and "www.example.com" (written out without the final dot) are "www".
    """
    if name in ("", "@"):
        return "@"
    lowered = name.lower()
    bare = lowered[:-1] if lowered.endswith(".") else lowered
    if bare == zone:
        return "@"
    if bare.endswith("." + zone):
        return name[: len(bare) - len(zone) - 1]
    if name.endswith("."):
        raise RenderError(f"record name {name!r} is not inside the zone {zone}")
    return name


# --- zone files ---------------------------------------------------------------------------------


def _record_line(record: RecordSpec, origin: str) -> str:
    rtype = record.type.upper()
    if rtype not in ruleset.RECORD_TYPES:
        raise RenderError(f"not a record type this server writes: {record.type!r}")
    owner = relative_owner(record.name, origin)
    _rule(ruleset.record_owner, owner, rtype, origin)
    value = _rule(ruleset.rdata, rtype, record.value, origin, owner)
    ttl = "" if record.ttl is None else str(_rule(ruleset.ttl, record.ttl))
    return f"{owner}\t{ttl}\tIN\t{rtype}\t{value}"


def render_zone_file(zone: ZoneSpec) -> str:
    """A master zone's file: $ORIGIN, $TTL, the SOA with the zone's serial, then its records.

    Every token is re-checked against the rule set (rules.py); RenderError names the first that fails.
    """
    origin = normalize_domain(zone.name)
    mname = _rule(ruleset.soa_host, zone.primary_ns, origin)
    rname = _rule(ruleset.soa_mailbox, zone.admin_email, origin, "admin_email")
    serial = _rule(ruleset.number, zone.serial, "serial", 0, 2**32 - 1)
    timers = [_rule(ruleset.number, getattr(zone, k), k, 0, ruleset.U31) for k in SOA_TIMERS]
    default_ttl = _rule(ruleset.ttl, zone.default_ttl, "default_ttl")
    lines = [
        "; Generated by Hybrid DNS Server; edits here are overwritten.",
        f"$ORIGIN {origin}.",
        f"$TTL {default_ttl}",
        f"@\tIN\tSOA\t{mname} {rname} ( {serial} {' '.join(map(str, timers))} )",
    ]
    records = sorted(
        zone.records, key=lambda r: (relative_owner(r.name, origin) != "@", r.name.lower(), r.type.upper())
    )
    has_apex_ns = any(r.type.upper() == "NS" and relative_owner(r.name, origin) == "@" for r in records)
    if not has_apex_ns:
        lines.append(f"@\tIN\tNS\t{mname}")
    lines.extend(_record_line(record, origin) for record in records)
    return "\n".join(lines) + "\n"


def render_rpz_zone(
    rpz_zone: str, rules: Sequence[RuleSpec], serial: int, problems: dict[str, str] | None = None
) -> str:
    """The RPZ zone: each rule for the domain and, by wildcard, its subdomains.

    With `problems`, a rule that cannot be written is left out and named there (by its domain);
    without, it raises RenderError.
    """
    origin = normalize_domain(rpz_zone)
    lines = [
        "; Generated by Hybrid DNS Server; edits here are overwritten.",
        f"$ORIGIN {origin}.",
        "$TTL 60",
        f"@\tIN\tSOA\tlocalhost. hostmaster.localhost. ( {int(serial)} 3600 900 1209600 60 )",
        "@\tIN\tNS\tlocalhost.",
    ]
    checked: dict[str, list[tuple[str, str]]] = {}
    for rule in rules:
        try:
            domain = rpz_rule_domain(rule.domain, origin)
            if domain in checked:
                raise RenderError(f"rule for {domain} listed twice")
            data = rpz_rdata(rule)
            if data[0][0] in ("A", "AAAA") and not ruleset.rpz_address_owner_ok(domain):
                raise RenderError(
                    f"rule for {domain}: a redirect to an address needs a host name (no '_'); redirect to a name"
                )
            checked[domain] = data
        except RenderError as exc:
            _skip(problems, rule.domain, exc)
    for domain in sorted(checked):
        owners = [domain] if domain.startswith("*.") or f"*.{domain}" in checked else [domain, f"*.{domain}"]
        for owner in owners:
            for rtype, rdata in checked[domain]:
                lines.append(f"{owner}\tIN\t{rtype}\t{rdata}")
    return "\n".join(lines) + "\n"


def rpz_rule_domain(domain: str, rpz_zone: str) -> str:
    """A rule's domain, normalised and checked: one real domain, optionally with a leading '*.'."""
    value = domain.lower()
    value = value[:-1] if value.endswith(".") else value
    _rule(ruleset.rpz_domain, value, rpz_zone)
    return value


def rpz_rdata(rule: RuleSpec) -> list[tuple[str, str]]:
    action = rule.action.lower()
    if action == "block":
        return [("CNAME", ".")]
    if action == "passthru":
        return [("CNAME", "rpz-passthru.")]
    if action == "redirect":
        target = rule.redirect_to or ""
        if not target:
            raise RenderError(f"redirect rule for {rule.domain!r} has no target")
        value = _rule(ruleset.rpz_redirect, target)
        if ":" in value or ruleset.looks_like_ipv4(value):
            address = _rule(ruleset.ip_address, value, "redirect_to")
            return [("A" if address.version == 4 else "AAAA", str(address))]
        return [("CNAME", normalize_domain(value) + ".")]
    raise RenderError(f"unknown RPZ action {rule.action!r} for {rule.domain!r}")


def rpz_serial(previous_text: str | None) -> int | None:
    """The serial in a previously rendered RPZ zone, if any."""
    if not previous_text:
        return None
    match = re.search(r"\bSOA\s+\S+\s+\S+\s+\(\s*(\d+)", previous_text)
    return int(match.group(1)) if match else None


# --- named.conf snippets ------------------------------------------------------------------------


def _server_list(servers: Iterable[str]) -> str:
    items = []
    for server in servers:
        ip, port = _rule(ruleset.server, server)
        token = f"{ip}" if port is None else f"{ip} port {port}"
        if not _SERVER_TOKEN.fullmatch(token):
            raise RenderError(f"forwarder must be an IP address (optionally :port): {server!r}")
        items.append(f"{token};")
    if not items:
        raise RenderError("a forward zone needs at least one server")
    return " ".join(items)


def _forward_zone(name: str, servers: Iterable[str]) -> str:
    servers_text = _server_list(servers)
    return f"zone {_quote(name)} {{\n\ttype forward;\n\tforward only;\n\tforwarders {{ {servers_text} }};\n}};\n"


def render_zones_conf(
    zones: Sequence[ZoneSpec], config_dir: Path, rpz_zone: str, problems: dict[str, str] | None = None
) -> str:
    """`zone` statements for the app's zones and the RPZ zone; file paths are absolute.

    With `problems`, a zone that cannot be written is left out and named there; without, RenderError.
    """
    base = Path(config_dir)
    rpz = normalize_domain(rpz_zone)
    parts = ["// Generated by Hybrid DNS Server; edits here are overwritten.\n"]
    seen: set[str] = set()
    statements: list[tuple[str, str]] = []
    for zone in zones:
        try:
            name = normalize_domain(zone.name)
            if name in seen:
                raise RenderError(f"zone {name!r} defined twice")
            if name == rpz:
                raise RenderError(f"zone {rpz!r} is the RPZ zone")
            if zone.zone_type == "forward":
                statement = _forward_zone(name, zone.forwarders)
            elif zone.zone_type == "master":
                path = base / ZONES_DIR / zone_file_name(name)
                statement = f"zone {_quote(name)} {{\n\ttype primary;\n\tfile {_quote(str(path))};\n}};\n"
            else:
                raise RenderError(f"unknown zone type {zone.zone_type!r} for {name!r}")
            seen.add(name)
            statements.append((name, statement))
        except RenderError as exc:
            _skip(problems, zone.name, exc)
    parts.extend(statement for _, statement in sorted(statements))
    path = base / RPZ_DIR / zone_file_name(rpz)
    parts.append(
        f"zone {_quote(rpz)} {{\n\ttype primary;\n\tfile {_quote(str(path))};\n\tallow-query {{ none; }};\n}};\n"
    )
    return "\n".join(parts)


def render_forwarders_conf(
    forwarders: Sequence[ForwarderSpec], taken: Iterable[str] = (), problems: dict[str, str] | None = None
) -> str:
    """Each enabled forwarder's domains as forward zones.

    A domain that is also one of the app's zones (`taken`) is left to that zone; a domain served by
    several forwarders gets the servers of all of them, in forwarder-name order. With `problems`, a
    forwarder that cannot be written (any bad name, domain or server) is left out whole and named
    there (by its name); without, RenderError.
    """
    skip = {t.lower().rstrip(".") for t in taken}
    servers_by_domain: dict[str, list[str]] = {}
    owners: dict[str, list[str]] = {}
    for fwd in sorted(forwarders, key=lambda f: f.name):
        if not fwd.enabled or not fwd.servers:
            continue
        try:
            if not ruleset.FORWARDER_NAME.fullmatch(fwd.name):
                raise RenderError(f"not a forwarder name that can be written: {fwd.name!r}")
            domains = [normalize_domain(d) for d in fwd.domains]
            _server_list(fwd.servers)
        except RenderError as exc:
            _skip(problems, fwd.name, exc)
            continue
        for name in domains:
            if name in skip:
                continue
            bucket = servers_by_domain.setdefault(name, [])
            bucket.extend(s for s in fwd.servers if s not in bucket)
            owners.setdefault(name, []).append(fwd.name)
    parts = ["// Generated by Hybrid DNS Server; edits here are overwritten.\n"]
    for name in sorted(servers_by_domain):
        parts.append(f"// forwarder: {', '.join(owners[name])}\n" + _forward_zone(name, servers_by_domain[name]))
    return "\n".join(parts)


def render_response_policy(rpz_zone: str) -> str:
    """To include inside `options { }`: apply the RPZ zone at once after each reload (named defers
    RPZ updates for 60 s by default) and without waiting for recursion first."""
    return (
        "// Generated by Hybrid DNS Server; include inside options { }.\n"
        f"response-policy {{ zone {_quote(normalize_domain(rpz_zone))} min-update-interval 0; }}"
        " qname-wait-recurse no;\n"
    )


def render_logging_conf(query_log: Path | None) -> str:
    """A `logging` statement that writes RPZ rewrites (one line per blocked query) to `query_log`."""
    if query_log is None:
        return "// Generated by Hybrid DNS Server: BIND_QUERY_LOG is not set, nothing to log.\n"
    return (
        "// Generated by Hybrid DNS Server; include at the top level of named.conf.\n"
        "logging {\n"
        f"\tchannel hybrid_dns_rpz {{ file {_quote(str(query_log))} versions 3 size 20m; "
        "print-time yes; severity info; };\n"
        "\tcategory rpz { hybrid_dns_rpz; };\n"
        "};\n"
    )


def render_check_conf(snippets_dir: Path) -> str:
    """A minimal named.conf that includes the rendered snippets from `snippets_dir`, for named-checkconf."""
    base = Path(snippets_dir)
    return (
        "// Generated by Hybrid DNS Server for named-checkconf only.\n"
        f"options {{\n\tdirectory {_quote(str(base))};\n\tinclude {_quote(str(base / RESPONSE_POLICY_CONF))};\n}};\n"
        f"include {_quote(str(base / ZONES_CONF))};\n"
        f"include {_quote(str(base / FORWARDERS_CONF))};\n"
    )


def operator_snippet(config_dir: Path) -> str:
    """What to add to named.conf to use the rendered configuration (for documentation and the CLI)."""
    base = Path(config_dir)
    return (
        f'options {{\n\t// ...\n\tinclude "{base / RESPONSE_POLICY_CONF}";\n}};\n'
        f'include "{base / ZONES_CONF}";\ninclude "{base / FORWARDERS_CONF}";\n'
        f'include "{base / LOGGING_CONF}";  // when BIND_QUERY_LOG is set\n'
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Rendered:
    """Every rendered file, by path relative to the configuration folder, and the zone file of each zone."""

    files: Mapping[str, str]
    zone_files: Mapping[str, str]  # zone name -> relative path of its file (master zones and the RPZ zone)


def render_all(
    zones: Sequence[ZoneSpec],
    rules: Sequence[RuleSpec],
    forwarders: Sequence[ForwarderSpec],
    *,
    config_dir: Path,
    rpz_zone: str,
    rpz_serial_value: int,
    query_log: Path | None = None,
) -> Rendered:
    files: dict[str, str] = {}
    zone_files: dict[str, str] = {}
    for zone in zones:
        if zone.zone_type == "master":
            rel = f"{ZONES_DIR}/{zone_file_name(zone.name)}"
            files[rel] = render_zone_file(zone)
            zone_files[normalize_domain(zone.name)] = rel
    rpz_rel = f"{RPZ_DIR}/{zone_file_name(rpz_zone)}"
    files[rpz_rel] = render_rpz_zone(rpz_zone, rules, rpz_serial_value)
    zone_files[normalize_domain(rpz_zone)] = rpz_rel
    files[ZONES_CONF] = render_zones_conf(zones, config_dir, rpz_zone)
    files[FORWARDERS_CONF] = render_forwarders_conf(forwarders, taken=[z.name for z in zones] + [rpz_zone])
    files[RESPONSE_POLICY_CONF] = render_response_policy(rpz_zone)
    files[LOGGING_CONF] = render_logging_conf(query_log)
    files[CHECK_CONF] = render_check_conf(config_dir)
    return Rendered(files=files, zone_files=zone_files)
