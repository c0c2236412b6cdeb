"""Read state per user, persisted, so that badges agree across tabs, devices and restarts.

A user's read state is, over the event archive (archive.py):

- a mark: every event up to this archive seq is read ("mark all as read" moves it: one statement);
- the ids of events read one by one above it (`read_events`);
- filters marked read up to a seq ("mark all matching this filter as read": one row in
  `read_filters`, whatever the number of events it covers).

The unread count is computed in SQL (archive_query.py) over the archive, counting only events the
user could receive and that are news (periodic health_update and system_status are state, not
notifications): exact, whatever the number of unread events, and bounded by the archive's
retention. Every change is announced to every connection of the user, on every instance, as an
`acked` frame carrying the new count, and what became read: the ids, the new mark, or the filter and
the seq up to which the events matching it are read (so that other tabs can mark the rows they hold).

A user's read state starts at their first sign-in (`start_now`): everything published before it is
read, so a new user does not begin with the whole history as unread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ..auth.roles import Role
from ..db import Database
from ..models import ReadEvent, ReadFilter, ReadMark
from . import archive_query
from .archive import ARCHIVE, Archiver, insert_ignoring_duplicates
from .archive_query import (
    EntryError,
    ReadView,
    filter_clauses,
    filter_from_entries,
    notification_clause,
    visible_clause,
)
from .broker import Broker
from .events import NOT_NOTIFICATIONS, Event
from .filters import EventFilter
from .protocol import acked_frame

log = logging.getLogger("hybrid_dns.realtime")

MAX_READ_FILTERS = 16  # per user; past it the oldest is written out as ids read one by one
A = ARCHIVE.c


def is_notification(event: Event) -> bool:
    return event.type not in NOT_NOTIFICATIONS


def filter_key(f: EventFilter) -> str:
    """The canonical JSON of a filter: the same filter marked read twice is one row."""
    return orjson.dumps(f.as_dict(), option=orjson.OPT_SORT_KEYS).decode()


@dataclasses.dataclass(frozen=True, slots=True)
class Acked:
    """What an ack did: the ids marked read one by one, the new mark (after `all` / `up_to_seq` without
    a filter), the unread count, and, after an ack with a filter, that filter and the seq up to which
    the events matching it are now read. The REST answer and the `acked` frame say the same."""

    event_ids: list[str]
    up_to_seq: int | None
    unread_count: int
    filter: EventFilter | None = None
    filter_up_to_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The answer of POST /api/events/ack: the `acked` frame's keys (filter ones only when set)."""
        out: dict[str, Any] = {
            "event_ids": self.event_ids,
            "up_to_seq": self.up_to_seq,
            "unread_count": self.unread_count,
        }
        if self.filter is not None and self.filter_up_to_seq is not None:
            out["filter"] = self.filter.as_dict()
            out["filter_up_to_seq"] = self.filter_up_to_seq
        return out

    def frame(self) -> str:
        return acked_frame(self.as_dict())


