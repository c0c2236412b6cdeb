"""The one rule set for what may reach BIND: names, addresses, ports, TTLs, mailboxes, RPZ domains, rdata.

The API's validation (validation.py: `Invalid`, a 422) and the renderer (render.py: `RenderError`)
both call these functions, so a value the API accepts is a value the renderer writes, and the
renderer re-checks every token it writes against the same patterns: a gap in validation can never
become configuration. Every pattern is matched with `re.fullmatch` over ASCII-only classes (never
`$`, which also matches before a trailing newline).

Besides syntax, the rules include what makes `named` refuse a primary zone with its defaults
(`check-names primary fail`): owners of A, AAAA and MX records, the targets of MX, NS and SRV
records, the SOA's primary server and, in reverse zones, PTR targets must be host names (letters,
digits, '-'); the SOA mailbox's domain too. A wildcard may not own NS records. `zone_problems`
adds the rules that need the whole zone (an in-zone name server needs an address; a CNAME has
no other data beside it). `named-checkzone -k fail` stays the final judge where it is installed.

Names are handled in text form without escapes ("www", "www.example.com."): the label patterns
leave no character that would need one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_NAME = 253  # characters of a name without its final dot (255 octets on the wire)
TTL_MIN = 1
TTL_MAX = 604_800  # one week: BIND's own cap on cached TTLs
U16 = 65_535
U31 = 2**31 - 1  # SOA timers as BIND reads them
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS")
TXT_STRING_MAX = 255  # octets in one character-string

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# RFC 5322 atext without '$' (a zone-file directive); dots inside, escaped by the renderer.
_MAILBOX_ATOM = r"[A-Za-z0-9!#%&'*+/=?^_`{|}~-]+"
_MAILBOX_LOCAL = re.compile(rf"{_MAILBOX_ATOM}(?:\.{_MAILBOX_ATOM})*")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_SERVER = re.compile(
    r"(?P<v4>[0-9]{1,3}(?:\.[0-9]{1,3}){3})(?::(?P<port4>[0-9]{1,5}))?"
    r"|(?P<v6>[0-9A-Fa-f:.]{2,45})"
    r"|\[(?P<v6b>[0-9A-Fa-f:.]{2,45})\](?::(?P<port6>[0-9]{1,5}))?"
)
_NUMBER = re.compile(r"[0-9]{1,10}")
# A forwarder's name: shown in the UI and written into a comment of forwarders.conf.
FORWARDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
# One TXT character-string: printable ASCII, with '"' and '\' only escaped; \DDD for other octets.
_TXT_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[0-9]{3}|\\[\x20-\x2f\x3a-\x7e])*"'
_TXT = re.compile(rf"{_TXT_STRING}(?: {_TXT_STRING})*")
_TXT_ONE = re.compile(_TXT_STRING)
_REVERSE = ("in-addr.arpa", "ip6.arpa")
_RPZ_PREFIX = "rpz-"  # RPZ triggers (rpz-ip, rpz-nsdname...) and actions (rpz-passthru, rpz-drop...)


class RuleError(ValueError):
    """A value outside the rules; the message says what is wrong and is fit to show a user."""


def shown(text: str, limit: int = 80) -> str:
    """A value quoted for a message, shortened."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- names --------------------------------------------------------------------------------------


def labels(text: str, what: str, *, wildcard: bool = False, host: bool = False) -> list[str]:
    """The labels of a name in text form (relative, or absolute with a final dot), each checked.

    `wildcard`: a first label '*' is allowed; `host`: labels of a host name (no '_').
    """
    bare = text[:-1] if text.endswith(".") else text
    if not bare:
        raise RuleError(f"{what} is empty")
    if len(bare) > MAX_NAME:
        raise RuleError(f"{what} is longer than {MAX_NAME} characters")
    parts = bare.split(".")
    pattern = _HOST_LABEL if host else _LABEL
    for i, label in enumerate(parts):
        if label == "*" and wildcard and i == 0:
            continue
        if pattern.fullmatch(label):
            continue
        if not label:
            raise RuleError(f"{what} {shown(text)} has an empty label")
        if host and _LABEL.fullmatch(label):
            raise RuleError(f"{what} {shown(text)} must be a host name: letters, digits and '-' (no '_')")
        hint = " (a wildcard * may only be the first label)" if "*" in label else ""
        raise RuleError(
            f"{what}: label {shown(label)} may only hold letters, digits, '-' and '_', "
            f"may not start or end with '-', and has at most 63 characters{hint}"
        )
    return parts


def absolute(name: str, origin: str) -> str:
    """A zone-file name ('@', relative, absolute with a final dot) as a full name without the final dot."""
    if name == "@":
        return origin
    if name.endswith("."):
        return name[:-1]
    return f"{name}.{origin}"


