"""Read state per user, persisted, so that badges agree across tabs, devices and restarts.

A user's read state is a mark (everything up to this seq is read, within one stream epoch) plus
the ids of events read one by one above it. The unread count is computed from the event history
this instance holds (bounded by EVENT_HISTORY_SIZE and EVENT_HISTORY_TTL), counting only events
the user could receive and that are news (periodic health_update and system_status are state,
not notifications). Every change is announced to every connection of the user, on every
instance, as an `acked` frame carrying the new count.

A user's read state starts at their first sign-in (`start_now`): everything published before it is
read, so a new user does not begin with the whole history as unread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..auth.roles import Role
from ..db import Database
from ..models import ReadEvent, ReadMark
from .broker import Broker
from .events import NOT_NOTIFICATIONS, Event, visible_to_user
from .protocol import acked_frame


@dataclasses.dataclass(slots=True)
class UserReadState:
    up_to_seq: int
    read_ids: set[str]

    def is_read(self, event: Event) -> bool:
        return event.seq <= self.up_to_seq or event.id in self.read_ids


def is_notification(event: Event) -> bool:
    return event.type not in NOT_NOTIFICATIONS


class ReadState:
    def __init__(self, db: Database, broker: Broker, history_size: int) -> None:
        self.db = db
        self.broker = broker
        self.history_size = history_size

    async def load(self, user_id: str) -> UserReadState:
        epoch = self.broker.position().epoch
        async with self.db() as session:
            mark = await session.get(ReadMark, user_id)
            up_to = mark.up_to_seq if mark is not None and mark.epoch == epoch else 0
            ids = (
                await session.scalars(
                    select(ReadEvent.event_id).where(ReadEvent.user_id == user_id, ReadEvent.seq > up_to)
                )
            ).all()
        return UserReadState(up_to, set(ids))

    async def start_now(self, user_id: str, through_seq: int = 0) -> int:
        """Mark everything published so far read (and up to `through_seq`: the user's own sign-in
        event), for a user's first sign-in; returns the mark. No `acked` is sent: the user has no
        socket open yet."""
        position = self.broker.position()
        mark = max(position.last_seq, through_seq)
        async with self.db() as session, session.begin():
            row = await session.get(ReadMark, user_id)
            if row is None:
                session.add(ReadMark(user_id=user_id, epoch=position.epoch, up_to_seq=mark))
            elif row.epoch != position.epoch or row.up_to_seq < mark:
                row.epoch, row.up_to_seq = position.epoch, mark
            await session.execute(delete(ReadEvent).where(ReadEvent.user_id == user_id, ReadEvent.seq <= mark))
        return mark

    async def kept_after(self, after_seq: int) -> list[Event]:
        """Every kept event after `after_seq`, or from the oldest kept one when history has moved past it."""
        page = await self.broker.history(after_seq, self.history_size)
        if page.first_kept_seq > after_seq + 1:
            page = await self.broker.history(page.first_kept_seq - 1, self.history_size)
        return page.events

    async def _unread_events(self, user_id: str, role: Role, state: UserReadState) -> list[Event]:
        return [
            e
            for e in await self.kept_after(max(state.up_to_seq, 0))
            if is_notification(e) and visible_to_user(e, user_id, role) and e.id not in state.read_ids
        ]

    async def unread_count(self, user_id: str, role: Role) -> int:
        state = await self.load(user_id)
        return len(await self._unread_events(user_id, role, state))

    async def ack(
        self,
        user_id: str,
        role: Role,
        *,
        event_ids: Sequence[str] | None = None,
        up_to_seq: int | None = None,
    ) -> tuple[list[str], int | None, int]:
        """Mark events read; returns (ids marked, new mark, unread count) and tells every tab."""
        position = self.broker.position()
        state = await self.load(user_id)
        acked: list[str] = []
        mark: int | None = None
        if up_to_seq is not None:
            mark = max(state.up_to_seq, min(up_to_seq, position.last_seq))
            async with self.db() as session, session.begin():
                row = await session.get(ReadMark, user_id)
                if row is None:
                    session.add(ReadMark(user_id=user_id, epoch=position.epoch, up_to_seq=mark))
                else:
                    row.epoch, row.up_to_seq = position.epoch, mark
                await session.execute(delete(ReadEvent).where(ReadEvent.user_id == user_id, ReadEvent.seq <= mark))
            state.up_to_seq = mark
        if event_ids:
            wanted = set(event_ids)
            kept = await self.kept_after(state.up_to_seq)
            known = [e for e in kept if e.id in wanted and visible_to_user(e, user_id, role)]
            fresh = [e for e in known if e.id not in state.read_ids]
            if fresh:
                try:
                    async with self.db() as session, session.begin():
                        session.add_all(ReadEvent(user_id=user_id, event_id=e.id, seq=e.seq) for e in fresh)
                except IntegrityError:
                    pass  # another tab marked the same event at the same moment
            acked = [e.id for e in known]
            state.read_ids.update(acked)
        unread = len(await self._unread_events(user_id, role, state))
        await self.broker.notify_user(user_id, acked_frame(acked, mark, unread))
        return acked, mark, unread
