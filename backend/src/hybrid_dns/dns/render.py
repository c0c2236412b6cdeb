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
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ZONES_CONF = "zones.conf"
FORWARDERS_CONF = "forwarders.conf"
RESPONSE_POLICY_CONF = "response-policy.conf"
LOGGING_CONF = "logging.conf"
CHECK_CONF = "check.conf"
ZONES_DIR = "zones"
RPZ_DIR = "rpz"


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


# --- validation ---------------------------------------------------------------------------------

_LABEL = r"(?:\*|[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_OWNER_RE = re.compile(rf"^(?:@|{_LABEL}(?:\.{_LABEL})*\.?)$")
_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$")


def normalize_domain(name: str) -> str:
    """Lower case, no trailing dot; raises RenderError for anything that is not a domain name."""
    value = name.strip().lower().rstrip(".")
    if not value or len(value) > 253 or not _DOMAIN_RE.match(value):
        raise RenderError(f"not a domain name: {name!r}")
    return value


def _quote(value: str) -> str:
    if any(c in value for c in '"\\\n\r;{}') or not value:
        raise RenderError(f"cannot be quoted in named.conf: {value!r}")
    return f'"{value}"'


def _one_line(value: str, what: str) -> str:
    if "\n" in value or "\r" in value or "\x00" in value:
        raise RenderError(f"{what} must be on one line: {value!r}")
    return value.strip()


def zone_file_name(zone: str) -> str:
    """A file name for a zone: safe characters only (zone names are already restricted)."""
    name = normalize_domain(zone)
    return re.sub(r"[^a-z0-9._-]", lambda m: f"%{ord(m.group()):02x}", name) + ".zone"


def _abs_name(name: str) -> str:
    """A name for the SOA (ns, mailbox): absolute when it already ends with a dot, else relative."""
    value = _one_line(name, "name").strip()
    if not value or not _OWNER_RE.match(value):
        raise RenderError(f"not a domain name: {name!r}")
    return value


def _mailbox(email: str) -> str:
    value = _one_line(email, "admin email").strip()
    if "@" in value and value != "@":
        local, _, domain = value.partition("@")
        value = local.replace(".", "\\.") + "." + domain.rstrip(".") + "."
        return value
    return _abs_name(value)


def relative_owner(name: str, zone: str) -> str:
    """A record's owner relative to its zone: '@' for the apex; an absolute name stays absolute."""
    value = _one_line(name, "record name").strip()
    if value in ("", "@"):
        return "@"
    if not _OWNER_RE.match(value):
        raise RenderError(f"not a valid record name: {name!r}")
    lowered = value.lower()
    if lowered.endswith("."):
        bare = lowered.rstrip(".")
        if bare == zone:
            return "@"
        if bare.endswith("." + zone):
            return value[: len(bare) - len(zone) - 1]
        return value  # out of zone: named-checkzone says so
    if lowered == zone:
        return "@"
    if lowered.endswith("." + zone):
        return value[: -len(zone) - 1]
    return value


# --- zone files ---------------------------------------------------------------------------------


def render_zone_file(zone: ZoneSpec) -> str:
    """A master zone's file: $ORIGIN, $TTL, the SOA with the zone's serial, then its records."""
    origin = normalize_domain(zone.name)
    lines = [
        "; Generated by Hybrid DNS Server; edits here are overwritten.",
        f"$ORIGIN {origin}.",
        f"$TTL {int(zone.default_ttl)}",
        (
            f"@\tIN\tSOA\t{_abs_name(zone.primary_ns)} {_mailbox(zone.admin_email)} ("
            f" {int(zone.serial)} {int(zone.refresh)} {int(zone.retry)} {int(zone.expire)} {int(zone.minimum)} )"
        ),
    ]
    records = sorted(
        zone.records, key=lambda r: (relative_owner(r.name, origin) != "@", r.name.lower(), r.type.upper())
    )
    has_apex_ns = any(r.type.upper() == "NS" and relative_owner(r.name, origin) == "@" for r in records)
    if not has_apex_ns:
        lines.append(f"@\tIN\tNS\t{_abs_name(zone.primary_ns)}")
    for record in records:
        rtype = record.type.strip().upper()
        if not _TYPE_RE.match(rtype):
            raise RenderError(f"not a record type: {record.type!r}")
        if rtype == "SOA":
            raise RenderError("SOA records are made from the zone's fields")
        value = _one_line(record.value, f"{rtype} record value")
        if not value:
            raise RenderError(f"empty {rtype} record value")
        ttl = "" if record.ttl is None else str(int(record.ttl))
        lines.append(f"{relative_owner(record.name, origin)}\t{ttl}\tIN\t{rtype}\t{value}")
    return "\n".join(lines) + "\n"


