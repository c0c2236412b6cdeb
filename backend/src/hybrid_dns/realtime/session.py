"""One accepted socket's session: its connection in the hub, the client frames it answers, its limits.

The endpoint (endpoint.py) authorizes a socket and registers its connection; from then on the
session holds what is the socket's own and not the hub's business: the inbound rate guard (past
its strikes, 4029 `flooding`), the timer that ends it when its token expires (4001, after one
`session_expired` event for the whole session), and the replay of what a resuming client missed.
Replies go on the connection's queue, so they keep their order with the events.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from ..auth.roles import Role
from ..limits import LogThrottle
from .connection import Connection
from .events import Event, EventType
from .hub import KEEP
from .metrics import close_code_label
from .presence import TooManyTopics
from .protocol import (
    FLOODING,
    Ack,
    CloseCode,
    ErrorCode,
    GetStats,
    Ping,
    PresenceUpdate,
    ProtocolError,
    RateLimit,
    Subscribe,
    Verdict,
    connected_frame,
    error_frame,
    parse_client_message,
    pong_frame,
    reset_frame,
    resumed_frame,
    stats_frame,
    subscriptions_frame,
)
from .runtime import Principal, Realtime

log = logging.getLogger("hybrid_dns.realtime")
# Lines a client can cause at will (floods): bounded per process.
flooding_log = LogThrottle(log, rate=1, burst=10)
# A line per connect, resume and disconnect, except in a reconnect storm: past the burst, 50 a second
# and a count of the rest (10,000 dashboards coming back at once wrote 20,000 lines, a tenth of the
# CPU a connect cost; bench/connect_bench.py).
connection_log = LogThrottle(log, rate=50, burst=500)
SESSION_EVENTS = uuid.UUID("5b1f0c2e-8f3a-4c55-9d0e-6a1b7c2d3e4f")  # namespace of session_expired ids


def first_frame(rt: Realtime, conn: Connection) -> str:
    """`connected`: queued in the step that registers the connection, so no event precedes it."""
    return connected_frame(
        connection_id=conn.id,
        connection_type=conn.connection_type,
        user_id=conn.user_id,
        role=conn.role.value,
        ping_interval=rt.settings.WEBSOCKET_PING_INTERVAL,
        subscriptions=conn.subscriptions,
        epoch=rt.broker.position().epoch,
        last_seq=rt.hub.last_seq,
        instance_id=rt.instance_id,
        event_filter=conn.filter,
    )


class Session:
    # No closures anywhere here: a session lives as long as its socket, and every captured variable
    # would be a cell kept with it.
    __slots__ = ("conn", "expiry", "guard", "principal", "rt")

    def __init__(self, rt: Realtime, conn: Connection, principal: Principal) -> None:
        settings = rt.settings
        self.rt = rt
        self.conn = conn
        self.principal = principal
        limit = RateLimit(settings.WEBSOCKET_RATE_LIMIT, settings.WEBSOCKET_RATE_BURST, settings.WEBSOCKET_RATE_STRIKES)
        self.guard = limit.guard(time.monotonic())
        self.expiry: asyncio.TimerHandle | None = None
        if principal.expires_at is not None:
            delay = max(0.0, principal.expires_at - time.time())
            self.expiry = asyncio.get_running_loop().call_later(delay, self._on_expiry)

    # --- client frames ---------------------------------------------------------------------

    async def handle(self, message: MutableMapping[str, Any]) -> None:
        """Answer one client frame (or refuse it: an `error` frame, or 4029 past the rate's strikes)."""
        rt, conn = self.rt, self.conn
        metrics = rt.metrics
        verdict = self.guard.check(time.monotonic())
        if verdict is not Verdict.ALLOW:
            metrics.child(metrics.inbound_messages, "rate_limited").inc()
            if verdict is Verdict.FLOODING:
                if not conn.closing:
                    conn.close(CloseCode.TOO_MANY, "flooding: too many messages")
                    self.flooded(FLOODING)
            else:  # a burst: refused, and forgiven if it stops
                conn.enqueue(error_frame(ErrorCode.RATE_LIMITED, "too many messages; slow down"))
            return
        text = message.get("text")
        if text is None:
            metrics.child(metrics.inbound_messages, "invalid").inc()
            conn.enqueue(error_frame(ErrorCode.INVALID_MESSAGE, "binary frames are not supported; send JSON text"))
            return
        try:
            parsed = parse_client_message(text, conn.connection_type)
        except ProtocolError as exc:
            metrics.child(metrics.inbound_messages, "invalid").inc()
            conn.enqueue(error_frame(exc.code, exc.message, exc.request_id, exc.field))
            return
        metrics.child(metrics.inbound_messages, "ok").inc()
        if isinstance(parsed, Ping):
            conn.enqueue("pong" if parsed.legacy_text else pong_frame(parsed.id))
        elif isinstance(parsed, Subscribe):
            current = set(conn.subscriptions)
            wanted = current - set(parsed.event_types) if parsed.unsubscribe else current | set(parsed.event_types)
            # The types and the filter change together (the frame was checked whole before this).
            rt.hub.set_subscriptions(conn, wanted, parsed.filter if parsed.set_filter else KEEP)
            conn.enqueue(subscriptions_frame(conn.subscriptions, parsed.id, conn.filter))
        elif isinstance(parsed, GetStats):
            conn.enqueue(stats_frame(self._stats(), parsed.id))
        elif isinstance(parsed, Ack):
            try:
                await rt.read_state.ack(conn.user_id, conn.role, event_ids=parsed.event_ids, up_to_seq=parsed.up_to_seq)
            except Exception:
                log.exception("ack failed conn=%s", conn.id)
                conn.enqueue(error_frame(ErrorCode.UNAVAILABLE, "read state is unavailable; try again", parsed.id))
        elif isinstance(parsed, PresenceUpdate):
            try:
                await rt.presence.update(conn, parsed.topic, parsed.state, parsed.id)
            except TooManyTopics as exc:
                conn.enqueue(error_frame(ErrorCode.TOO_MANY_TOPICS, str(exc), parsed.id))
            except Exception as exc:
                log.warning("presence failed conn=%s (%s)", conn.id, type(exc).__name__)
                conn.enqueue(error_frame(ErrorCode.UNAVAILABLE, "presence is unavailable; try again", parsed.id))

    def _stats(self) -> dict[str, Any]:
        """Admins see the server's figures; everyone sees their own connection's."""
        hub, conn = self.rt.hub, self.conn
        stats: dict[str, Any] = hub.stats() if conn.role is Role.ADMIN else {}
        stats["connection"] = conn.info()
        stats["last_seq"] = hub.last_seq
        return stats

    def flooded(self, cause: str) -> None:
        """Closed for flooding (here, or by the server's protocol for pings): one line (rate-limited)
        and the user's alert (aggregated, abuse.py)."""
        conn = self.conn
        flooding_log.log(
            logging.WARNING,
            "ws flooding cause=%s conn=%s user=%s type=%s",
            cause,
            conn.id,
            conn.user_id,
            conn.connection_type.value,
        )
        self.rt.abuse.alerts.report(conn.user_id, cause, conn.connection_type, conn.id)

    # --- resume ----------------------------------------------------------------------------

    async def resume(self, since: int, epoch: str | None, upto: int) -> None:
        """Replay what the client missed, in order, or tell it to refetch (`reset`); then let frames out.

        `upto` is the last seq dispatched when the connection registered: `connected` says so, and
        the live events after it are queued behind `connected` while the replay is fetched."""
        try:
            await self._replay(since, epoch, upto)
        finally:
            self.conn.start()

    async def _replay(self, since: int, epoch: str | None, upto: int) -> None:
        rt, conn = self.rt, self.conn
        position = rt.broker.position()
        reason: str | None = None
        if epoch is not None and epoch != position.epoch:
            reason = "epoch_changed"
        elif since > upto:
            # The client saw more than this instance has delivered: another instance may be ahead of us.
            if await rt.hub.wait_for_seq(since, within=2.0):
                upto = since
            else:
                reason = "history_expired"
        elif upto - since > rt.settings.EVENT_REPLAY_LIMIT:
            reason = "too_far_behind"
        events: list[Event] = []
        if reason is None and upto > since:
            try:
                page = await rt.broker.history(since, upto - since)
            except Exception:
                log.exception("replay failed conn=%s", conn.id)
                page = None
            if page is None or page.first_kept_seq > since + 1:
                reason = "history_expired"
            else:
                # The same rule as the live path: subscribed, allowed, and kept by the connection's filter.
                events = [e for e in page.events if e.seq <= upto and conn.may_see(e)]
        if reason is not None:
            position = rt.broker.position()
            conn.insert_after_first([reset_frame(reason, position.epoch, rt.hub.last_seq)], drop_through_seq=0)
            connection_log.log(
                logging.INFO, "ws reset conn=%s user=%s since=%d reason=%s", conn.id, conn.user_id, since, reason
            )
            return
        frames = rt.replays.frames(position.epoch, events, rt.settings.WEBSOCKET_MAX_BATCH)
        frames.append(resumed_frame(since + 1, upto, len(events)))
        conn.insert_after_first(frames, drop_through_seq=upto)
        connection_log.log(
            logging.INFO,
            "ws resumed conn=%s user=%s from=%d to=%d replayed=%d",
            conn.id,
            conn.user_id,
            since + 1,
            upto,
            len(events),
        )

    # --- the end -----------------------------------------------------------------------------

    def _on_expiry(self) -> None:
        self.rt.spawn(self._expire())

    async def _expire(self) -> None:
        """The token ran out while connected: tell the user (once per session), then close with 4001."""
        rt, conn, principal = self.rt, self.conn, self.principal
        if conn.closing:
            return
        jti = principal.jti or conn.id
        emitting = rt.expired_sessions.get(jti)
        if emitting is None:
            if len(rt.expired_sessions) > 10_000:
                rt.expired_sessions.clear()
            expired_at = datetime.fromtimestamp(principal.expires_at or time.time(), UTC)
            # One event per session, however many sockets it opened; each of them waits for it. Its id
            # comes from the session, so that instances that each hold a socket of it publish it once.
            emitting = rt.spawn(
                rt.service.emit(
                    EventType.SESSION_EXPIRED,
                    {"reason": "token_expired", "session_id": jti, "expired_at": expired_at},
                    target_user=conn.user_id,
                    event_id=str(uuid.uuid5(SESSION_EVENTS, f"token_expired:{jti}")),
                )
            )
            rt.expired_sessions[jti] = emitting
        try:
            event = await asyncio.shield(emitting)
            await rt.hub.wait_for_seq(event.seq)  # so the event is queued before the close
        except Exception:
            log.exception("could not emit session_expired")
        conn.close(CloseCode.SESSION_EXPIRED, "session expired")

    async def end(self, client_code: int | None) -> None:
        """The socket is gone: leave the hub, count the close, and wait for the close to finish."""
        rt, conn = self.rt, self.conn
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        rt.hub.unregister(conn)
        rt.presence.disconnected(conn)
        code = conn.close_code if conn.close_code is not None else client_code
        rt.metrics.closed.labels(close_code_label(code)).inc()
        connection_log.log(
            logging.INFO,
            "ws disconnect conn=%s user=%s type=%s code=%s duration=%.1fs",
            conn.id,
            conn.user_id,
            conn.connection_type.value,
            code,
            time.time() - conn.connected_at,
        )
        await conn.wait_closed()