def in_zone(name: str, origin: str) -> bool:
    """Whether the full name `name` is `origin` or below it (both lower case, no final dot)."""
    return name == origin or name.endswith("." + origin)


def zone_token(name: str, origin: str, what: str, *, wildcard: bool = False, host: bool = False) -> str:
    """A name as written in a zone file ('@', relative or absolute), checked whole; returns it."""
    if name != "@":
        labels(name, what, wildcard=wildcard)
    full = absolute(name.lower(), origin)
    if len(full) > MAX_NAME:
        raise RuleError(f"{what} {shown(name)} is longer than {MAX_NAME} characters within {origin}")
    if host and not is_host(full, wildcard=wildcard):
        raise RuleError(f"{what} {shown(full)} must be a host name: letters, digits and '-' (no '_')")
    return name


def is_host(full: str, *, wildcard: bool = False) -> bool:
    """BIND's host name rule (check-names) for a full name without the final dot; the root is one."""
    if full in ("", "."):
        return True
    parts = full.split(".")
    start = 1 if wildcard and parts[0] == "*" else 0
    return all(_HOST_LABEL.fullmatch(p) for p in parts[start:])


def _address_owner_ok(full: str) -> bool:
    # BIND lets Active Directory's gc._msdcs.<forest> own addresses although '_' is not a host character.
    if full.startswith("gc._msdcs."):
        return is_host(full[len("gc._msdcs.") :])
    return is_host(full, wildcard=True)


# --- addresses and servers ----------------------------------------------------------------------


def ip_address(text: str, what: str = "address", version: int | None = None) -> IPAddress:
    """An IP address, never with a scope id ('%...'), which BIND would copy into its configuration."""
    if "%" in text:
        raise RuleError(f"{what} {shown(text)}: a scope id (%...) is not allowed")
    if not (_IPV4.fullmatch(text) or (":" in text and _IPV6.fullmatch(text))):
        raise RuleError(f"{what} {shown(text)} is not an IP address")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise RuleError(f"{what} {shown(text)} is not an IP address") from None
    if version is not None and ip.version != version:
        raise RuleError(f"{what} {shown(text)} is not an IPv{version} address")
    return ip


def server(text: str) -> tuple[IPAddress, int | None]:
    """A server: 'ip', 'ip:port' (IPv4) or '[ipv6]:port'; nothing else (no scope id, no spaces)."""
    match = _SERVER.fullmatch(text)
    if match is None:
        hint = ": a scope id (%...) is not allowed" if "%" in text else " is not an IP address or ip:port"
        raise RuleError(f"server {shown(text)}{hint}")
    host = match["v4"] or match["v6"] or match["v6b"]
    port_text = match["port4"] or match["port6"]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise RuleError(f"server {shown(text)} is not an IP address or ip:port") from None
    if (match["v4"] and ip.version != 4) or ((match["v6"] or match["v6b"]) and ip.version != 6):
        raise RuleError(f"server {shown(text)} is not an IP address or ip:port ('[ipv6]:port' for IPv6)")
    port = None
    if port_text is not None:
        port = int(port_text)
        if not 1 <= port <= U16:
            raise RuleError(f"server {shown(text)}: the port must be a number from 1 to 65535")
    return ip, port


def server_text(ip: IPAddress, port: int | None) -> str:
    """The stored form of a server: 'ip', 'ip:port' or '[ipv6]:port'."""
    if port is None:
        return str(ip)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


# --- numbers --------------------------------------------------------------------------------------


def number(value: object, what: str, low: int, high: int) -> int:
    """An integer within [low, high] (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            value = int(value)
        else:
            raise RuleError(f"{what} must be a whole number")
    if not low <= value <= high:
        raise RuleError(f"{what} must be from {low} to {high}")
    return value


def ttl(value: object, what: str = "ttl") -> int:
    return number(value, what, TTL_MIN, TTL_MAX)


# --- SOA ----------------------------------------------------------------------------------------


def mailbox_local(local: str, what: str = "admin_email") -> str:
    """The part of an address before '@': it becomes the SOA mailbox's first label (dots escaped)."""
    if not _MAILBOX_LOCAL.fullmatch(local) or len(local) > 63:
        raise RuleError(
            f"{what}: the part before @ may hold letters, digits, inner dots and !#%&'*+/=?^_`{{|}}~- "
            "(at most 63 characters)"
        )
    return local


def soa_host(name: str, origin: str, what: str = "primary_ns") -> str:
    """The SOA's primary server in zone-file form: a host name."""
    if name == "@":
        raise RuleError(f"{what} may not be the zone itself")
    return zone_token(name, origin, what, host=True)