def render_rpz_zone(rpz_zone: str, rules: Sequence[RuleSpec], serial: int) -> str:
    """The RPZ zone: each rule for the domain and, by wildcard, its subdomains."""
    origin = normalize_domain(rpz_zone)
    lines = [
        "; Generated by Hybrid DNS Server; edits here are overwritten.",
        f"$ORIGIN {origin}.",
        "$TTL 60",
        f"@\tIN\tSOA\tlocalhost. hostmaster.localhost. ( {int(serial)} 3600 900 1209600 60 )",
        "@\tIN\tNS\tlocalhost.",
    ]
    explicit = {normalize_domain(r.domain) for r in rules}
    for rule in sorted(rules, key=lambda r: normalize_domain(r.domain)):
        domain = normalize_domain(rule.domain)
        data = rpz_rdata(rule)
        owners = [domain] if domain.startswith("*.") or f"*.{domain}" in explicit else [domain, f"*.{domain}"]
        for owner in owners:
            for rtype, rdata in data:
                lines.append(f"{owner}\tIN\t{rtype}\t{rdata}")
    return "\n".join(lines) + "\n"


def rpz_rdata(rule: RuleSpec) -> list[tuple[str, str]]:
    action = rule.action.lower()
    if action == "block":
        return [("CNAME", ".")]
    if action == "passthru":
        return [("CNAME", "rpz-passthru.")]
    if action == "redirect":
        target = (rule.redirect_to or "").strip()
        if not target:
            raise RenderError(f"redirect rule for {rule.domain!r} has no target")
        try:
            address = ipaddress.ip_address(target)
        except ValueError:
            return [("CNAME", normalize_domain(target) + ".")]
        return [("A" if address.version == 4 else "AAAA", str(address))]
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
        text = server.strip()
        host, port = text, None
        if text.startswith("["):  # [v6]:port
            host, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif text.count(":") == 1:
            host, port = text.split(":")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise RenderError(f"forwarder must be an IP address (optionally :port): {server!r}") from None
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise RenderError(f"bad port in forwarder {server!r}")
        items.append(f"{address}{f' port {port}' if port else ''};")
    if not items:
        raise RenderError("a forward zone needs at least one server")
    return " ".join(items)


def _forward_zone(name: str, servers: Iterable[str]) -> str:
    servers_text = _server_list(servers)
    return f"zone {_quote(name)} {{\n\ttype forward;\n\tforward only;\n\tforwarders {{ {servers_text} }};\n}};\n"


def render_zones_conf(zones: Sequence[ZoneSpec], config_dir: Path, rpz_zone: str) -> str:
    """`zone` statements for the app's zones and the RPZ zone; file paths are absolute."""
    base = Path(config_dir)
    parts = ["// Generated by Hybrid DNS Server; edits here are overwritten.\n"]
    seen: set[str] = set()
    for zone in sorted(zones, key=lambda z: normalize_domain(z.name)):
        name = normalize_domain(zone.name)
        if name in seen:
            raise RenderError(f"zone {name!r} defined twice")
        seen.add(name)
        if zone.zone_type == "forward":
            parts.append(_forward_zone(name, zone.forwarders))
        elif zone.zone_type == "master":
            path = base / ZONES_DIR / zone_file_name(name)
            parts.append(f"zone {_quote(name)} {{\n\ttype primary;\n\tfile {_quote(str(path))};\n}};\n")
        else:
            raise RenderError(f"unknown zone type {zone.zone_type!r} for {name!r}")
    rpz = normalize_domain(rpz_zone)
    if rpz in seen:
        raise RenderError(f"zone {rpz!r} is the RPZ zone")
    path = base / RPZ_DIR / zone_file_name(rpz)
    parts.append(
        f"zone {_quote(rpz)} {{\n\ttype primary;\n\tfile {_quote(str(path))};\n\tallow-query {{ none; }};\n}};\n"
    )
    return "\n".join(parts)


def render_forwarders_conf(forwarders: Sequence[ForwarderSpec], taken: Iterable[str] = ()) -> str:
    """Each enabled forwarder's domains as forward zones.

    A domain that is also one of the app's zones (`taken`) is left to that zone; a domain served by
    several forwarders gets the servers of all of them, in forwarder-name order.
    """
    skip = {normalize_domain(t) for t in taken}
    servers_by_domain: dict[str, list[str]] = {}
    owners: dict[str, list[str]] = {}
    for fwd in sorted(forwarders, key=lambda f: f.name):
        if not fwd.enabled or not fwd.servers:
            continue
        for domain in fwd.domains:
            name = normalize_domain(domain)
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
