"""Server-side event filters: one definition for the live path, resume/replay and the history API.

    {"zones": ["corp.example"], "min_severity": "warning", "categories": ["dns"],
     "actors": ["alice"], "record_types": ["A"], "text": "mail"}

Every key is optional (a null value, or an empty list, is the same as leaving it out). Keys AND
together, the entries of one list OR together:

- zones: the event's `about.zone` or `about.name` is the zone or a name under it (suffix match on
  whole labels: "corp.example" matches "www.corp.example", not "xcorp.example"); an event with
  neither never matches.
- min_severity: the event's severity is at least this (info < warning < error < critical).
- categories: the event's category is one of these.
- actors: the event's actor is one of these (exact; an event without an actor never matches).
- record_types: `about.record_type` is one of these (only record_* events have one).
- text: a case-insensitive substring of `about.summary`.

Names are compared lowercase without the trailing dot. `parse_filter` refuses anything else with a
`FilterError` naming the field ("filter.zones.2"); the SQL form of the same semantics lives with
the history (B's module), and one table of cases (tests/filter_cases.py) checks that both agree.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

import orjson

from .about import normalize_name
from .events import REGISTRY, Category, Event, EventType, Severity

MAX_FILTER_BYTES = 4096  # the whole filter, as compact JSON
MAX_LIST = 16  # entries per list
MAX_ACTOR = 64
MAX_TEXT = 128
MAX_ZONE = 253

# The record types the DNS API takes (dns/rules.py RECORD_TYPES; the real-time layer may not import dns/).
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS")
SEVERITY_ORDER: tuple[Severity, ...] = (Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL)
SEVERITY_RANK: dict[Severity, int] = {s: i for i, s in enumerate(SEVERITY_ORDER)}
RECORD_EVENTS = frozenset({EventType.RECORD_CREATED, EventType.RECORD_UPDATED, EventType.RECORD_DELETED})
KEYS = ("zones", "min_severity", "categories", "actors", "record_types", "text")

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class FilterError(ValueError):
    """A filter refused: `field` names what is wrong ("filter.zones.0"), `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class EventFilter:
    zones: tuple[str, ...] = ()
    min_severity: Severity | None = None
    categories: frozenset[Category] = frozenset()
    actors: frozenset[str] = frozenset()
    record_types: frozenset[str] = frozenset()
    text: str | None = None
    # Derived once, for matching: the zones as suffixes, the least severity rank, the text casefolded.
    _suffixes: tuple[str, ...] = dataclasses.field(default=(), init=False, repr=False, compare=False)
    _min_rank: int = dataclasses.field(default=0, init=False, repr=False, compare=False)
    _needle: str | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_suffixes", tuple("." + z for z in self.zones))
        object.__setattr__(self, "_min_rank", SEVERITY_RANK[self.min_severity] if self.min_severity else 0)
        object.__setattr__(self, "_needle", self.text.casefold() if self.text is not None else None)

    @property
    def empty(self) -> bool:
        return not (self.zones or self.min_severity or self.categories or self.actors or self.record_types or self.text)

    def matches(self, event: Event) -> bool:
        if self._min_rank and SEVERITY_RANK[event.severity] < self._min_rank:
            return False
        if self.categories and REGISTRY[event.type].category not in self.categories:
            return False
        if self.actors and event.actor not in self.actors:
            return False
        about = event.about
        if self.record_types and about.record_type not in self.record_types:
            return False
        if self.zones and not self.matches_zone(about.zone, about.name):
            return False
        return self._needle is None or self._needle in about.folded

    def matches_zone(self, zone: str | None, name: str | None) -> bool:
        zones, suffixes = self.zones, self._suffixes
        for value in (zone, name):
            if value is not None and (value in zones or value.endswith(suffixes)):
                return True
        return False

    def event_types(self, types: Iterable[EventType]) -> frozenset[EventType]:
        """Of `types`, those whose events could match (categories and record_types depend on the type alone)."""
        out = frozenset(types)
        if self.categories:
            out = frozenset(t for t in out if REGISTRY[t].category in self.categories)
        if self.record_types:
            out &= RECORD_EVENTS
        return out

    def as_dict(self) -> dict[str, Any]:
        """The keys that are set, as a client would send them (and `subscriptions` echoes them)."""
        out: dict[str, Any] = {}
        if self.zones:
            out["zones"] = list(self.zones)
        if self.min_severity is not None:
            out["min_severity"] = self.min_severity.value
        if self.categories:
            out["categories"] = sorted(c.value for c in self.categories)
        if self.actors:
            out["actors"] = sorted(self.actors)
        if self.record_types:
            out["record_types"] = sorted(self.record_types)
        if self.text is not None:
            out["text"] = self.text
        return out


def parse_filter(obj: Any, field: str = "filter") -> EventFilter | None:
    """A filter from its JSON form (already decoded); None for null, {} or nothing set.

    Raises FilterError naming the first field at fault; unknown keys are refused."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise FilterError(field, "must be an object or null")
    try:
        size = len(orjson.dumps(obj))
    except TypeError:  # not JSON at all (a caller passing Python objects)
        raise FilterError(field, "must be JSON") from None
    if size > MAX_FILTER_BYTES:
        raise FilterError(field, f"must be at most {MAX_FILTER_BYTES} bytes as JSON")
    for key in obj:
        if key not in KEYS:
            shown = key[:32] if isinstance(key, str) else "?"
            raise FilterError(f"{field}.{shown}", f"unknown key; expected one of: {', '.join(KEYS)}")
    zones = _strings(obj.get("zones"), f"{field}.zones", _zone)
    severity = obj.get("min_severity")
    min_severity: Severity | None = None
    if severity is not None:
        if not isinstance(severity, str) or severity not in Severity._value2member_map_:
            raise FilterError(f"{field}.min_severity", "must be one of info, warning, error, critical")
        min_severity = Severity(severity)
    categories = _strings(obj.get("categories"), f"{field}.categories", _category)
    actors = _strings(obj.get("actors"), f"{field}.actors", _actor)
    record_types = _strings(obj.get("record_types"), f"{field}.record_types", _record_type)
    text = obj.get("text")
    if text is not None and (not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT):
        raise FilterError(f"{field}.text", f"must be a string of 1 to {MAX_TEXT} characters")
    parsed = EventFilter(
        zones=tuple(dict.fromkeys(zones)),
        min_severity=min_severity,
        categories=frozenset(Category(c) for c in categories),
        actors=frozenset(actors),
        record_types=frozenset(record_types),
        text=text,
    )
    return None if parsed.empty else parsed


def parse_filter_json(text: str, field: str = "filter") -> EventFilter | None:
    """A filter from its JSON text (the `?filter=` of a WebSocket URL, a query parameter)."""
    if len(text.encode()) > MAX_FILTER_BYTES:
        raise FilterError(field, f"must be at most {MAX_FILTER_BYTES} bytes as JSON")
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FilterError(field, "must be a JSON object (URL-encoded)") from None
    return parse_filter(obj, field)


def _strings(value: Any, field: str, check: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FilterError(field, "must be a list")
    if len(value) > MAX_LIST:
        raise FilterError(field, f"must have at most {MAX_LIST} entries")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise FilterError(f"{field}.{i}", "must be a string")
        normalized = check(item)
        if isinstance(normalized, FilterError):
            raise FilterError(f"{field}.{i}", normalized.message)
        out.append(normalized)
    return out


def _zone(value: str) -> str | FilterError:
    name = normalize_name(value)
    if name is None or len(name) > MAX_ZONE or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return FilterError("", "must be a DNS name (labels of 1 to 63 letters, digits, '-' or '_')")
    return name


def _category(value: str) -> str | FilterError:
    if value not in Category._value2member_map_:
        return FilterError("", f"must be one of {', '.join(c.value for c in Category)}")
    return value


def _actor(value: str) -> str | FilterError:
    if not 1 <= len(value) <= MAX_ACTOR:
        return FilterError("", f"must be 1 to {MAX_ACTOR} characters")
    return value


def _record_type(value: str) -> str | FilterError:
    upper = value.strip().upper()
    if upper not in RECORD_TYPES:
        return FilterError("", f"must be one of {', '.join(RECORD_TYPES)}")
    return upper


def zone_keys(zone: str | None, name: str | None) -> list[str]:
    """Every name a zones filter could list to match an event with this zone and name: each of them
    and every parent ("www.corp.example" -> "www.corp.example", "corp.example", "example")."""
    keys: list[str] = []
    for value in (zone, name):
        while value:
            if value in keys:
                break  # the zone's parents are the name's too
            keys.append(value)
            dot = value.find(".")
            value = value[dot + 1 :] if dot >= 0 else None
    return keys