def soa_mailbox(value: str, origin: str, what: str = "admin_email") -> str:
    """The SOA mailbox as stored ('local@domain', or a name: relative or absolute), as a zone-file token.

    An address becomes a name whose first label is the local part, its dots escaped. BIND wants a
    mailbox name whose domain part (all labels but the first) is a host name.
    """
    if "@" in value:
        local, _, domain = value.partition("@")
        mailbox_local(local, what)
        labels(domain, what, host=True)
        if len(local) + 1 + len(domain.rstrip(".")) > MAX_NAME:
            raise RuleError(f"{what} is longer than {MAX_NAME} characters")
        return local.replace(".", "\\.") + f".{domain.rstrip('.')}."
    if value == "@":
        raise RuleError(f"{what} may not be the zone itself")
    first, _, _ = value.partition(".")
    mailbox_local(first, what)
    full = absolute(value, origin)
    if len(full) > MAX_NAME:
        raise RuleError(f"{what} {shown(value)} is longer than {MAX_NAME} characters within {origin}")
    rest = full.partition(".")[2]
    if not rest or not is_host(rest.lower()):
        raise RuleError(
            f"{what} {shown(full)}: the mail domain must be a host name: letters, digits and '-' (no '_'); "
            "give an address like hostmaster@example.com"
        )
    labels(rest, what, host=True)
    return value


# --- records ------------------------------------------------------------------------------------


def record_owner(name: str, rtype: str, origin: str) -> str:
    """A record's owner in zone-file form ('@', relative, or absolute inside the zone), checked for its type."""
    if rtype not in RECORD_TYPES:
        raise RuleError(f"record type must be one of {', '.join(RECORD_TYPES)}")
    zone_token(name, origin, "record name", wildcard=True)
    full = absolute(name.lower(), origin)
    if not in_zone(full, origin):
        raise RuleError(f"record name {shown(name)} is not inside the zone {origin}")
    wild = full.startswith("*.") or full == "*"
    if rtype == "NS" and wild:
        raise RuleError("a wildcard (*) cannot own NS records")
    if rtype == "CNAME" and full == origin:
        raise RuleError("a CNAME cannot be at the zone apex (@)")
    if rtype in ("A", "AAAA", "MX") and not _address_owner_ok(full):
        raise RuleError(
            f"an {rtype} record's name must be a host name: letters, digits and '-' (no '_'); {shown(full)} is not one"
        )
    return name


def _target(token: str, origin: str, what: str, *, host: bool, root: bool = False) -> str:
    if token == ".":
        if root:
            return token
        raise RuleError(f"{what} may not be the root (.)")
    if token == "@":
        raise RuleError(f"{what} must be written as a name, not @")
    return zone_token(token, origin, what, host=host)


def _u16(token: str, what: str) -> str:
    if not _NUMBER.fullmatch(token) or int(token) > U16:
        raise RuleError(f"{what} must be a number from 0 to 65535")
    return str(int(token))


def txt_strings(value: str) -> list[str]:
    """The quoted character-strings of a TXT value, each checked (printable, escaped, at most 255 octets)."""
    if not _TXT.fullmatch(value):
        raise RuleError('TXT value must be quoted strings like "v=spf1 mx -all", separated by single spaces')
    strings = [m.group() for m in _TXT_ONE.finditer(value)]
    for string in strings:
        octets = len(re.sub(r"\\[0-9]{3}|\\.", "x", string[1:-1]))
        if octets > TXT_STRING_MAX:
            raise RuleError(f"a TXT string holds at most {TXT_STRING_MAX} characters")
        if any(int(d) > 255 for d in re.findall(r"\\([0-9]{3})", string)):
            raise RuleError("a TXT escape \\DDD must be at most \\255")
    return strings


def rdata(rtype: str, value: str, origin: str, owner: str = "@") -> str:
    """A record value (rdata text) checked token by token for its type; returns the text to write.

    Names may be relative to `origin` or absolute; numbers are written without leading zeros.
    """
    if rtype == "TXT":
        return " ".join(txt_strings(value))
    tokens = value.split(" ")
    reverse = any(in_zone(absolute(owner.lower(), origin), r) for r in _REVERSE)
    expected = {"A": 1, "AAAA": 1, "CNAME": 1, "PTR": 1, "NS": 1, "MX": 2, "SRV": 4}.get(rtype)
    if expected is None:
        raise RuleError(f"record type must be one of {', '.join(RECORD_TYPES)}")
    if len(tokens) != expected:
        raise RuleError(f"{rtype} value {shown(value)} must have {expected} part(s) separated by single spaces")
    if rtype in ("A", "AAAA"):
        return str(ip_address(tokens[0], f"{rtype} value", 4 if rtype == "A" else 6))
    if rtype == "CNAME":
        return _target(tokens[0], origin, "CNAME target", host=False)
    if rtype == "PTR":
        return _target(tokens[0], origin, "PTR target", host=reverse)
    if rtype == "NS":
        return _target(tokens[0], origin, "NS target", host=True)
    if rtype == "MX":
        return f"{_u16(tokens[0], 'MX preference')} {_target(tokens[1], origin, 'MX exchange', host=True, root=True)}"
    priority, weight, port = (
        _u16(t, f"SRV {w}") for t, w in zip(tokens[:3], ("priority", "weight", "port"), strict=True)
    )
    return f"{priority} {weight} {port} {_target(tokens[3], origin, 'SRV target', host=True, root=True)}"


