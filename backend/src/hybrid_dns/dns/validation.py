"""Validation and normalisation of what the DNS API stores: names, record data, servers, serials.

Every function raises `Invalid` with a message fit to show the user (never an internal detail);
the API turns it into a 422.

Conventions of what is stored:
- zone names, RPZ domains and forwarder domains: lower case, no trailing dot, IDNA (punycode);
- record names: relative to their zone, lower case, "@" for the apex;
- record values: dnspython's canonical text for the type with absolute names (trailing dot), names
  in lower case (TXT keeps its case), so equal data compares equal;
- SOA primary_ns / admin_email: zone-file text, relative to the zone when inside it ("ns1"),
  absolute with a trailing dot otherwise ("ns.provider.net.");
- servers: "ip" or "ip:port" ("[v6]:port" for IPv6 with a port).

Serials are YYYYMMDDnn (RFC 1912): the first change of a day jumps to YYYYMMDD00 unless the serial
is already past it; every change adds one otherwise. They never decrease, even after 99 changes in
a day (the serial then runs ahead of the date and keeps increasing by one).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS")
ZONE_TYPES = ("master", "forward")
RPZ_ACTIONS = ("block", "redirect", "passthru")
FORWARDER_TYPES = ("active_directory", "intranet", "public")

TTL_MIN = 1
TTL_MAX = 604_800  # one week: BIND's own cap on cached TTLs

# Letters, digits, hyphen, and underscore (service labels like _sip._tcp, _msdcs for AD).
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FORWARDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")

# What a value of each type looks like, for the error message.
EXAMPLES = {
    "A": "192.0.2.10",
    "AAAA": "2001:db8::10",
    "CNAME": "www.example.com.",
    "MX": "10 mail.example.com.",
    "TXT": '"v=spf1 mx -all"',
    "SRV": "10 5 5060 sip.example.com.",
    "PTR": "host.example.com.",
    "NS": "ns1.example.com.",
}


class Invalid(ValueError):
    """Input that cannot be stored; the message says what is wrong."""


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _parse_name(text: str, what: str, origin: dns.name.Name | None = None) -> dns.name.Name:
    text = text.strip()
    if not text:
        raise Invalid(f"{what} is empty")
    if _has_control(text):
        raise Invalid(f"{what} contains control characters")
    try:
        return dns.name.from_text(text, origin=origin or dns.name.root)
    except dns.exception.DNSException as exc:
        raise Invalid(f"{what} is not a valid DNS name: {exc}") from None
    except (UnicodeError, ValueError):
        raise Invalid(f"{what} is not a valid DNS name") from None


def _check_labels(name: dns.name.Name, what: str, *, wildcard: bool = False) -> None:
    labels = [label.decode("ascii", "replace").lower() for label in name.relativize(dns.name.root).labels]
    for i, label in enumerate(labels):
        if label == "*" and wildcard and i == 0:
            continue
        if not _LABEL.match(label):
            hint = " (a wildcard * may only be the first label)" if "*" in label else ""
            raise Invalid(
                f"{what}: label {label!r} may only hold letters, digits, '-' and '_', "
                f"and may not start or end with '-'{hint}"
            )


def _plain(name: dns.name.Name) -> str:
    """Lower case, no trailing dot."""
    return name.to_text(omit_final_dot=True).lower()


def domain_name(text: str, what: str = "domain", *, wildcard: bool = False) -> str:
    """A fully qualified domain name (zone, RPZ domain, forwarded domain), normalised."""
    name = _parse_name(text, what)
    if name == dns.name.root:
        raise Invalid(f"{what} may not be the root")
    _check_labels(name, what, wildcard=wildcard)
    return _plain(name)


def zone_name(text: str) -> str:
    return domain_name(text, "zone name")


def origin_of(zone: str) -> dns.name.Name:
    return dns.name.from_text(zone)


def record_name(text: str, zone: str) -> str:
    """A record's owner name, relative to its zone ("@" for the apex).

    "www", "www.example.com." and (as a convenience) "www.example.com" in zone example.com are all
    "www"; a name ending in a dot must be inside the zone.
    """
    origin = origin_of(zone)
    text = text.strip()
    if text in ("", "@"):
        return "@"
    lowered = text.lower()
    if not text.endswith(".") and (lowered == zone or lowered.endswith("." + zone)):
        text = text + "."  # written out in full without the final dot
    name = _parse_name(text, "record name", origin)
    if not name.is_subdomain(origin):
        raise Invalid(f"record name {text!r} is not inside the zone {zone}")
    _check_labels(name.relativize(origin) if name != origin else dns.name.empty, "record name", wildcard=True)
    if name == origin:
        return "@"
    return name.relativize(origin).to_text().lower()


def record_value(rtype: str, value: str, zone: str) -> str:
    """The canonical text of `value` as rdata of `rtype` in `zone`; raises Invalid saying what is wrong."""
    if rtype not in RECORD_TYPES:
        raise Invalid(f"record type must be one of {', '.join(RECORD_TYPES)}")
    text = value.strip()
    if not text:
        raise Invalid(f"{rtype} value is empty (expected something like {EXAMPLES[rtype]})")
    if _has_control(text):
        raise Invalid(f"{rtype} value contains control characters or line breaks")
    try:
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text, origin=origin_of(zone), relativize=False
        )
    except dns.exception.DNSException as exc:
        # dnspython's syntax messages say what was expected; they hold no internals.
        raise Invalid(f"invalid {rtype} value: {exc} (expected something like {EXAMPLES[rtype]})") from None
    except (UnicodeError, ValueError, TypeError):
        raise Invalid(f"invalid {rtype} value (expected something like {EXAMPLES[rtype]})") from None
    canonical = rdata.to_text()
    return canonical if rtype == "TXT" else canonical.lower()


def soa_name(text: str, zone: str, what: str, *, email: bool = False) -> str:
    """primary_ns / admin_email in zone-file form: relative inside the zone, absolute (final dot) outside."""
    origin = origin_of(zone)
    text = text.strip()
    if email and "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or "@" in local:
            raise Invalid(f"{what} is not a valid address")
        domain_part = _parse_name(domain if domain.endswith(".") else domain + ".", what)
        _check_labels(domain_part, what)
        if not re.fullmatch(r"[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*", local):
            raise Invalid(f"{what}: the part before @ may hold letters, digits, '_', '+', '-' and inner dots")
        if "." in local:
            # Kept as an address: the zone renderer escapes the dots of the local part.
            return f"{local.lower()}@{_plain(domain_part)}"
        name = dns.name.Name((local.lower().encode("ascii"), *domain_part.labels))
    else:
        name = _parse_name(text, what, origin)
    if name == dns.name.root:
        raise Invalid(f"{what} may not be the root")
    if name.is_subdomain(origin) and name != origin:
        return name.relativize(origin).to_text().lower()
    return name.to_text().lower()


def server_address(text: str) -> str:
    """A server address, "ip" or "ip:port" (IPv6 with a port as "[ip]:port"), normalised."""
    raw = text.strip()
    if not raw or _has_control(raw):
        raise Invalid("server address is empty")
    host, port = raw, None
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise Invalid(f"server {raw!r} is not an IP address or ip:port")
        port = rest[1:] if rest else None
        if rest and not port:
            raise Invalid(f"server {raw!r} has an empty port")
    elif raw.count(":") == 1:
        host, port = raw.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise Invalid(f"server {raw!r} is not an IP address or ip:port") from None
    if port is None:
        return str(ip)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Invalid(f"server {raw!r}: the port must be a number from 1 to 65535")
    host_text = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host_text}:{int(port)}"


def redirect_target(text: str) -> str:
    """Where an RPZ redirect points: an IP address or a host name."""
    raw = text.strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return domain_name(raw, "redirect_to")


def category(text: str) -> str:
    value = text.strip().lower()
    if not _CATEGORY.match(value):
        raise Invalid("category must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
    return value


def forwarder_name(text: str) -> str:
    value = text.strip()
    if not _FORWARDER_NAME.match(value):
        raise Invalid("name must be 1-64 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit")
    return value


def unique(values: list[str], what: str) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v in seen:
            raise Invalid(f"{what} lists {v} twice")
        seen[v] = None
    return list(seen)


def next_serial(current: int, now: datetime | None = None) -> int:
    """The serial after a change: YYYYMMDDnn, never lower than current + 1."""
    return max(current + 1, serial_base(now))


def serial_base(now: datetime | None = None) -> int:
    return int((now or datetime.now(UTC)).strftime("%Y%m%d")) * 100
