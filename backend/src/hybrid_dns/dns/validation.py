"""Validation and normalisation of what the DNS API stores: names, record data, servers, serials.

Every function raises `Invalid` with a message fit to show the user (never an internal detail);
the API turns it into a 422. User input is parsed and normalised here (dnspython: escapes, IDNA,
relative names); what is stored is then checked against the rule set the renderer also applies
(rules.py), so nothing is stored that BIND would be given but refuse.

Conventions of what is stored:
- zone names, RPZ domains and forwarder domains: lower case, no trailing dot, IDNA (punycode);
- record names: relative to their zone, lower case, "@" for the apex;
- record values: dnspython's canonical text for the type with absolute names (trailing dot), names
  in lower case (TXT keeps its case), so equal data compares equal;
- SOA primary_ns / admin_email: zone-file text, relative to the zone when inside it ("ns1"),
  absolute with a trailing dot otherwise ("ns.provider.net."); an admin_email whose part before @
  holds more than letters, digits, '_' and '-' stays an address ("first.last@example.com");
- servers: "ip" or "ip:port" ("[v6]:port" for IPv6 with a port), never an IPv6 scope id.

Serials are YYYYMMDDnn (RFC 1912): the first change of a day jumps to YYYYMMDD00 unless the serial
is already past it; every change adds one otherwise. They never decrease, even after 99 changes in
a day (the serial then runs ahead of the date and keeps increasing by one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from . import rules

T = TypeVar("T")

RECORD_TYPES = rules.RECORD_TYPES
TTL_MIN = rules.TTL_MIN
TTL_MAX = rules.TTL_MAX
ZONE_TYPES = ("master", "forward")
RPZ_ACTIONS = ("block", "redirect", "passthru")
FORWARDER_TYPES = ("active_directory", "intranet", "public")

_CATEGORY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_-]+")

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


def _checked(check: Callable[[], T]) -> T:
    """Run a check of the shared rule set, its RuleError becoming Invalid."""
    try:
        return check()
    except rules.RuleError as exc:
        raise Invalid(str(exc)) from None


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


def _text(name: dns.name.Name, what: str) -> str:
    """A parsed name as plain text (lower case, no final dot); labels the rules refuse are refused here."""
    parts = []
    for label in name.relativize(dns.name.root).labels:
        try:
            parts.append(label.decode("ascii").lower())
        except UnicodeDecodeError:
            raise Invalid(f"{what}: labels may only hold letters, digits, '-' and '_'") from None
    return ".".join(parts)


def domain_name(text: str, what: str = "domain", *, wildcard: bool = False) -> str:
    """A fully qualified domain name (zone, forwarded domain), normalised."""
    name = _parse_name(text, what)
    if name == dns.name.root:
        raise Invalid(f"{what} may not be the root")
    plain = _text(name, what)
    _checked(lambda: rules.labels(plain, what, wildcard=wildcard))
    return plain


def zone_name(text: str) -> str:
    return domain_name(text, "zone name")


def default_admin_email(zone: str) -> str:
    """The SOA mailbox a new zone gets when none is given: hostmaster in the zone, or, for a zone whose
    name is not a host name (like _msdcs.corp.local, where BIND would refuse that mailbox), at the
    closest parent that is one."""
    parts = zone.split(".")
    for i in range(len(parts)):
        rest = ".".join(parts[i:])
        if rules.is_host(rest):
            return "hostmaster" if i == 0 else f"hostmaster@{rest}"
    return "hostmaster"


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
    if name == origin:
        return "@"
    relative = _text(name.relativize(origin), "record name")
    _checked(lambda: rules.zone_token(relative, zone, "record name", wildcard=True))
    return relative


def record_value(rtype: str, value: str, zone: str, owner: str = "@") -> str:
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
    canonical = canonical if rtype == "TXT" else canonical.lower()
    _checked(lambda: rules.rdata(rtype, canonical, zone, owner))
    return canonical


def record_owner(owner: str, rtype: str, zone: str) -> str:
    """An owner name (from `record_name`) checked for a record of `rtype` (no CNAME at the apex, host
    names for addresses and mail exchangers...)."""
    return _checked(lambda: rules.record_owner(owner, rtype, zone))


def record(name: str, rtype: str, value: str, zone: str) -> tuple[str, str]:
    """A record's owner (relative) and value (canonical), checked as BIND will check them in `zone`."""
    owner = record_owner(record_name(name, zone), rtype, zone)
    return owner, record_value(rtype, value, zone, owner)