def zone_problems(origin: str, primary_ns: str, records: Iterable[tuple[str, str, str]]) -> list[str]:
    """What named would refuse across the records of one zone: (owner, type, value) in zone-file form.

    - a name server inside the zone (the primary_ns when no apex NS is given, or an NS target) needs an
      A or AAAA record, unless it lies below a delegation (then it is glue, and only a warning);
    - a CNAME has no other record beside it.
    """
    by_owner: dict[str, set[str]] = {}
    ns_targets: list[str] = []
    apex_ns = False
    delegations: set[str] = set()
    for owner, rtype, value in records:
        full = absolute(owner.lower(), origin)
        by_owner.setdefault(full, set()).add(rtype)
        if rtype == "NS":
            ns_targets.append(absolute(value.lower(), origin))
            if full == origin:
                apex_ns = True
            else:
                delegations.add(full)
    if not apex_ns:
        ns_targets.append(absolute(primary_ns.lower(), origin))
    problems: list[str] = []
    for full, types in sorted(by_owner.items()):
        if "CNAME" in types and len(types) > 1:
            others = ", ".join(sorted(types - {"CNAME"}))
            problems.append(f"{full} has a CNAME beside other records ({others})")
    for target in dict.fromkeys(ns_targets):
        if not in_zone(target, origin):
            continue
        if any(in_zone(target, d) for d in delegations):
            continue
        if not by_owner.get(target, set()) & {"A", "AAAA"}:
            rel = "@" if target == origin else target[: -len(origin) - 1]
            problems.append(
                f"name server {target} is inside the zone and has no address: add an A or AAAA record for {rel} "
                "first (or name a server outside the zone)"
            )
    return problems


# --- RPZ ----------------------------------------------------------------------------------------


def rpz_domain(text: str, rpz_zone: str) -> list[str]:
    """An RPZ rule's domain: one real domain of two labels or more, optionally with a leading '*.'.

    A lone '*', a top-level domain or an RPZ trigger label (rpz-ip, rpz-client-ip, rpz-nsdname,
    rpz-nsip) would make one rule answer for every name or every client.
    """
    if text in ("*", "*."):
        raise RuleError("domain '*' alone would match every name; name a domain like example.com")
    parts = labels(text, "domain", wildcard=True)
    base = parts[1:] if parts[0] == "*" else parts
    for label in parts:
        if label.lower().startswith(_RPZ_PREFIX):
            raise RuleError(
                f"domain {shown(text)}: labels starting with 'rpz-' are RPZ triggers and actions "
                "(rpz-ip, rpz-client-ip, rpz-nsdname, rpz-nsip...), not domains"
            )
    if len(base) < 2:
        raise RuleError(
            f"domain {shown(text)} is a top-level domain: a rule would cover every name in it; "
            "name a domain of at least two labels like example.com"
        )
    bare = text.rstrip(".")
    longest = bare if parts[0] == "*" else f"*.{bare}"
    if len(f"{longest}.{rpz_zone}") > MAX_NAME:
        raise RuleError(f"domain {shown(text)} is too long to be listed in the RPZ zone {rpz_zone}")
    return parts


def looks_like_ipv4(text: str) -> bool:
    return _IPV4.fullmatch(text) is not None


def rpz_redirect(text: str) -> str:
    """Where a redirect points: an IP address (no scope id) or a domain name (no wildcard, no rpz- label)."""
    if _IPV4.fullmatch(text) or ":" in text or "%" in text:
        return str(ip_address(text, "redirect_to"))
    parts = labels(text, "redirect_to")
    if any(p.lower().startswith(_RPZ_PREFIX) for p in parts):
        raise RuleError("redirect_to: labels starting with 'rpz-' are RPZ actions, not host names")
    return text


def rpz_address_owner_ok(domain: str) -> bool:
    """Whether the RPZ zone may hold an A/AAAA record for `domain` (and its '*.' form): BIND's host name rule."""
    return is_host(domain.rstrip(".").lower(), wildcard=True)
