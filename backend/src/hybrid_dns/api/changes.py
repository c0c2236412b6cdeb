"""One change requested over HTTP, as one unit of work: rows, events, audit entries, then publish and reload.

    async with Change(request, user, conflict="zone example.com already exists") as change:
        session = change.session
        ...                                    # add, update, delete rows
        await change.check_zone(zone)          # 422 (and nothing committed) if the zone would not deploy
        change.event(EventType.ZONE_CREATED, {...})
        change.audit("zone.create", target=name, details={...})
        change.reload([name], "zone created")

Before it commits, a change is checked the way the BIND deployer will check it (`check_zone`,
`check_forwarding`, `check_rules`: render and named-checkzone / named-checkconf, inside the
transaction, on the data as it will be committed): a change that would not deploy is refused with
a 422 that says why, so one bad entry never sits in the database failing every later deployment.

On a normal exit the events are staged in the outbox (one batch for all of them) and the audit
entries added, in the same transaction as the change; the transaction commits, then the batch is
published and BIND is asked to reload. On an exception everything rolls back: no event, no audit
entry, no reload. A unique-constraint race lost at flush or commit becomes a 409 with `conflict`.
A broker that is down after the commit does not fail the request: the outbox relay publishes.
Changes that are not DNS changes (users) use the same unit of work, without checks or reload.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence
from types import TracebackType
from typing import Any, cast

from fastapi import HTTPException, Request, status
from sqlalchemy import CursorResult, Result, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..dns import render
from ..dns.bind import BindDeployer, CheckFailed
from ..models import Forwarder, Record, Zone
from ..realtime.broker import BrokerUnavailable
from ..realtime.events import Event, EventDraft, EventType
from .deps import CurrentUser
from .errors import field_error

log = logging.getLogger("hybrid_dns.dns")


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE."""
    return int(cast(CursorResult[Any], result).rowcount)


class Change:
    def __init__(
        self,
        request: Request,
        user: CurrentUser,
        *,
        conflict: str = "conflicts with existing data",
        conflict_field: str | None = None,
    ) -> None:
        self.request = request
        self.user = user
        self.conflict = conflict
        self.conflict_field = conflict_field
        self.drafts: list[EventDraft] = []
        self.batch: str | None = None
        self.published: list[Event] = []  # the events, once published after the commit
        self._audits: list[dict[str, Any]] = []
        self._reload: list[str] | None = None
        self._reasons: list[str] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "use Change as `async with`"
        return self._session

    def event(self, event_type: EventType, data: dict[str, Any], *, target_user: str | None = None) -> None:
        self.drafts.append(EventDraft.make(event_type, data, actor=self.user.username, target_user=target_user))

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

    async def check_zone(self, zone: Zone) -> None:
        """Refuse (422) the change if `zone`, as this transaction leaves it, would not deploy."""
        await self.session.flush()
        if zone.zone_type == "forward":
            await self.check_forwarding(zones=[zone])
            return
        records = (
            await self.session.scalars(select(Record).where(Record.zone_id == zone.id).order_by(Record.id))
        ).all()
        await self._refuse_unless(self._bind.dry_run_zone(render.zone_spec(zone, records)))

    async def check_forwarding(self, *, zones: Sequence[Zone] = (), forwarders: Sequence[Forwarder] = ()) -> None:
        """Refuse (422) the change if these forward zones or forwarders could not be written into named.conf."""
        await self.session.flush()
        taken = (await self.session.scalars(select(Zone.name))).all()
        await self._refuse_unless(
            self._bind.dry_run_forwarding(
                [render.zone_spec(z) for z in zones], [render.forwarder_spec(f) for f in forwarders], taken
            )
        )

    async def check_rules(self, rules: Sequence[render.RuleSpec]) -> None:
        """Refuse (422) the change if these RPZ rules could not be written into the RPZ zone."""
        if rules:
            await self._refuse_unless(self._bind.dry_run_rules(rules))

    @property
    def _bind(self) -> BindDeployer:
        deployer: BindDeployer = self.request.app.state.bind
        return deployer

    async def _refuse_unless(self, check: Awaitable[None]) -> None:
        try:
            await check
        except CheckFailed as exc:
            raise HTTPException(422, str(exc)) from None

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
                    raise self._conflict() from None
                return
            try:
                self._stage(session)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise self._conflict() from None
        finally:
            await session.close()
        await self._after_commit()

    def _conflict(self) -> HTTPException:
        if self.conflict_field is not None:
            return field_error(self.conflict_field, self.conflict, status.HTTP_409_CONFLICT)
        return HTTPException(status.HTTP_409_CONFLICT, self.conflict)

    def _stage(self, session: AsyncSession) -> None:
        source = audit.client_address(self.request)
        for entry in self._audits:
            audit.add_entry(session, outcome="success", actor=self.user.username, source=source, **entry)
        if self.drafts:
            self.batch = self.request.app.state.realtime.outbox.add(session, self.drafts)

    async def _after_commit(self) -> None:
        if self.batch is not None:
            try:
                self.published = await self.request.app.state.realtime.outbox.publish(self.batch)
            except BrokerUnavailable:
                log.warning("broker unavailable: %d committed events left to the outbox relay", len(self.drafts))
            except Exception:  # committed all the same; the relay retries the batch
                log.exception("publishing committed events failed; the outbox relay will retry")
        if self._reload is not None:
            try:
                self.request.app.state.bind.request_reload(self._reload, "; ".join(self._reasons))
            except Exception:
                log.exception("could not request a BIND reload")