def soa_name(text: str, zone: str, what: str, *, email: bool = False) -> str:
    """primary_ns / admin_email in zone-file form: relative inside the zone, absolute (final dot) outside.

    An address whose part before @ holds more than letters, digits, '_' and '-' is kept as an address
    ("first.last@example.com"): the renderer turns it into a mailbox name, escaping its dots.
    """
    origin = origin_of(zone)
    text = text.strip()
    if _has_control(text):
        raise Invalid(f"{what} contains control characters")
    if email and "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or "@" in local:
            raise Invalid(f"{what} is not a valid address")
        _checked(lambda: rules.mailbox_local(local, what))
        domain_text = _text(_parse_name(domain if domain.endswith(".") else domain + ".", what), what)
        if not domain_text:
            raise Invalid(f"{what} needs a domain after @")
        if not _PLAIN_LOCAL.fullmatch(local):
            stored = f"{local}@{domain_text}"
            _checked(lambda: rules.soa_mailbox(stored, zone, what))
            return stored
        full = f"{local.lower()}.{domain_text}"
    else:
        name = _parse_name(text, what, origin)
        if name == dns.name.root:
            raise Invalid(f"{what} may not be the root")
        full = _text(name, what)
    stored = full[: -len(zone) - 1] if full.endswith("." + zone) else f"{full}."
    if full == zone:
        raise Invalid(f"{what} may not be the zone itself")
    if email:
        _checked(lambda: rules.soa_mailbox(stored, zone, what))
    else:
        _checked(lambda: rules.soa_host(stored, zone, what))
    return stored


def server_address(text: str) -> str:
    """A server address, "ip" or "ip:port" (IPv6 with a port as "[ip]:port"), normalised."""
    raw = text.strip()
    if not raw:
        raise Invalid("server address is empty")
    ip, port = _checked(lambda: rules.server(raw))
    return rules.server_text(ip, port)


def rpz_domain(text: str, rpz_zone: str) -> str:
    """An RPZ rule's domain, normalised: a real domain (two labels or more), optionally with a leading '*.'."""
    raw = text.strip()
    if raw.rstrip(".") == "*":
        _checked(lambda: rules.rpz_domain("*", rpz_zone))
    name = _parse_name(raw, "domain")
    if name == dns.name.root:
        raise Invalid("domain may not be the root")
    plain = _text(name, "domain")
    _checked(lambda: rules.rpz_domain(plain, rpz_zone))
    return plain


def redirect_target(text: str) -> str:
    """Where an RPZ redirect points: an IP address (no scope id) or a domain name."""
    raw = text.strip()
    if not raw:
        raise Invalid("redirect_to is empty")
    if _has_control(raw):
        raise Invalid("redirect_to contains control characters")
    if ":" in raw or "%" in raw or rules.looks_like_ipv4(raw):
        return _checked(lambda: rules.rpz_redirect(raw))
    plain = domain_name(raw, "redirect_to")
    return _checked(lambda: rules.rpz_redirect(plain))


def category(text: str) -> str:
    value = text.strip().lower()
    if not _CATEGORY.fullmatch(value):
        raise Invalid("category must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
    return value


def forwarder_name(text: str) -> str:
    value = text.strip()
    if not rules.FORWARDER_NAME.fullmatch(value):
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
