"""The real-time layer of one server instance, wired together: broker and cluster, hub, service,
outbox, read state, presence, broadcasters, the access re-check of open sockets, and the abuse reports.

It knows nothing about DNS, about how users are stored, nor about the host it runs on. The app
hands it what it needs of them:

- `authenticate`: a token to a `Principal`, or `AuthError` with the close code (at connect);
- `check_access`: which users and sessions open sockets may still hold (access.py);
- `audit`: writes audit rows (refused sockets, abuse.py);
- `host_figures`: the host's figures for `system_status` (monitoring/system.py);
- and, once it exists, forwarder health for `health_update` (`health_producer.source`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..auth.roles import Role
from ..config import Settings
from ..db import Database
from .abuse import AbuseReports, AuditWriter, FloodAlerts, RefusalAudit
from .access import AccessCheck, AccessGuard
from .archive import Archiver
from .broadcasters import HealthProducer, PeriodicBroadcaster, Producer, SystemStatusProducer
from .broker import Broker, broker_from_settings, cluster_for
from .cluster import Cluster
from .events import Event, EventType
from .hub import Hub
from .metrics import RealtimeMetrics
from .outbox import Outbox
from .presence import Presence, presence_store_for
from .protocol import CloseCode
from .readstate import ReadState
from .replay import ReplayFrames
from .service import WebSocketEventService, set_websocket_event_service

log = logging.getLogger("hybrid_dns.realtime")

HEARTBEAT = 2.0  # seconds between an instance's reports (stats, demand) and lease renewals
LEADER_LEASE = "leader"
LEASE_TTL = 6.0  # a leader that misses three heartbeats loses the lease
_EVENT_NAMES = frozenset(t.value for t in EventType)


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    expires_at: float | None  # unix time the token expires
    jti: str | None


class AuthError(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


Authenticator = Callable[[str | None], Awaitable[Principal]]


class Realtime:
    def __init__(
        self,
        settings: Settings,
        authenticate: Authenticator,
        db: Database,
        broker: Broker | None = None,
        check_access: AccessCheck | None = None,
        audit: AuditWriter | None = None,
        host_figures: Producer | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        """`check_access`: how the open sockets' users and sessions are re-checked (access.py); None:
        sockets keep what they were granted at connect until they close. `audit`: None, refused
        sockets are counted and logged only. `host_figures`: None, `system_status` carries this
        instance's connection figures only. `broker`, `cluster`: by default from BROKER_URL."""
        self.settings = settings
        self.db = db
        self.authenticate = authenticate
        self.instance_id = settings.INSTANCE_ID or f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = RealtimeMetrics()
        self.broker = broker or broker_from_settings(settings, db, self.instance_id)
        self.cluster = cluster or cluster_for(self.broker)
        if hasattr(self.broker, "on_outage"):
            self.broker.on_outage = lambda kind: self.metrics.broker_errors.labels("connection_lost").inc()
        # The searchable history: archived by the leader, read by every instance (archive.py).
        self.archiver = Archiver(
            db,
            self.broker,
            max_age_days=lambda: self.settings.EVENT_ARCHIVE_MAX_AGE_DAYS,
            max_rows=lambda: self.settings.EVENT_ARCHIVE_MAX_ROWS,
            is_leader=lambda: self.leader,
        )
        self.read_state = ReadState(db, self.broker, self.archiver)
        self.replays = ReplayFrames()  # a reconnect storm's replays, encoded once each (replay.py)
        self.hub = Hub(
            self.metrics,
            queue_limit=settings.WEBSOCKET_SEND_QUEUE_SIZE,
            max_batch=settings.WEBSOCKET_MAX_BATCH,
        )
        self.service = WebSocketEventService(self.broker, self.metrics)
        self.outbox = Outbox(db, self.service)
        self.presence = Presence(presence_store_for(self.broker), self.spawn)
        self.access = (
            None
            if check_access is None
            else AccessGuard(
                self.hub,
                check_access,
                lambda: self.settings.WEBSOCKET_ACCESS_RECHECK_INTERVAL,
                changed=self._access_changed,
            )
        )
        # Told (user, None) of a change to a user and (user, session id) of a signed-out session made in
        # this process, as soon as it is committed (app.py: the sockets' token cache, auth/access_cache.py).
        self.access_listeners: list[Callable[[str, str | None], None]] = []
        self.health_producer = HealthProducer()
        self.broadcasters = [
            # Forwarder health is one truth for the cluster: the leader broadcasts it while any instance
            # has a subscriber. (system_status is each instance's own figures: every instance sends its own.)
            PeriodicBroadcaster(
                self.hub,
                self.service,
                EventType.HEALTH_UPDATE,
                lambda: self.settings.HEALTH_BROADCAST_INTERVAL,
                self.health_producer,
                wants=lambda: self.leader and self.cluster_demand(EventType.HEALTH_UPDATE),
            ),
            PeriodicBroadcaster(
                self.hub,
                self.service,
                EventType.SYSTEM_STATUS,
                lambda: self.settings.SYSTEM_BROADCAST_INTERVAL,
                SystemStatusProducer(self.hub, self.instance_id, host_figures),
            ),
        ]
        self.abuse = AbuseReports(
            FloodAlerts(self.spawn, self.service, settings.SECURITY_ALERT_WINDOW),
            RefusalAudit(self.spawn, audit, settings.REFUSAL_AUDIT_WINDOW),
        )
        # Leader: the one instance that does what must happen once for the cluster (see Cluster.hold_lease).
        self.leader = False
        self._remote_demand: set[EventType] = set()
        self.expired_sessions: dict[str, asyncio.Task[Any]] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.hub.event_hooks.append(self._account_changed)
        self.hub.event_hooks.append(self.archiver.observe)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A background task that is kept referenced until it ends (and cancelled on stop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        self.hub.last_seq = 0
        await self.broker.start(self.hub)
        position = self.broker.position()
        self.hub.last_seq = position.last_seq
        set_websocket_event_service(self.service)
        await self.presence.start()
        self.outbox.start()
        if self.access is not None:
            self.access.start()
        await self._lead()
        self.archiver.start()
        self._heartbeat = asyncio.get_running_loop().create_task(self._report(), name="instance-heartbeat")
        log.info(
            "realtime started broker=%s epoch=%s last_seq=%d leader=%s",
            self.broker_kind,
            position.epoch,
            position.last_seq,
            self.leader,
        )

    async def _report(self) -> None:
        """Each instance's figures, for stats that add up every live instance; the lease; who wants what."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self.cluster.report_instance(self.instance_stats())
                await self._lead()
                others = await self.cluster.instances()
                self._remote_demand = {
                    EventType(t)
                    for i in others
                    if i.get("instance_id") != self.instance_id
                    for t in i.get("demand", ())
                    if t in _EVENT_NAMES
                }
                for broadcaster in self.broadcasters:
                    broadcaster.refresh()
            except Exception:
                log.exception("instance heartbeat failed")

    async def _lead(self) -> None:
        was = self.leader
        try:
            self.leader = await self.cluster.hold_lease(LEADER_LEASE, LEASE_TTL)
        except Exception:
            log.exception("leader lease check failed")
            self.leader = False
        if self.leader != was:
            log.info("instance %s %s the leader lease", self.instance_id, "holds" if self.leader else "lost")

    def cluster_demand(self, event_type: EventType) -> bool:
        """Some connection on some live instance is subscribed to `event_type` (as of the last heartbeat)."""
        return self.hub.has_demand(event_type) or event_type in self._remote_demand

    def instance_stats(self) -> dict[str, Any]:
        stats = self.hub.stats()
        stats["instance_id"] = self.instance_id
        stats["leader"] = self.leader
        stats["demand"] = [t.value for t in EventType if self.hub.has_demand(t)]
        return stats

    async def all_instances(self) -> list[dict[str, Any]]:
        """Every live instance's stats (this one's always fresh and first)."""
        others = [i for i in await self.cluster.instances() if i.get("instance_id") != self.instance_id]
        return [self.instance_stats(), *others]

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await self.outbox.close()
        if self.access is not None:
            await self.access.close()
        for task in list(self._tasks):
            task.cancel()
        for broadcaster in self.broadcasters:
            await broadcaster.close()
        await self.archiver.close()  # the leader archives what is left before it gives the lease up
        if self.leader:
            self.leader = False
            await self.cluster.release_lease(LEADER_LEASE)  # another instance takes over at its next heartbeat
        await self.hub.close_all()
        await self.presence.close()
        set_websocket_event_service(None)
        await self.broker.close()

    async def recheck_user(self, username: str) -> int:
        """Apply a change to a user (role, disabled, deleted) to this instance's sockets at once;
        returns how many closed. Other instances apply it at their next periodic re-check."""
        self._access_changed(username, None)
        if self.access is None:
            return 0
        return await self.access.sweep(users=(username,))

    def _account_changed(self, event: Event) -> None:
        """A user was changed on some instance (role, disabled, password): re-check that user's sockets
        here now, rather than at the next periodic re-check. (The instance that made the change has
        already done so, after its commit; once more costs one query.)"""
        if event.type is EventType.USER_UPDATED and self.access is not None:
            username = event.target_user
            if username:
                self.spawn(self._recheck_quietly(username))

    async def _recheck_quietly(self, username: str) -> None:
        try:
            await self.recheck_user(username)
        except Exception as exc:  # the periodic re-check catches up
            log.warning("re-check of %s's sockets failed (%s)", username, type(exc).__name__)

    def end_session(self, username: str, jti: str, reason: str = "signed out") -> int:
        """Close this instance's sockets of a revoked session (4001 with `reason`); returns how many.
        Other instances close theirs when the session_expired event arrives, or at their next re-check."""
        self._access_changed(username, jti)
        return self.hub.close_session(username, jti, CloseCode.SESSION_EXPIRED, reason)

    def _access_changed(self, username: str, jti: str | None) -> None:
        for listener in self.access_listeners:
            try:
                listener(username, jti)
            except Exception:
                log.exception("access listener failed")

    @property
    def broker_kind(self) -> str:
        return self.broker.kind

    def broadcaster(self, event_type: EventType) -> PeriodicBroadcaster:
        return next(b for b in self.broadcasters if b.event_type is event_type)
