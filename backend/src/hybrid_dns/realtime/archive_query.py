"""Reading the archive (archive.py): filters, role rules, read state and full-text search, as SQL.

Every rule here has a Python twin that the live path uses, and the SQL must give the same answer:

- `filter_clauses(f)` is `EventFilter.matches` (filters.py), case for case (tests/filter_cases.py
  runs one table of cases against the live path, replay and /api/events). Each clause is true or
  false, never NULL, so that a clause can be negated (read state) without losing rows.
- `visible_clause(user, role)` is `visible_to_user` (events.py): the event types the role may see,
  and for account events whom they are about (subject = target_user, else actor).
- `ReadView.read_clause(user)` is the user's read state (readstate.py): at or below the mark, read
  one by one, or covered by a "mark all matching" filter.
- `fts_clause(q)`: every word of `q` is a word prefix of the event's summary, zone, name, actor or
  type. Both sides split text the same way (archive.py `fts_words`), SQLite FTS5 and PostgreSQL's
  'simple' configuration then see the same words, so the answers agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
)

from ..auth.roles import Role
from ..db import Database
from ..models import ReadEvent
from .about import About
from .archive import ARCHIVE, BODIES, fts_words
from .events import EVENTS_BY_ROLE, NOT_NOTIFICATIONS, REGISTRY, Audience, Event, EventType, Severity
from .filters import SEVERITY_ORDER, SEVERITY_RANK, EventFilter, FilterError, parse_filter

A = ARCHIVE.c
B = BODIES.c
FTS = table("event_archive_fts", column("rowid"), column("event_archive_fts"))
MAX_FTS_WORDS = 32
EXPORT_BATCH = 1000
WINDOW = 4096  # seqs a history query looks at first
MAX_WINDOW = 1 << 20
_COLUMNS = (
    *(A.seq, A.id, A.type, A.severity, B.timestamp, A.actor, A.target_user),
    *(A.zone, A.name, A.record_type, B.summary, B.data_json),
)
_JOINED = ARCHIVE.join(BODIES, B.seq == A.seq)
# The body as subqueries see it (their own FROM: a page's query joins the body already).
_TEXT = BODIES.alias("text_body").c
_NOT_NEWS = sorted(t.value for t in NOT_NOTIFICATIONS)


class EntryError(ValueError):
    """A filter entry refused by filters.py's rules: which key, which entry of a list (None: not a list)."""

    def __init__(self, key: str, index: int | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.index = index
        self.message = message


def filter_from_entries(values: Mapping[str, Any]) -> EventFilter | None:
    """A filter from its JSON form by filters.py's rules, checked entry by entry: the HTTP API's
    query parameters and bodies, and the filters stored as read, are not bound by the 4 KiB a filter
    may take on the wire. Raises EntryError."""
    parsed: dict[str, list[Any]] = {}
    for key, value in values.items():
        if value is None:
            continue
        entries = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, entry in entries:
            try:
                if isinstance(entry, str):
                    entry.encode()  # a lone surrogate (JSON "\ud800") is no text a database can hold
                one = parse_filter({key: [entry] if index is not None else entry})
            except FilterError as exc:
                raise EntryError(key, index, exc.message) from None
            except UnicodeEncodeError:
                raise EntryError(key, index, "must be valid Unicode text") from None
            if one is not None:
                parsed.setdefault(key, []).append(getattr(one, key))
    if not parsed:
        return None
    return EventFilter(
        zones=tuple(dict.fromkeys(z for one in parsed.get("zones", ()) for z in one)),
        min_severity=parsed["min_severity"][0] if "min_severity" in parsed else None,
        categories=frozenset(c for one in parsed.get("categories", ()) for c in one),
        actors=frozenset(a for one in parsed.get("actors", ()) for a in one),
        record_types=frozenset(r for one in parsed.get("record_types", ()) for r in one),
        text=parsed["text"][0] if "text" in parsed else None,
    )


def filter_clauses(f: EventFilter) -> list[ColumnElement[bool]]:
    """`f.matches(event)` as SQL over the archive: one clause per key that is set (AND them)."""
    out: list[ColumnElement[bool]] = []
    if f.zones:
        zones = list(f.zones)
        out.append(
            or_(
                *(
                    and_(
                        col.is_not(None), or_(col.in_(zones), *(col.endswith("." + z, autoescape=True) for z in zones))
                    )
                    for col in (A.zone, A.name)
                )
            )
        )
    if f.min_severity is not None:
        out.append(A.severity.in_([s.value for s in SEVERITY_ORDER[SEVERITY_RANK[f.min_severity] :]]))
    if f.categories:
        out.append(A.category.in_(sorted(c.value for c in f.categories)))
    if f.actors:
        # A NUL never reaches the database (PostgreSQL text cannot hold one, archive.py drops them): such
        # an actor or text matches nothing, as it matches no stored event.
        actors = sorted(a for a in f.actors if "\x00" not in a)
        out.append(and_(A.actor.is_not(None), A.actor.in_(actors)) if actors else false())
    if f.record_types:
        out.append(and_(A.record_type.is_not(None), A.record_type.in_(sorted(f.record_types))))
    if f.text is not None:
        needle = f.text.casefold()
        if "\x00" in needle:
            out.append(false())
        else:
            out.append(exists().where(_TEXT.seq == A.seq, _TEXT.folded.contains(needle, autoescape=True)))
    return out


def visible_clause(user: str, role: Role, types: Iterable[EventType] | None = None) -> ColumnElement[bool]:
    """`visible_to_user(event, user, role)` as SQL, for the event types in `types` (default: all)."""
    allowed = EVENTS_BY_ROLE[role] if types is None else EVENTS_BY_ROLE[role] & frozenset(types)
    everyone: list[str] = []
    about_them: list[str] = []
    for etype in sorted(allowed):
        audience = REGISTRY[etype].audience
        if audience is Audience.EVERYONE or (role is Role.ADMIN and audience is not Audience.SUBJECT_ONLY):
            everyone.append(etype.value)
        elif audience in (Audience.SUBJECT_ONLY, Audience.SUBJECT_OR_ADMIN):
            about_them.append(etype.value)
        # Audience.ADMINS, not an admin: never
    clauses: list[ColumnElement[bool]] = []
    if everyone:
        clauses.append(A.type.in_(everyone))
    if about_them:
        subject = func.coalesce(A.target_user, A.actor)
        clauses.append(and_(A.type.in_(about_them), subject.is_not(None), subject == user))
    return or_(*clauses) if clauses else false()


def notification_clause() -> ColumnElement[bool]:
    """News, not state: what can be unread (readstate.py `is_notification`)."""
    return A.type.not_in(_NOT_NEWS)


def fts_clause(q: str, dialect: str) -> ColumnElement[bool]:
    """Every word of `q` is the start of a word of the event's summary, zone, name, actor or type."""
    words = list(dict.fromkeys(fts_words(q)))[:MAX_FTS_WORDS]
    if not words:
        return false()  # nothing to look for (only punctuation): nothing is found
    if dialect == "sqlite":
        # Words are letters and digits only, so quoting them is all the escaping FTS5 needs.
        expression = " AND ".join(f'"{w}"*' for w in words)
        return A.seq.in_(select(FTS.c.rowid).where(FTS.c.event_archive_fts.match(expression)))
    if dialect == "postgresql":
        tsquery = " & ".join(f"{w}:*" for w in words)
        matches = literal_column("text_body.search_tsv").op("@@")(
            func.to_tsquery(literal_column("'simple'::regconfig"), tsquery)
        )
        return A.seq.in_(select(_TEXT.seq).where(matches))
    # Any other database: the same word-prefix semantics, without an index.
    padded = func.concat(" ", _TEXT.search)
    return A.seq.in_(select(_TEXT.seq).where(*(padded.contains(" " + w, autoescape=True) for w in words)))


@dataclasses.dataclass(frozen=True, slots=True)
class ReadView:
    """A user's read state as it stands (readstate.py loads it): the mark, and the filters marked read."""

    up_to_seq: int
    filters: tuple[tuple[EventFilter, int], ...] = ()

    def read_clause(self, user: str) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = [
            A.seq <= self.up_to_seq,
            exists().where(ReadEvent.user_id == user, ReadEvent.event_id == A.id),
        ]
        for f, up_to in self.filters:
            parts.append(and_(A.seq <= up_to, *filter_clauses(f)))
        return or_(*parts)

    def unread_clause(self, user: str, *, one_by_one: bool = True) -> ColumnElement[bool]:
        """Unread news. `one_by_one=False` leaves out the events read one by one (a count subtracts them)."""
        parts: list[ColumnElement[bool]] = [A.seq > self.up_to_seq, notification_clause()]
        if one_by_one:
            parts.append(~exists().where(ReadEvent.user_id == user, ReadEvent.event_id == A.id))
        for f, up_to in self.filters:
            parts.append(~and_(A.seq <= up_to, *filter_clauses(f)))
        return and_(*parts)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What a history request asks for, on top of what the user may see."""

    user: str
    role: Role
    filter: EventFilter | None = None
    types: frozenset[EventType] | None = None  # the `type` parameter
    q: str | None = None
    since: float | None = None  # unix time, inclusive
    until: float | None = None  # unix time, exclusive
    unread: bool | None = None  # True: unread news only; False: everything else

    def clauses(self, dialect: str, view: ReadView) -> list[ColumnElement[bool]]:
        types: Iterable[EventType] | None = self.types
        if self.filter is not None:
            types = self.filter.event_types(EventType if types is None else types)
        out = [visible_clause(self.user, self.role, types)]
        if self.filter is not None:
            out.extend(filter_clauses(self.filter))
        if self.since is not None:
            out.append(A.time >= self.since)
        if self.until is not None:
            out.append(A.time < self.until)
        if self.q is not None:
            out.append(fts_clause(self.q, dialect))
        if self.unread is True:
            out.append(view.unread_clause(self.user))
        elif self.unread is False:
            out.append(~view.unread_clause(self.user))
        return out


def row_event(row: Any) -> Event:
    etype = EventType(row.type)
    return Event(
        type=etype,
        id=row.id,
        seq=row.seq,
        severity=Severity(row.severity),
        timestamp=row.timestamp,
        actor=row.actor,
        target_user=row.target_user,
        data_json=bytes(row.data_json),
        about=About.from_row(etype, row.zone, row.name, row.record_type, row.summary),
    )


async def _bounds(db: Database) -> tuple[int, int] | None:
    async with db.engine.connect() as conn:
        low, high = (await conn.execute(select(func.min(A.seq), func.max(A.seq)))).one()
    return None if low is None else (int(low), int(high))


async def _walk(
    db: Database, columns: Any, where: list[ColumnElement[bool]], low: int, high: int, *, descending: bool, want: int
) -> AsyncIterator[list[Any]]:
    """The rows matching `where` with low <= seq <= high, in seq order (or reversed), `want` at most
    per query, read window by window: each query looks at a bounded range of seqs (WINDOW, doubling
    while little is found), so that its cost never depends on how the database plans an ORDER BY
    with LIMIT over the whole archive (PostgreSQL, before it has statistics, sorts everything)."""
    window = WINDOW
    while low <= high:
        lo, hi = (max(low, high - window + 1), high) if descending else (low, min(high, low + window - 1))
        stmt = (
            select(*columns)
            .select_from(_JOINED)
            .where(*where, A.seq >= lo, A.seq <= hi)
            .order_by(A.seq.desc() if descending else A.seq.asc())
            .limit(want)
        )
        async with db.engine.connect() as conn:
            rows = list((await conn.execute(stmt)).all())
        if rows:
            yield rows
        if len(rows) == want:  # the window holds more: go on from the last row
            if descending:
                high = rows[-1].seq - 1
            else:
                low = rows[-1].seq + 1
            continue
        if descending:
            high = lo - 1
        else:
            low = hi + 1
        if len(rows) < want // 4:
            window = min(window * 2, MAX_WINDOW)


async def page(
    db: Database,
    query: HistoryQuery,
    view: ReadView,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
) -> tuple[list[tuple[Event, bool]], bool]:
    """A page of (event, read), oldest first, and whether the page was cut by `limit`: with
    `after_seq`, the first `limit` events after it; otherwise the newest (below `before_seq`)."""
    bounds = await _bounds(db)
    if bounds is None:
        return [], False
    low, high = bounds
    if after_seq is not None:
        low = max(low, after_seq + 1)
    if before_seq is not None:
        high = min(high, before_seq - 1)
    where = query.clauses(db.engine.dialect.name, view)
    columns = (*_COLUMNS, view.read_clause(query.user).label("is_read"))
    rows: list[Any] = []
    async for found in _walk(db, columns, where, low, high, descending=after_seq is None, want=limit + 1):
        rows += found[: limit + 1 - len(rows)]
        if len(rows) > limit:
            break
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after_seq is None:
        rows.reverse()
    return [(row_event(r), bool(r.is_read)) for r in rows], has_more


async def count(db: Database, query: HistoryQuery, view: ReadView) -> int:
    where = query.clauses(db.engine.dialect.name, view)
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ARCHIVE).where(*where)) or 0)


async def unread_count(db: Database, user: str, role: Role, view: ReadView) -> int:
    """Unread news the user may see: exact, in two index-friendly counts (candidates, minus those
    among them read one by one) rather than one lookup per unread event."""
    visible = visible_clause(user, role)
    candidates = view.unread_clause(user, one_by_one=False)
    async with db.engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(ARCHIVE).where(visible, candidates))
        if not total:
            return 0
        read_one_by_one = await conn.scalar(
            select(func.count())
            .select_from(ReadEvent)
            .join(ARCHIVE, A.id == ReadEvent.event_id)
            .where(ReadEvent.user_id == user, ReadEvent.seq > view.up_to_seq, visible, candidates)
        )
    return int(total) - int(read_one_by_one or 0)


async def export_batches(
    db: Database, query: HistoryQuery, view: ReadView, *, through_seq: int, batch: int = EXPORT_BATCH
) -> AsyncIterator[list[Event]]:
    """Every matching event up to `through_seq`, oldest first, `batch` at a time: one short query
    per batch (keyset on seq), so that memory stays flat and no transaction stays open between them."""
    bounds = await _bounds(db)
    if bounds is None:
        return
    where = query.clauses(db.engine.dialect.name, view)
    async for rows in _walk(db, _COLUMNS, where, bounds[0], min(bounds[1], through_seq), descending=False, want=batch):
        yield [row_event(r) for r in rows]


__all__ = [
    "EntryError",
    "HistoryQuery",
    "ReadView",
    "count",
    "export_batches",
    "filter_clauses",
    "filter_from_entries",
    "fts_clause",
    "notification_clause",
    "page",
    "unread_count",
    "visible_clause",
]
