"""Webhooks: the events an endpoint asked for, POSTed to it as the Standard Webhooks specification says,
at least once, in order where it asked for that, without ever slowing the event path.

Two loops, on the leader instance only (`Realtime.leader`: one instance of a cluster delivers, so a
delivery is not made twice by two instances; another takes over from what is stored):

- The **dispatcher** follows the event stream with a cursor kept in the database (`webhook_cursor`:
  the last seq it has handled). It reads the events after the cursor from the broker's history
  (`broker.history`, served from the instance's cache), matches them against the enabled endpoints
  (their event types and filter, realtime/filters.py: the WebSocket's filter), and writes one
  `webhook_deliveries` row per event and endpoint **in the same transaction that moves the cursor**
  (a compare-and-set on the old value, so two instances that both think they lead never queue an
  event twice). A restart, a crash or a new leader resumes from the stored cursor: every event
  still in history after it is matched again, none is queued twice. Events that left the history
  before the dispatcher read them (an instance down for longer than EVENT_HISTORY_TTL, or more
  than EVENT_HISTORY_SIZE events behind) are a gap: logged, and skipped.
  Why a cursor and not a delivery row written with each event: events are emitted from many places
  (the outbox of a change, the health monitor, the WebSocket layer's abuse reports, other instances
  through Redis), and only the broker's stream sees them all, in one order.
  The event path pays one hook call per event (it sets an asyncio.Event); the rest runs in this
  module's own tasks.

- The **scheduler** starts attempts for due deliveries: at most WEBHOOK_CONCURRENCY at once, and
  at most one per endpoint, so a slow or dead endpoint holds one slot (for up to WEBHOOK_TIMEOUT)
  and nothing else. An endpoint's due deliveries go in batches (up to BATCH, one after the other over
  one connection; the first failure ends a batch). For an endpoint with `ordered`, only its oldest
  pending delivery and those right behind it may go: a
  failing head holds back that endpoint's later deliveries (and no other endpoint's) until it
  succeeds or its retries run out. An attempt claims its row for WEBHOOK_TIMEOUT plus a margin
  (`claimed_until`), so a crashed instance's attempt is retried by whoever leads next.
  A failed attempt is retried after the next step of WEBHOOK_RETRY_SCHEDULE (each +-20% jitter);
  when the steps run out the delivery is `failed`. An endpoint whose deliveries have failed without
  a success for WEBHOOK_DISABLE_AFTER is disabled, with an audit entry and a `config_change` event.

Each attempt (webhooks_net.py) signs the body with the endpoint's secrets in force
(webhooks_signing.py) and sends the event frame exactly as WebSocket clients receive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Connection, Table, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import Settings
from ..db import Database
from ..models import Webhook, WebhookCursor, WebhookDelivery
from ..realtime.broker import BrokerUnavailable
from ..realtime.events import (
    NOT_NOTIFICATIONS,
    REGISTRY,
    Audience,
    Event,
    EventDraft,
    EventType,
    Severity,
    dumps,
    utc_now_iso,
)
from ..realtime.filters import EventFilter, FilterError, parse_filter
from ..realtime.runtime import Realtime
from .webhooks_net import Attempt, Sender
from .webhooks_signing import SecretBox, SecretUnreadable, signature_header
from .webhooks_store import Writes

log = logging.getLogger("hybrid_dns.webhooks")

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
CURSOR = "main"
PAGE = 500  # events read from history per step
IDLE_CHECK = 1.0  # seconds between checks of the stream position (and of leadership) when nothing wakes the loops
MIN_WAIT = 0.05  # seconds the scheduler waits at least between passes
BATCH = 20  # deliveries of one endpoint claimed and sent together, one after the other
DISPATCH_EVERY = 0.2  # seconds between dispatcher passes at most: what a delivery may wait to be queued
CURSOR_SAVE_EVERY = 5.0  # seconds a cursor moved past events that matched nothing may wait before it is stored
LEASE_MARGIN = 5.0  # seconds past WEBHOOK_TIMEOUT an attempt's claim lasts
GAUGES_EVERY = 2.0
PRUNE_EVERY = 600.0
JITTER = 0.2
MAX_WEBHOOKS = 100
TEST_EVENT_TYPE = "webhook_test"

# Every type but session_expired, which only the user it is about may see. Without event_types an
# endpoint gets every notification: not the periodic health_update and system_status (ask for them).
ALLOWED_TYPES = frozenset(t for t in EventType if REGISTRY[t].audience is not Audience.SUBJECT_ONLY)
DEFAULT_TYPES = ALLOWED_TYPES - NOT_NOTIFICATIONS
_TYPE_NAMES = {t.value: t for t in EventType}


_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_WEBHOOKS = cast(Table, Webhook.__table__)
_CURSOR = cast(Table, WebhookCursor.__table__)


class CursorMoved(RuntimeError):
    """Another instance moved the cursor (it led meanwhile): read it again."""


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """What the dispatcher needs of an enabled endpoint."""

    id: int
    types: frozenset[EventType]
    filter: EventFilter | None
    start_seq: int

    def wants(self, event: Event) -> bool:
        return (
            event.seq > self.start_seq
            and event.type in self.types
            and (self.filter is None or self.filter.matches(event))
        )


def endpoint_types(stored: Sequence[str]) -> frozenset[EventType]:
    if not stored:
        return DEFAULT_TYPES
    return frozenset(_TYPE_NAMES[t] for t in stored if t in _TYPE_NAMES) & ALLOWED_TYPES


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: what events and logs name (a URL's path may be a credential)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def config_change(change: str, hook: Webhook, **extra: Any) -> dict[str, Any]:
    """The `config_change` payload for a change to an endpoint: never the secret, nor the URL's path."""
    return {
        "section": "webhooks",
        "change": change,
        "webhook": url_origin(hook.url),
        "id": hook.id,
        "enabled": hook.enabled,
        "ordered": hook.ordered,
        "event_types": list(hook.event_types or []),
        "version": hook.version,
        "updated_by": hook.updated_by,
        **extra,
    }


