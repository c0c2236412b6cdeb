"""The searchable event history: every published event, archived once, in the app database.

The broker's own history (EVENT_HISTORY_SIZE / EVENT_HISTORY_TTL) is what a reconnecting client
resumes from; the archive is what people search: `GET /api/events`, the export and the read state
read it (archive_query.py). One mechanism serves both brokers:

- The archiver copies what the broker has delivered to this instance (`broker.history()`, served
  from the instance's memory) into `event_archive`, in seq order, in batches. It runs on the leader
  (the one instance holding the leader lease; with the embedded broker, the only one) a moment after
  events arrive, and on any instance before it answers a history request, so that a client always
  finds the events it has already been sent.
- It is idempotent and ordered: each stream epoch has one row in `event_archive_epochs` saying how
  far it is archived, and a batch commits only if it moves that mark from where the batch started
  (compare-and-set, in the batch's transaction), with insert-or-ignore by seq and id. Two instances
  archiving at once (a leader change) write each event once, and the archive's seqs only ever grow
  in commit order, so keyset paging by seq is exact under concurrent inserts.
- A leader change loses nothing: the new leader goes on from the mark in the database, out of the
  broker's history (which holds EVENT_HISTORY_SIZE events: far more than a lease's 6 s of events).
- The seq an event has in the archive is its stream seq, plus its epoch's offset: 0, unless a Redis
  broker lost its data and numbered its new epoch from below seqs the archive already holds (then
  the archive goes on above them; events republished into the new epoch keep their first row).

Retention (the leader, every PRUNE_EVERY seconds): rows older than EVENT_ARCHIVE_MAX_AGE_DAYS and
beyond the newest EVENT_ARCHIVE_MAX_ROWS go, in chunks, with the read state that only they needed.

Two tables, one row each per event, same seq: `event_archive`, narrow (what filters, role rules and
read state look at: counting 100,000 unread events reads little), and `event_archive_body` (the
summary, the payload, and `search`: the words of the summary, zone, name, actor and type, casefolded,
split on anything but letters and digits, so that SQLite FTS5 with the `ascii` tokenizer and
PostgreSQL's `to_tsvector('simple', ...)` see the same words).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import Database
from ..models import EventArchive, EventArchiveBody, EventArchiveEpoch, ReadEvent, ReadFilter
from .broker import Broker, BrokerUnavailable
from .events import Event

log = logging.getLogger("hybrid_dns.realtime")

ARCHIVE = cast(Table, EventArchive.__table__)
BODIES = cast(Table, EventArchiveBody.__table__)
EPOCHS = cast(Table, EventArchiveEpoch.__table__)
BATCH = 1000  # events per archive transaction, at most
SETTLE = 0.05  # seconds the leader lets events gather before it archives them
POLL = 0.1  # seconds between the leader's looks at the stream position
PRUNE_EVERY = 60.0
PRUNE_CHUNK = 5000  # rows deleted per statement
RECENT = 50_000  # events the leader holds, as they are dispatched, until they are archived
ANALYZE_AFTER = 20_000  # rows archived before the leader refreshes PostgreSQL's statistics of the archive

_WORDS = re.compile(r"[^\W_]+")


def fts_words(*texts: str | None) -> list[str]:
    """The words full-text search sees in these texts: runs of letters and digits, casefolded."""
    return _WORDS.findall(" ".join(t for t in texts if t).casefold())


def _clean(value: str | None, limit: int) -> str | None:
    # PostgreSQL text holds no NUL; the columns are bounded (a value that long is no real name anyway).
    return None if value is None else value.replace("\x00", "")[:limit]


def _unix(timestamp: str, default: float) -> float:
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return default


def archive_rows(event: Event, epoch: str, offset: int, now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event's `event_archive` row and its `event_archive_body` row."""
    about = event.about
    summary = _clean(about.summary, 1000) or ""
    zone, name, actor = _clean(about.zone, 253), _clean(about.name, 253), _clean(event.actor, 64)
    seq = event.seq + offset
    row = {
        "seq": seq,
        "id": event.id,
        "epoch": epoch,
        "type": event.type.value,
        "category": event.category.value,
        "severity": event.severity.value,
        "time": _unix(event.timestamp, now),
        "actor": actor,
        "target_user": _clean(event.target_user, 64),
        "zone": zone,
        "name": name,
        "record_type": _clean(about.record_type, 16),
        "created_at": now,
    }
    body = {
        "seq": seq,
        "timestamp": event.timestamp,
        "summary": summary,
        "folded": summary.casefold(),
        "search": " ".join(fts_words(summary, zone, name, actor, event.type.value)),
        "data_json": event.data_json,
    }
    return row, body


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    """INSERT that skips rows whose seq or id is already there (SQLite, PostgreSQL, else plain)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return insert(table)


class Archiver:
    """Copies the stream into `event_archive` (see the module's docstring) and keeps it bounded."""

    def __init__(
        self,
        db: Database,
        broker: Broker,
        *,
        max_age_days: Callable[[], float],
        max_rows: Callable[[], int],
        is_leader: Callable[[], bool],
    ) -> None:
        self.db = db
        self.broker = broker
        self.max_age_days = max_age_days
        self.max_rows = max_rows
        self.is_leader = is_leader
        self._lock = asyncio.Lock()
        self._known: tuple[str, int] = ("", -1)  # (epoch, stream seq) known to be archived
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self.archived = 0  # events this instance archived (stats, tests)
        self.pruned = 0
        self.lost = 0  # events the broker no longer had when they were to be archived
        self._since_analyze = ANALYZE_AFTER  # at the first maintenance too: the planner's view may be stale
        # What the leader was dispatched and has not archived yet, with its epoch: archived from here, so
        # that a burst larger than the broker's history (EVENT_HISTORY_SIZE) is not lost to the archive.
        self._recent: collections.deque[tuple[str, Event]] = collections.deque(maxlen=RECENT)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-archiver")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.is_leader():
            with contextlib.suppress(Exception):
                await self.catch_up()  # what the last moments published, before the next leader must

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await asyncio.sleep(POLL if failures == 0 else min(5.0, 0.5 * 2**failures))
                if not self.is_leader():
                    continue
                if self.behind():
                    await asyncio.sleep(SETTLE)
                    self._since_analyze += await self.catch_up()
                if self._since_analyze >= ANALYZE_AFTER:
                    self._since_analyze = 0
                    await self.analyze()
                now = time.time()
                if now - self._last_prune >= PRUNE_EVERY:
                    self._last_prune = now
                    await self.prune(now)
                failures = 0
            except asyncio.CancelledError:
                raise
            except BrokerUnavailable:
                failures = min(failures + 1, 4)
            except Exception:
                failures = min(failures + 1, 4)
                log.exception("event archive: archiving failed; retrying")

    # --- archiving -------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """The hub's hook, for every event dispatched on this instance: the leader keeps it until archived."""
        if self.is_leader():
            self._recent.append((self.broker.position().epoch, event))

    def _from_recent(self, epoch: str, through: int, last_seq: int) -> list[Event]:
        """The events right after `through` that the leader holds, consecutive, of this epoch (or none)."""
        recent = self._recent
        while recent and (recent[0][0] != epoch or recent[0][1].seq <= through):
            recent.popleft()  # archived already, or of an epoch the stream has left
        out: list[Event] = []
        expected = through + 1
        for event_epoch, event in recent:
            if event_epoch != epoch or event.seq != expected or event.seq > last_seq or len(out) >= BATCH:
                break
            out.append(event)
            expected += 1
        return out

    def behind(self) -> bool:
        """Whether this instance has delivered events it does not know to be archived (no I/O)."""
        position = self.broker.position()
        epoch, through = self._known
        return epoch != position.epoch or through < position.last_seq

    async def catch_up(self) -> int:
        """Archive everything this instance's broker has delivered; returns how many rows were written.

        Cheap when nothing is new (no I/O at all once this instance knows the archive is current)."""
        if not self.behind():
            return 0
        written = 0
        async with self._lock:
            for _ in range(10_000):  # bounded: a stream moving faster than this is caught up next time
                more, count = await self._round()
                written += count
                if not more:
                    break
        return written

    async def _round(self) -> tuple[bool, int]:
        """One batch: returns (whether there may be more, rows written)."""
        position = self.broker.position()
        epoch = position.epoch
        state = await self._epoch_state(epoch)
        through = state[1] if state is not None else 0
        if through >= position.last_seq:
            self._known = (epoch, through)
            return False, 0
        events = self._from_recent(epoch, through, position.last_seq)
        if events:
            page = None
        else:
            page = await self.broker.history(through, BATCH)
            if page.position.epoch != epoch:
                return True, 0  # the stream moved to another epoch meanwhile: again, in that one
            events = [e for e in page.events if e.seq <= position.last_seq]
        if page is not None and not events:
            if page.first_kept_seq > through + 1:
                # The broker no longer keeps what follows the mark: archive what it still has.
                gap = page.first_kept_seq - 1 - through
                if state is None:
                    # An epoch new to the archive (a first start): it begins where the broker's history does.
                    log.info("event archive: archiving epoch %s from seq %d", epoch, page.first_kept_seq)
                else:
                    # The archive was stopped for longer than the broker's history lasts.
                    self.lost += gap
                    log.warning("event archive: %d events were gone from the broker before they were archived", gap)
                await self._write(epoch, state, page.first_kept_seq - 1, [])
                return True, 0
            self._known = (epoch, through)
            return False, 0
        written = await self._write(epoch, state, events[-1].seq, events)
        if written < 0:
            return True, 0  # another instance moved the mark: look again
        self.archived += written
        return len(events) >= BATCH or events[-1].seq < position.last_seq, written

    async def _epoch_state(self, epoch: str) -> tuple[int, int] | None:
        """(offset, through) of an epoch, or None when the archive has not seen it yet."""
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(EPOCHS.c.seq_offset, EPOCHS.c.through).where(EPOCHS.c.epoch == epoch))
            ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    async def _write(self, epoch: str, state: tuple[int, int] | None, new_through: int, events: Sequence[Event]) -> int:
        """Archive `events` and move the epoch's mark to `new_through`, if nobody moved it meanwhile.

        Returns the rows written, or -1 when the mark had moved (nothing written)."""
        now = time.time()
        async with self.db.engine.begin() as conn:
            if state is None:
                # A new epoch: its seqs go on above everything archived (offset 0 unless it numbers from below).
                top = await conn.scalar(select(func.max(ARCHIVE.c.seq)))
                first = events[0].seq if events else new_through + 1
                offset = max(0, (top or 0) + 1 - first) if top is not None and top >= first else 0
                stmt = insert_ignoring_duplicates(conn, EPOCHS).values(
                    epoch=epoch, seq_offset=offset, through=0, created_at=now
                )
                await conn.execute(stmt)
                row = (
                    await conn.execute(select(EPOCHS.c.seq_offset, EPOCHS.c.through).where(EPOCHS.c.epoch == epoch))
                ).one()
                state = (int(row[0]), int(row[1]))
                if offset:
                    log.warning(
                        "event archive: epoch %s numbers from seq %d, below the archive's %d: archived %d higher",
                        epoch,
                        first,
                        top,
                        state[0],
                    )
            offset, through = state
            moved = await conn.execute(
                update(EPOCHS).where(EPOCHS.c.epoch == epoch, EPOCHS.c.through == through).values(through=new_through)
            )
            if moved.rowcount != 1:
                await conn.rollback()
                return -1
            written = 0
            fresh = [e for e in events if e.seq > through]
            if fresh:
                # Events already archived (published again into a new epoch after a Redis loss) keep their row.
                known = set(
                    (await conn.scalars(select(ARCHIVE.c.id).where(ARCHIVE.c.id.in_([e.id for e in fresh])))).all()
                )
                pairs = [archive_rows(e, epoch, offset, now) for e in fresh if e.id not in known]
                if pairs:
                    await conn.execute(insert_ignoring_duplicates(conn, ARCHIVE), [row for row, _ in pairs])
                    await conn.execute(insert_ignoring_duplicates(conn, BODIES), [body for _, body in pairs])
                    written = len(pairs)
        self._known = (epoch, new_through)
        return written

    async def offset_of(self, epoch: str) -> int:
        """What the archive adds to this epoch's stream seqs (0 for an epoch it has not seen)."""
        state = await self._epoch_state(epoch)
        return state[0] if state is not None else 0

    async def top_seq(self) -> int:
        """The newest archived seq (0 when the archive is empty)."""
        async with self.db.engine.connect() as conn:
            return int(await conn.scalar(select(func.max(ARCHIVE.c.seq))) or 0)

    async def analyze(self) -> None:
        """Fresh statistics after many inserts (PostgreSQL plans its filters by them; SQLite's plans
        here do not depend on them)."""
        if self.db.engine.dialect.name == "postgresql":
            async with self.db.engine.begin() as conn:
                await conn.execute(text("ANALYZE event_archive, event_archive_body"))

    # --- retention -------------------------------------------------------------------------

    async def prune(self, now: float | None = None) -> int:
        """Delete what is older than the age limit or beyond the row limit; returns the rows deleted."""
        now = time.time() if now is None else now
        cutoff = now - self.max_age_days() * 86_400
        deleted = 0
        while True:  # by age
            doomed = select(ARCHIVE.c.seq).where(ARCHIVE.c.time < cutoff).order_by(ARCHIVE.c.seq).limit(PRUNE_CHUNK)
            count = await self._delete_seqs(doomed)
            deleted += count
            if count < PRUNE_CHUNK:
                break
        async with self.db.engine.connect() as conn:
            boundary = await conn.scalar(
                select(ARCHIVE.c.seq).order_by(ARCHIVE.c.seq.desc()).offset(self.max_rows()).limit(1)
            )
        if boundary is not None:  # by count: everything at or below the newest max_rows' first seq
            while True:
                doomed = select(ARCHIVE.c.seq).where(ARCHIVE.c.seq <= boundary).order_by(ARCHIVE.c.seq)
                count = await self._delete_seqs(doomed.limit(PRUNE_CHUNK))
                deleted += count
                if count < PRUNE_CHUNK:
                    break
        if deleted:
            self.pruned += deleted
            await self._prune_read_state()
            log.info("event archive: pruned %d events", deleted)
        return deleted

    async def _delete_seqs(self, doomed: Any) -> int:
        async with self.db.engine.begin() as conn:
            seqs = [int(s) for s in (await conn.scalars(doomed)).all()]
            if not seqs:
                return 0
            await conn.execute(delete(BODIES).where(BODIES.c.seq.in_(seqs)))
            await conn.execute(delete(ARCHIVE).where(ARCHIVE.c.seq.in_(seqs)))
        return len(seqs)

    async def _prune_read_state(self) -> None:
        """Read state about events that are gone: ids read one by one, filters covering nothing kept."""
        async with self.db.engine.begin() as conn:
            oldest = await conn.scalar(select(func.min(ARCHIVE.c.seq)))
            if oldest is None:
                return
            await conn.execute(delete(ReadEvent).where(ReadEvent.seq < oldest))
            await conn.execute(delete(ReadFilter).where(ReadFilter.up_to_seq < oldest))
