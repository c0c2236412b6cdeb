"""One DNS change as one unit of work: rows, events, audit entries, then publish and reload.

    async with Change(request, user, conflict="zone example.com already exists") as change:
        session = change.session
        ...                                    # add, update, delete rows; await session.flush()
        change.event(EventType.ZONE_CREATED, {...})
        change.audit("zone.create", target=name, details={...})
        change.reload([name], "zone created")

On a normal exit the events are staged in the outbox (one batch for all of them) and the audit
entries added, in the same transaction as the change; the transaction commits, then the batch is
published and BIND is asked to reload. On an exception everything rolls back: no event, no audit
entry, no reload. A unique-constraint race lost at flush or commit becomes a 409 with `conflict`.
A broker that is down after the commit does not fail the request: the outbox relay publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any, cast

from fastapi import HTTPException, Request, status
from sqlalchemy import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..api.deps import CurrentUser
from ..realtime.broker import BrokerUnavailable
from ..realtime.events import EventDraft, EventType

log = logging.getLogger("hybrid_dns.dns")


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE."""
    return int(cast(CursorResult[Any], result).rowcount)


class Change:
    def __init__(self, request: Request, user: CurrentUser, *, conflict: str = "conflicts with existing data") -> None:
        self.request = request
        self.user = user
        self.conflict = conflict
        self.drafts: list[EventDraft] = []
        self.batch: str | None = None
        self._audits: list[dict[str, Any]] = []
        self._reload: list[str] | None = None
        self._reasons: list[str] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "use Change as `async with`"
        return self._session

    def event(self, event_type: EventType, data: dict[str, Any]) -> None:
        self.drafts.append(EventDraft.make(event_type, data, actor=self.user.username))

    def audit(self, action: str, *, target: str | None, details: dict[str, Any] | None = None) -> None:
        self._audits.append({"action": action, "target": target, "details": details or {}})

    def reload(self, zones: Iterable[str], reason: str) -> None:
        """Zones to re-render after the commit; an empty list means all."""
        names = list(zones)
        if self._reload is None:
            self._reload = names
        elif self._reload and names:
            self._reload.extend(n for n in names if n not in self._reload)
        else:
            self._reload = []
        self._reasons.append(reason)

    async def __aenter__(self) -> Change:
        self._session = self.request.app.state.db()
        await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        try:
            if exc is not None:
                await session.rollback()
                if isinstance(exc, IntegrityError):
                    raise HTTPException(status.HTTP_409_CONFLICT, self.conflict) from None
                return
            try:
                self._stage(session)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise HTTPException(status.HTTP_409_CONFLICT, self.conflict) from None
        finally:
            await session.close()
        await self._after_commit()

    def _stage(self, session: AsyncSession) -> None:
        source = audit.client_address(self.request)
        for entry in self._audits:
            audit.add_entry(session, outcome="success", actor=self.user.username, source=source, **entry)
        if self.drafts:
            self.batch = self.request.app.state.realtime.outbox.add(session, self.drafts)

    async def _after_commit(self) -> None:
        if self.batch is not None:
            try:
                await self.request.app.state.realtime.outbox.publish(self.batch)
            except BrokerUnavailable:
                log.warning("broker unavailable: %d committed events left to the outbox relay", len(self.drafts))
            except Exception:  # committed all the same; the relay retries the batch
                log.exception("publishing committed events failed; the outbox relay will retry")
        if self._reload is not None:
            try:
                self.request.app.state.bind.request_reload(self._reload, "; ".join(self._reasons))
            except Exception:
                log.exception("could not request a BIND reload")