def test_frame(webhook_id: int, actor: str) -> tuple[str, bytes]:
    """A `webhook_test` message in the shape of an event frame (not an event of the stream: no seq)."""
    message_id = str(uuid.uuid4())
    frame = {
        "type": TEST_EVENT_TYPE,
        "id": message_id,
        "seq": None,
        "category": "system",
        "severity": "info",
        "timestamp": utc_now_iso(),
        "actor": actor,
        "about": {"zone": None, "name": None, "record_type": None, "summary": "Webhook test"},
        "data": {"webhook_id": webhook_id, "message": "A test message from Hybrid DNS: this endpoint is reachable."},
    }
    return message_id, dumps(frame)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "hybrid_dns_webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("success", "failure", "timeout"):
            self.deliveries.labels(outcome)
        self.duration = Histogram(
            "hybrid_dns_webhook_delivery_duration_seconds",
            "Time one webhook delivery attempt took, name resolution to the answer read",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.backlog = Gauge(
            "hybrid_dns_webhook_backlog",
            "Webhook deliveries waiting for an attempt or a retry (counted by the leader instance; 0 on others)",
            registry=registry,
        )
        self.endpoints = Gauge(
            "hybrid_dns_webhook_endpoints",
            "Webhook endpoints, by state (counted by the leader instance; 0 on others)",
            ["state"],
            registry=registry,
        )
        for state in ("enabled", "disabled"):
            self.endpoints.labels(state)

    def record(self, attempt: Attempt) -> None:
        self.deliveries.labels(attempt.outcome).inc()
        self.duration.observe(attempt.duration)

    def zero(self) -> None:
        self.backlog.set(0)
        for state in ("enabled", "disabled"):
            self.endpoints.labels(state).set(0)


class WebhookService:
    def __init__(self, settings: Settings, db: Database, realtime: Realtime, secret_key: str) -> None:
        self.settings = settings
        self.db = db
        self.rt = realtime
        self.box = SecretBox(secret_key)
        self.writes = Writes(db)
        self.sender = Sender(settings.WEBHOOK_TIMEOUT, settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
        self.metrics = WebhookMetrics(realtime.metrics.registry)
        self._cursor: int | None = None  # the last seq handled (None: read the stored one first)
        self._saved: int | None = None  # the last seq stored
        self._saved_at = 0.0
        self._epoch = ""
        self._in_flight: dict[int, tuple[int, asyncio.Task[None]]] = {}  # endpoint id -> (delivery id, task)
        self._dispatch_wake: asyncio.Event | None = None
        self._schedule_wake: asyncio.Event | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._was_leader = False
        self._gauges_at = 0.0
        self._pruned_at = 0.0
        self._broken_filters: set[int] = set()
        self.passes = 0  # scheduling passes made (a figure for tests: it must not race while nothing is due)

    # --- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """After the real-time layer has started, before the app takes requests: the cursor is stored
        first (on the very first start, where the stream stands now), so that no event emitted after
        this returns can be missed, however late the dispatcher first runs."""
        await self._load_cursor()
        self._cursor = None  # read again when this instance leads
        self._dispatch_wake = asyncio.Event()
        self._schedule_wake = asyncio.Event()
        self.rt.hub.event_hooks.append(self._on_event)
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._dispatch_loop(), name="webhook-dispatcher"),
            loop.create_task(self._schedule_loop(), name="webhook-scheduler"),
        ]

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.rt.hub.event_hooks.remove(self._on_event)
        for task in self._loops:
            task.cancel()
        in_flight = list(self._in_flight.values())
        for _, task in in_flight:
            task.cancel()
        await asyncio.gather(*self._loops, *(t for _, t in in_flight), return_exceptions=True)
        self._loops = []
        try:
            if in_flight:
                # Attempts cut short by the shutdown: free their claims, so that the next leader retries them at once.
                async with self.db() as session, session.begin():
                    await session.execute(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_([d for d, _ in in_flight]))
                        .values(claimed_until=None)
                    )
            if self._cursor is not None and self._cursor != self._saved and self.rt.leader:
                await self._save(self._cursor, [])
        except Exception as exc:  # the claims expire and the cursor is read again: nothing is lost
            log.warning("webhooks: could not store the state at shutdown (%s)", type(exc).__name__)
        await asyncio.get_running_loop().run_in_executor(None, self.writes.close)

    def _on_event(self, event: Event) -> None:
        """The hub's hook, on the event path: wake the dispatcher, nothing more."""
        if self._dispatch_wake is not None:
            self._dispatch_wake.set()

    def wake(self) -> None:
        """Deliveries were queued or endpoints changed on this instance: look now rather than at the next poll."""
        if self._dispatch_wake is not None:
            self._dispatch_wake.set()
        if self._schedule_wake is not None:
            self._schedule_wake.set()

    # --- the dispatcher: events to deliveries -----------------------------------------------

    async def _dispatch_loop(self) -> None:
        assert self._dispatch_wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dispatch_wake.wait(), IDLE_CHECK)
            self._dispatch_wake.clear()
            if not self.rt.leader:
                self._cursor = None  # read the stored cursor again when this instance leads
                continue
            try:
                await self.dispatch_pending()
            except asyncio.CancelledError:
                raise
            except CursorMoved:
                log.info("webhooks: another instance moved the cursor; reading it again")
                self._cursor = None
            except Exception as exc:  # broker or database down: try again shortly, from the stored cursor
                log.warning("webhooks: dispatching failed (%s); will retry", type(exc).__name__)
                self._cursor = None
                await asyncio.sleep(IDLE_CHECK)
            # Events that arrive meanwhile are handled together in the next pass: one transaction for
            # many events, rather than one per event beside the event path's own writes.
            await asyncio.sleep(DISPATCH_EVERY)

    async def dispatch_pending(self) -> int:
        """Queue deliveries for every event after the cursor; returns how many were queued."""
        if self._cursor is None:
            await self._load_cursor()
        assert self._cursor is not None
        queued = 0
        while self.rt.leader:
            position = self.rt.broker.position()
            self._epoch = position.epoch
            if position.last_seq < self._cursor:
                log.warning(
                    "webhooks: the event stream is behind the cursor (%d < %d): a new stream; following it",
                    position.last_seq,
                    self._cursor,
                )
                await self._save(position.last_seq, [])
                continue
            if position.last_seq == self._cursor:
                if self._cursor != self._saved and time.monotonic() - self._saved_at >= CURSOR_SAVE_EVERY:
                    await self._save(self._cursor, [])
                return queued
            page = await self.rt.broker.history(self._cursor, PAGE)
            events = [e for e in page.events if e.seq > self._cursor]
            if not events:
                if page.first_kept_seq > self._cursor + 1:
                    log.warning(
                        "webhooks: events %d-%d left the event history before they were dispatched; "
                        "they are not delivered",
                        self._cursor + 1,
                        page.first_kept_seq - 1,
                    )
                    await self._save(page.first_kept_seq - 1, [])
                    continue
                return queued  # not in history yet: the next wake-up finds it
            # Endpoints are read after the events: an endpoint committed before an event was emitted is seen.
            endpoints = await self._endpoints()
            now = time.time()
            rows = [
                {
                    "webhook_id": endpoint.id,
                    "event_id": event.id,
                    "event_seq": event.seq,
                    "event_type": event.type.value,
                    "body": event.frame.encode(),
                    "test": False,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for event in events
                for endpoint in endpoints
                if endpoint.wants(event)
            ]
            last = events[-1].seq
            if rows or time.monotonic() - self._saved_at >= CURSOR_SAVE_EVERY:
                await self._save(last, rows)
                if rows:
                    queued += len(rows)
                    if self._schedule_wake is not None:
                        self._schedule_wake.set()
            else:
                self._cursor = last
        return queued

    async def _load_cursor(self) -> None:
        for _ in range(3):
            async with self.db() as session:
                row = await session.get(WebhookCursor, CURSOR)
                if row is not None:
                    self._cursor = self._saved = int(row.last_seq)
                    self._saved_at = time.monotonic()
                    return
                # First run: start where the stream stands (nothing older is delivered).
                position = self.rt.broker.position()
                session.add(WebhookCursor(name=CURSOR, epoch=position.epoch, last_seq=position.last_seq))
                try:
                    await session.commit()
                except IntegrityError:  # another instance made it first
                    await session.rollback()
                    continue
                self._cursor = self._saved = position.last_seq
                self._saved_at = time.monotonic()
                return
        raise RuntimeError("could not read the webhook cursor")

    async def _save(self, last_seq: int, rows: list[dict[str, Any]]) -> None:
        """Move the stored cursor to `last_seq` and queue `rows`, in one transaction, if nobody else moved it."""
        saved, epoch = self._saved, self._epoch

        def save(conn: Connection) -> None:
            result = conn.execute(
                update(_CURSOR)
                .where(_CURSOR.c.name == CURSOR, _CURSOR.c.last_seq == saved)
                .values(last_seq=last_seq, epoch=epoch)
            )
            if result.rowcount != 1:
                raise CursorMoved()
            if rows:
                conn.execute(insert(_DELIVERIES), rows)

        await self.writes.run(save)
        self._cursor = self._saved = last_seq
        self._saved_at = time.monotonic()

    async def _endpoints(self) -> list[Endpoint]:
        async with self.db() as session:
            rows = (
                await session.execute(
                    select(Webhook.id, Webhook.event_types, Webhook.filter, Webhook.start_seq).where(
                        Webhook.enabled.is_(True)
                    )
                )
            ).all()
        out = []
        for hook_id, types, stored_filter, start_seq in rows:
            try:
                parsed = parse_filter(stored_filter) if stored_filter else None
            except FilterError as exc:
                # A filter stored under older rules: this endpoint gets nothing until it is saved again.
                if hook_id not in self._broken_filters:
                    self._broken_filters.add(hook_id)
                    log.warning("webhooks: endpoint %d has a filter that no longer parses (%s)", hook_id, exc.field)
                continue
            out.append(Endpoint(hook_id, endpoint_types(types or []), parsed, int(start_seq or 0)))
        return out

    # --- the scheduler: deliveries to attempts ---------------------------------------------

    async def _schedule_loop(self) -> None:
        assert self._schedule_wake is not None
        wait = IDLE_CHECK
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._schedule_wake.wait(), wait)
            self._schedule_wake.clear()
            if not self.rt.leader:
                if self._was_leader:
                    self._was_leader = False
                    self.metrics.zero()
                wait = IDLE_CHECK
                continue
            self._was_leader = True
            try:
                wait = await self.schedule_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhooks: scheduling failed (%s); will retry", type(exc).__name__)
                wait = IDLE_CHECK

    async def schedule_once(self) -> float:
        """Start attempts for due deliveries; returns the seconds until the next one is due (at most IDLE_CHECK).

        One task per endpoint, with a batch of its due deliveries (at most BATCH), sent one after the
        other over one connection: an endpoint holds one slot, and a busy endpoint costs one scheduling
        pass and one claim per batch, not per delivery. A failed attempt ends its batch (the rest is
        released: an ordered endpoint's later deliveries wait behind it, an unordered one's go in the
        next pass). Reads first, outside any transaction; then the claims, in one short transaction
        (on SQLite the database's one write lock is what the event history's writes wait for)."""
        self.passes += 1
        now = time.time()
        await self._housekeeping(now)
        free = self.settings.WEBHOOK_CONCURRENCY - len(self._in_flight)
        if free <= 0:
            return IDLE_CHECK
        busy = list(self._in_flight)
        d, w = WebhookDelivery, Webhook
        eligible = or_(w.enabled.is_(True), d.test.is_(True))
        unclaimed = or_(d.claimed_until.is_(None), d.claimed_until < now)
        batches: list[tuple[int, list[int]]] = []  # (endpoint, delivery ids in order)
        async with self.db() as session:
            due = (
                await session.execute(
                    select(d.webhook_id, func.min(d.id))
                    .join(w, w.id == d.webhook_id)
                    .where(
                        d.status == PENDING, d.next_attempt_at <= now, unclaimed, eligible, d.webhook_id.not_in(busy)
                    )
                    .group_by(d.webhook_id)
                )
            ).all()
            if due:
                rows = (
                    await session.execute(
                        select(d.id, d.webhook_id, d.test, w.ordered, w.enabled)
                        .join(w, w.id == d.webhook_id)
                        .where(d.id.in_([first for _, first in due]))
                    )
                ).all()
                for first, hook_id, test, ordered, enabled in sorted(rows, key=lambda r: int(r[0])):
                    if len(batches) >= free:
                        break
                    if test and (ordered or not enabled):
                        batches.append((int(hook_id), [int(first)]))  # a test message goes on its own
                        continue
                    if ordered:
                        # From the endpoint's oldest pending delivery on, as long as each is due: a head
                        # waiting for its retry holds back the ones behind it.
                        pending = (
                            await session.execute(
                                select(d.id, d.next_attempt_at, d.claimed_until)
                                .where(d.webhook_id == hook_id, d.status == PENDING, d.test.is_(False))
                                .order_by(d.id)
                                .limit(BATCH)
                            )
                        ).all()
                        ids = []
                        for delivery_id, next_at, claimed in pending:
                            if next_at is None or next_at > now or (claimed is not None and claimed >= now):
                                break
                            ids.append(int(delivery_id))
                    else:
                        ids = [
                            int(i)
                            for i in (
                                await session.scalars(
                                    select(d.id)
                                    .where(
                                        d.webhook_id == hook_id,
                                        d.status == PENDING,
                                        d.next_attempt_at <= now,
                                        unclaimed,
                                    )
                                    .order_by(d.id)
                                    .limit(BATCH)
                                )
                            ).all()
                        ]
                    if ids:
                        batches.append((int(hook_id), ids))
        if batches:
            lease = now + self.settings.WEBHOOK_TIMEOUT + LEASE_MARGIN
            wanted = [i for _, ids in batches for i in ids]

            def claim(conn: Connection) -> set[int]:
                c = _DELIVERIES.c
                result = conn.execute(
                    update(_DELIVERIES)
                    .where(c.id.in_(wanted), c.status == PENDING, or_(c.claimed_until.is_(None), c.claimed_until < now))
                    .values(claimed_until=lease)
                    .returning(c.id)
                )
                got = {int(i) for i in result.scalars().all()}
                # Another instance got some first (it led a moment ago): each batch keeps its claimed
                # prefix, so that an ordered endpoint's deliveries never go out of order; the rest is let go.
                let_go = []
                for _, ids in batches:
                    cut = next((n for n, i in enumerate(ids) if i not in got), len(ids))
                    let_go += [i for i in ids[cut:] if i in got]
                    del ids[cut:]
                if let_go:
                    conn.execute(update(_DELIVERIES).where(c.id.in_(let_go)).values(claimed_until=None))
                return got

            await self.writes.run(claim)
            for hook_id, ids in batches:
                if ids:
                    task = asyncio.get_running_loop().create_task(
                        self._deliver_batch(hook_id, ids), name=f"webhook-deliveries-{hook_id}-{ids[0]}"
                    )
                    self._in_flight[hook_id] = (ids[0], task)
        next_due = await self._next_due(eligible)
        if next_due is None:
            return IDLE_CHECK
        # Never less than a moment: a row due now that no pass can start (a race) must not spin the loop.
        return min(IDLE_CHECK, max(MIN_WAIT, next_due - time.time()))

    async def _next_due(self, eligible: Any) -> float | None:
        """When the next attempt this instance could start is due: for an ordered endpoint its oldest
        delivery only (the others wait behind it), and a claimed delivery not before its claim ends."""
        d, w = WebhookDelivery, Webhook
        busy = list(self._in_flight)
        due_at = case((d.claimed_until > d.next_attempt_at, d.claimed_until), else_=d.next_attempt_at)
        heads = (
            select(func.min(d.id))
            .join(w, w.id == d.webhook_id)
            .where(
                d.status == PENDING,
                d.test.is_(False),
                w.ordered.is_(True),
                w.enabled.is_(True),
                d.webhook_id.not_in(busy),
            )
            .group_by(d.webhook_id)
        )
        async with self.db() as session:
            others = await session.scalar(
                select(func.min(due_at))
                .join(w, w.id == d.webhook_id)
                .where(
                    d.status == PENDING,
                    eligible,
                    or_(w.ordered.is_(False), d.test.is_(True)),
                    d.webhook_id.not_in(busy),
                )
            )
            ordered = await session.scalar(select(func.min(due_at)).where(d.id.in_(heads)))
        times = [float(t) for t in (others, ordered) if t is not None]
        return min(times) if times else None

    async def _deliver_batch(self, hook_id: int, ids: list[int]) -> None:
        """Attempt the claimed deliveries `ids` of one endpoint, in order, over one connection; stop at
        the first failure (the rest is released)."""
        try:
            async with self.db() as session:
                hook = (
                    await session.execute(
                        select(
                            Webhook.url,
                            Webhook.secret,
                            Webhook.previous_secret,
                            Webhook.previous_secret_expires_at,
                            Webhook.enabled,
                            Webhook.failing_since,
                        ).where(Webhook.id == hook_id)
                    )
                ).one_or_none()
                rows = (
                    await session.execute(
                        select(
                            WebhookDelivery.id,
                            WebhookDelivery.event_id,
                            WebhookDelivery.body,
                            WebhookDelivery.test,
                            WebhookDelivery.attempts,
                        )
                        .where(WebhookDelivery.id.in_(ids))
                        .order_by(WebhookDelivery.id)
                    )
                ).all()
            if hook is None:
                return  # the endpoint was deleted meanwhile (its deliveries with it)
            url, secret, previous, previous_until, enabled, failing_since = hook
            async with self.sender.client() as client:
                for n, (delivery_id, event_id, body, test, attempts) in enumerate(rows):
                    attempt = await self._attempt(client, url, secret, previous, previous_until, event_id, bytes(body))
                    self.metrics.record(attempt)
                    now = time.time()
                    later = [int(r[0]) for r in rows[n + 1 :]]
                    await self._record(int(delivery_id), hook_id, bool(test), int(attempts) + 1, attempt, now, later)
                    if attempt.ok:
                        continue
                    if not test and enabled:
                        since = now if failing_since is None else float(failing_since)
                        if now - since >= self.settings.WEBHOOK_DISABLE_AFTER:
                            await self._disable(hook_id, now)
                    break
        except asyncio.CancelledError:
            raise
        except Exception:  # the claims run out and the deliveries are tried again
            log.exception("webhooks: deliveries to endpoint %d could not be completed", hook_id)
        finally:
            current = self._in_flight.get(hook_id)
            if current is not None and current[0] == ids[0]:
                del self._in_flight[hook_id]
            if self._schedule_wake is not None:
                self._schedule_wake.set()

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: str,
        secret: str,
        previous: str | None,
        previous_until: float | None,
        event_id: str,
        body: bytes,
    ) -> Attempt:
        """One attempt: signed with every secret in force now, sent."""
        try:
            in_force = [self.box.open(secret)]
            if previous is not None and previous_until is not None and previous_until > time.time():
                in_force.append(self.box.open(previous))
        except SecretUnreadable:
            message = "the secret cannot be read with this SECRET_KEY: rotate it"
            return Attempt("failure", 0.0, error_kind="secret_unreadable", error=message)
        timestamp = int(time.time())
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(in_force, event_id, timestamp, body),
        }
        return await self.sender.send(url, headers, body, client)

    async def _record(
        self,
        delivery_id: int,
        hook_id: int,
        test: bool,
        attempts: int,
        attempt: Attempt,
        now: float,
        later: list[int],
    ) -> None:
        """The attempt's outcome on the delivery and its endpoint, in one short transaction; the claims of
        the batch's `later` deliveries renewed after a success, released after a failure."""
        schedule = self.settings.WEBHOOK_RETRY_SCHEDULE
        if attempt.ok:
            status, next_attempt = SUCCEEDED, None
        elif test or attempts > len(schedule):
            status, next_attempt = FAILED, None
        else:
            status, next_attempt = PENDING, now + schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
        lease = now + self.settings.WEBHOOK_TIMEOUT + LEASE_MARGIN if attempt.ok else None

        def record(conn: Connection) -> None:
            c = _DELIVERIES.c
            conn.execute(
                update(_DELIVERIES)
                .where(c.id == delivery_id)
                .values(
                    attempts=attempts,
                    status=status,
                    next_attempt_at=next_attempt,
                    claimed_until=None,
                    last_attempt_at=now,
                    response_code=attempt.status_code,
                    duration_ms=round(attempt.duration * 1000, 1),
                    error_kind=attempt.error_kind,
                    error=attempt.error[:255] if attempt.error else None,
                    response_excerpt=attempt.excerpt,
                )
            )
            if later:
                conn.execute(update(_DELIVERIES).where(c.id.in_(later)).values(claimed_until=lease))
            if test:
                return
            w = _WEBHOOKS.c
            if attempt.ok:
                values: dict[str, Any] = {"failing_since": None, "last_success_at": now}
            else:
                values = {"failing_since": func.coalesce(w.failing_since, now), "last_failure_at": now}
            # Status, not configuration: `updated_at` keeps its value (named, so that its onupdate does not apply).
            conn.execute(update(_WEBHOOKS).where(w.id == hook_id).values(**values, updated_at=w.updated_at))

        await self.writes.run(record)

    async def _disable(self, hook_id: int, now: float) -> None:
        """Disable an endpoint that has failed for WEBHOOK_DISABLE_AFTER: audited and announced."""
        async with self.db() as session, session.begin():
            hook = await session.get(Webhook, hook_id, populate_existing=True)
            if hook is None or not hook.enabled or hook.failing_since is None:
                return
            if now - hook.failing_since < self.settings.WEBHOOK_DISABLE_AFTER:
                return
            since = iso(hook.failing_since)
            reason = f"disabled automatically: every delivery failed since {since}"
            hook.enabled = False
            hook.disabled_reason = reason
            hook.version += 1
            hook.updated_by = None
            audit.add_entry(
                session,
                action="webhook.disable",
                outcome="success",
                actor=None,
                target=url_origin(hook.url),
                details={"id": hook.id, "automatic": True, "failing_since": since, "reason": reason},
            )
            draft = EventDraft.make(
                EventType.CONFIG_CHANGE,
                config_change("disabled", hook, automatic=True, reason=reason, failing_since=since),
                severity=Severity.WARNING,
            )
            batch = self.rt.outbox.add(session, [draft])
        log.warning("webhooks: endpoint %d (%s) %s", hook_id, url_origin(hook.url), reason)
        try:
            await self.rt.outbox.publish(batch)
        except BrokerUnavailable:
            pass  # committed: the outbox relay announces it shortly

    # --- upkeep -----------------------------------------------------------------------------

    async def _housekeeping(self, now: float) -> None:
        if now - self._gauges_at >= GAUGES_EVERY:
            self._gauges_at = now
            async with self.db() as session:
                backlog = await session.scalar(
                    select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == PENDING)
                )
                by_state = await session.execute(select(Webhook.enabled, func.count()).group_by(Webhook.enabled))
                states = {bool(enabled): int(count) for enabled, count in by_state.all()}
            self.metrics.backlog.set(int(backlog or 0))
            self.metrics.endpoints.labels("enabled").set(int(states.get(True, 0)))
            self.metrics.endpoints.labels("disabled").set(int(states.get(False, 0)))
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            cutoff = now - self.settings.WEBHOOK_LOG_RETENTION

            def prune(conn: Connection) -> None:
                d = _DELIVERIES.c
                conn.execute(delete(_DELIVERIES).where(d.status != PENDING, d.created_at < cutoff))

            await self.writes.run(prune)
