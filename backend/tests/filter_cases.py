"""One table of filter cases, run against every place a filter applies: the live path, resume/replay
(test_filters_live.py) and the history API (/api/events). Each must give exactly the expected events.

`EVENTS` are emitted in this order (by an admin's view: every one is visible to an admin);
`CASES` pairs a filter (its JSON form, as a client sends it) with the keys of the events it keeps, in
emission order. The history's SQL matches `text` against a casefolded copy of the summary, as the live
path does; test_filter_fixture.py adds non-ASCII cases for the dashboard's matcher.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class CaseEvent:
    key: str
    type: str
    data: dict[str, Any]
    actor: str | None = None
    target_user: str | None = None
    severity: str | None = None  # None: the type's default

    def emit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `WebSocketEventService.emit` (after type and data)."""
        return {"actor": self.actor, "target_user": self.target_user, "severity": self.severity}


EVENTS: list[CaseEvent] = [
    CaseEvent("z1", "zone_created", {"zone": "corp.example", "zone_type": "master", "serial": 1}, actor="alice"),
    CaseEvent(
        "r1", "record_created", {"zone": "corp.example", "name": "www", "type": "A", "value": "192.0.2.1"}, "alice"
    ),
    CaseEvent(
        "r2",
        "record_updated",
        {"zone": "corp.example", "name": "mail.corp.example", "type": "MX", "value": "10 mx.corp.example."},
        actor="bob",
        severity="warning",
    ),
    CaseEvent(
        "r3", "record_deleted", {"zone": "xcorp.example", "name": "@", "type": "TXT", "value": '"v=spf1 -all"'}, "bob"
    ),
    CaseEvent("z2", "zone_deleted", {"zone": "lab.corp.example"}, actor="alice"),  # warning by default
    CaseEvent(
        "rpz1",
        "rpz_update",
        {"action": "added", "domains": ["bad.corp.example"], "rule_action": "block", "category": "malware"},
        actor="bob",
    ),
    CaseEvent(
        "t1",
        "threat_detected",
        {"client": "192.0.2.50", "name": "evil.example", "category": "malware", "action": "block"},
        severity="critical",
    ),
    CaseEvent(
        "s1",
        "security_alert",
        {"alert": "repeated_login_failures", "message": "12 failed logins from 198.51.100.7 (mail)"},
        severity="error",
    ),
    CaseEvent(
        "f1",
        "config_change",
        {"section": "forwarders", "change": "created", "forwarder": "corp-ad", "domains": ["corp.example"]},
        actor="alice",
    ),
    CaseEvent("u1", "user_created", {"username": "carol", "role": "viewer", "disabled": False}, "alice", "carol"),
    CaseEvent(
        "h1",
        "health_alert",
        {"forwarder": "corp-ad", "alert": "slow_response", "message": "forwarder corp-ad: slow response raised"},
        severity="error",
    ),
]

KEYS = [e.key for e in EVENTS]


@dataclasses.dataclass(frozen=True)
class FilterCase:
    name: str
    filter: dict[str, Any]
    expected: list[str]


CASES: list[FilterCase] = [
    FilterCase("nothing set", {}, KEYS),
    FilterCase("all keys null", {"zones": None, "min_severity": None, "text": None}, KEYS),
    FilterCase("zone and everything under it", {"zones": ["corp.example"]}, ["z1", "r1", "r2", "z2", "rpz1"]),
    FilterCase("zone written with case and dot", {"zones": ["CORP.Example."]}, ["z1", "r1", "r2", "z2", "rpz1"]),
    FilterCase("one record's name", {"zones": ["www.corp.example"]}, ["r1"]),
    FilterCase("a whole tld", {"zones": ["example"]}, ["z1", "r1", "r2", "r3", "z2", "rpz1", "t1"]),
    FilterCase("zones OR together", {"zones": ["lab.corp.example", "xcorp.example"]}, ["r3", "z2"]),
    FilterCase("a suffix is whole labels", {"zones": ["orp.example"]}, []),
    FilterCase("min severity warning", {"min_severity": "warning"}, ["r2", "z2", "t1", "s1", "h1"]),
    FilterCase("min severity error", {"min_severity": "error"}, ["t1", "s1", "h1"]),
    FilterCase("min severity critical", {"min_severity": "critical"}, ["t1"]),
    FilterCase("min severity info is everything", {"min_severity": "info"}, KEYS),
    FilterCase("one category", {"categories": ["security"]}, ["rpz1", "t1", "s1"]),
    FilterCase("categories OR together", {"categories": ["user", "health"]}, ["u1", "h1"]),
    FilterCase("one actor", {"actors": ["alice"]}, ["z1", "r1", "z2", "f1", "u1"]),
    FilterCase("actors OR together", {"actors": ["bob", "nobody"]}, ["r2", "r3", "rpz1"]),
    FilterCase("record types, any case", {"record_types": ["MX", "txt"]}, ["r2", "r3"]),
    FilterCase("text, any case", {"text": "MAIL"}, ["r2", "s1"]),
    FilterCase("text in a forwarder's name", {"text": "corp-ad"}, ["f1", "h1"]),
    FilterCase("zone AND severity", {"zones": ["corp.example"], "min_severity": "warning"}, ["r2", "z2"]),
    FilterCase(
        "zone AND actor AND category",
        {"zones": ["corp.example"], "actors": ["alice"], "categories": ["dns"]},
        ["z1", "r1", "z2"],
    ),
    FilterCase("record type AND severity: none", {"record_types": ["A"], "min_severity": "warning"}, []),
    FilterCase("zone AND text", {"zones": ["corp.example"], "text": "www"}, ["r1"]),
    FilterCase("category AND record types", {"categories": ["dns"], "record_types": ["A", "AAAA"]}, ["r1"]),
    FilterCase("record types exclude other categories", {"categories": ["security"], "record_types": ["A"]}, []),
]

# Bad filters: (filter, the field the error must name). Each is refused and changes nothing.
BAD_FILTERS: list[tuple[Any, str]] = [
    ("corp.example", "filter"),
    ([], "filter"),
    ({"zone": ["corp.example"]}, "filter.zone"),
    ({"zones": "corp.example"}, "filter.zones"),
    ({"zones": ["corp.example", "bad zone"]}, "filter.zones.1"),
    ({"zones": ["a..b"]}, "filter.zones.0"),
    ({"zones": ["x" * 64 + ".example"]}, "filter.zones.0"),
    ({"zones": [7]}, "filter.zones.0"),
    ({"zones": [f"z{i}.example" for i in range(17)]}, "filter.zones"),
    ({"min_severity": "loud"}, "filter.min_severity"),
    ({"min_severity": 2}, "filter.min_severity"),
    ({"categories": ["dns", "weather"]}, "filter.categories.1"),
    ({"actors": [""]}, "filter.actors.0"),
    ({"actors": ["a" * 65]}, "filter.actors.0"),
    ({"record_types": ["SOA"]}, "filter.record_types.0"),
    ({"text": ""}, "filter.text"),
    ({"text": "t" * 129}, "filter.text"),
    ({"text": ["mail"]}, "filter.text"),
    ({"actors": ["a" * 64] * 16, "zones": [".".join(["b" * 63] * 3 + ["c" * 57])] * 16}, "filter"),  # over 4 KiB
]