class ReadState:
    def __init__(self, db: Database, broker: Broker, archiver: Archiver) -> None:
        self.db = db
        self.broker = broker
        self.archiver = archiver

    async def fresh(self) -> None:
        """Bring the archive up to what this instance has delivered (a client must find in history what
        it was sent); on failure, answer from what is archived."""
        try:
            await self.archiver.catch_up()
        except Exception as exc:
            log.warning("event archive not caught up before a read (%s)", type(exc).__name__)

    async def view(self, user_id: str) -> ReadView:
        async with self.db.engine.connect() as conn:
            return await self._view(conn, user_id)

    async def _view(self, conn: AsyncConnection, user_id: str) -> ReadView:
        mark = int(await conn.scalar(select(ReadMark.up_to_seq).where(ReadMark.user_id == user_id)) or 0)
        rows = (
            await conn.execute(
                select(ReadFilter.filter_json, ReadFilter.up_to_seq)
                .where(ReadFilter.user_id == user_id, ReadFilter.up_to_seq > mark)
                .order_by(ReadFilter.id)
            )
        ).all()
        filters: list[tuple[EventFilter, int]] = []
        for text, up_to in rows:
            try:
                obj = orjson.loads(text)
                parsed = filter_from_entries(obj) if isinstance(obj, dict) else None
            except (EntryError, orjson.JSONDecodeError):
                continue  # written by a version with other filter rules: it covers nothing now
            if parsed is not None:
                filters.append((parsed, int(up_to)))
        return ReadView(mark, tuple(filters))

    async def start_now(self, user_id: str, through_seq: int = 0) -> int:
        """Mark everything published so far read (and up to `through_seq`, a stream seq: the user's own
        sign-in event), for a user's first sign-in; returns the mark. No `acked` is sent: the user has
        no socket open yet."""
        await self.fresh()
        offset = await self.archiver.offset_of(self.broker.position().epoch)
        mark = max(await self.archiver.top_seq(), through_seq + offset if through_seq else 0)
        async with self.db.engine.begin() as conn:
            await self._raise_mark(conn, user_id, mark)
        return mark

    async def _raise_mark(self, conn: AsyncConnection, user_id: str, mark: int) -> None:
        """One statement: the mark becomes `mark` unless it is higher already; then what it covers goes."""
        epoch = self.broker.position().epoch
        table: Table = ReadMark.__table__  # type: ignore[assignment]
        dialect = conn.dialect.name
        stmt: Any
        if dialect in ("sqlite", "postgresql"):
            stmt = (sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)).values(
                user_id=user_id, epoch=epoch, up_to_seq=mark
            )
            higher = (func.max if dialect == "sqlite" else func.greatest)(table.c.up_to_seq, stmt.excluded.up_to_seq)
            stmt = stmt.on_conflict_do_update(index_elements=["user_id"], set_={"up_to_seq": higher, "epoch": epoch})
            await conn.execute(stmt)
        else:
            done = await conn.execute(
                update(table).where(table.c.user_id == user_id, table.c.up_to_seq < mark).values(up_to_seq=mark)
            )
            if (
                done.rowcount == 0
                and await conn.scalar(select(table.c.user_id).where(table.c.user_id == user_id)) is None
            ):
                await conn.execute(insert(table).values(user_id=user_id, epoch=epoch, up_to_seq=mark))
        await conn.execute(delete(ReadEvent).where(ReadEvent.user_id == user_id, ReadEvent.seq <= mark))
        await conn.execute(delete(ReadFilter).where(ReadFilter.user_id == user_id, ReadFilter.up_to_seq <= mark))

    async def unread_count(self, user_id: str, role: Role) -> int:
        await self.fresh()
        return await archive_query.unread_count(self.db, user_id, role, await self.view(user_id))

    async def ack(
        self,
        user_id: str,
        role: Role,
        *,
        event_ids: Sequence[str] | None = None,
        up_to_seq: int | None = None,
        all: bool = False,
        filter: EventFilter | None = None,
    ) -> Acked:
        """Mark events read; returns what was done (ids marked, new mark, unread count, and the filter
        with the seq it now reaches) and tells every tab the same in an `acked` frame.

        - `up_to_seq` / `all` without `filter`: every event up to that seq / up to now is read (the mark);
        - with `filter`: only the events matching it, up to that seq / now (one row, however many);
        - `event_ids`: those events, one by one.
        A seq beyond the newest archived event counts as the newest (nothing not yet seen is read)."""
        await self.fresh()
        top = await self.archiver.top_seq()
        acked: list[str] = []
        mark: int | None = None
        filter_up_to: int | None = None
        async with self.db.engine.begin() as conn:
            view = await self._view(conn, user_id)
            if filter is None and (all or up_to_seq is not None):
                wanted = top if all else min(up_to_seq or 0, top)
                mark = max(view.up_to_seq, wanted)
                if mark > view.up_to_seq:
                    await self._raise_mark(conn, user_id, mark)
                view = ReadView(mark, tuple((f, s) for f, s in view.filters if s > mark))
            if filter is not None and (all or up_to_seq is not None):
                up_to = top if all else min(up_to_seq or 0, top)
                if up_to > view.up_to_seq:
                    await self._mark_filter(conn, user_id, role, view, filter, up_to)
                # Whether this ack added a row, moved one, or found it (or the mark) there already,
                # every event matching the filter up to here is now read: other tabs may mark theirs.
                filter_up_to = up_to
            if event_ids:
                rows = (
                    await conn.execute(
                        select(A.id, A.seq)
                        .where(A.id.in_(set(event_ids)), A.seq > view.up_to_seq, visible_clause(user_id, role))
                        .order_by(A.seq)
                    )
                ).all()
                if rows:
                    stmt = insert_ignoring_duplicates(conn, ReadEvent.__table__)  # type: ignore[arg-type]
                    await conn.execute(stmt, [{"user_id": user_id, "event_id": r.id, "seq": r.seq} for r in rows])
                acked = [r.id for r in rows]
        unread = await archive_query.unread_count(self.db, user_id, role, await self.view(user_id))
        done = Acked(acked, mark, unread, filter if filter_up_to is not None else None, filter_up_to)
        await self.broker.notify_user(user_id, done.frame())
        return done

    async def _mark_filter(
        self, conn: AsyncConnection, user_id: str, role: Role, view: ReadView, f: EventFilter, up_to: int
    ) -> None:
        """One statement: the user's row for this filter now reaches `up_to` (or a new row says so)."""
        key = filter_key(f)
        raised = await conn.execute(
            update(ReadFilter)
            .where(ReadFilter.user_id == user_id, ReadFilter.filter_json == key, ReadFilter.up_to_seq < up_to)
            .values(up_to_seq=up_to)
        )
        if raised.rowcount:
            return
        exists_already = await conn.scalar(
            select(ReadFilter.id).where(ReadFilter.user_id == user_id, ReadFilter.filter_json == key).limit(1)
        )
        if exists_already is not None:
            return  # marked up to there or further already
        await conn.execute(
            insert(ReadFilter).values(user_id=user_id, filter_json=key, up_to_seq=up_to, created_at=time.time())
        )
        ids = (
            await conn.scalars(
                select(ReadFilter.id)
                .where(ReadFilter.user_id == user_id, ReadFilter.up_to_seq > view.up_to_seq)
                .order_by(ReadFilter.id)
            )
        ).all()
        for row_id in ids[: max(0, len(ids) - MAX_READ_FILTERS)]:
            await self._write_out(conn, user_id, role, view, row_id)

    async def _write_out(self, conn: AsyncConnection, user_id: str, role: Role, view: ReadView, row_id: int) -> None:
        """A filter row past the limit becomes the ids it covers (unread news only), read one by one."""
        row = (
            await conn.execute(select(ReadFilter.filter_json, ReadFilter.up_to_seq).where(ReadFilter.id == row_id))
        ).one()
        with contextlib.suppress(EntryError, orjson.JSONDecodeError, AttributeError):
            parsed = filter_from_entries(orjson.loads(row.filter_json))
            if parsed is not None:
                covered = select(literal(user_id), A.id, A.seq).where(
                    A.seq > view.up_to_seq,
                    A.seq <= row.up_to_seq,
                    notification_clause(),
                    visible_clause(user_id, role),
                    *filter_clauses(parsed),
                )
                table: Table = ReadEvent.__table__  # type: ignore[assignment]
                stmt = insert_ignoring_duplicates(conn, table).from_select(["user_id", "event_id", "seq"], covered)
                await conn.execute(stmt)
        await conn.execute(delete(ReadFilter).where(ReadFilter.id == row_id))
