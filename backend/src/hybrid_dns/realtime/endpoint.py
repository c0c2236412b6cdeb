"""The WebSocket endpoint: accept, authenticate, register with the hub, then read client frames.

Refusals come after the handshake is accepted, as a close code and a short reason, because a
browser cannot read an HTTP status from a failed upgrade but can read a close frame.

`/ws/{connection_type}/{user_id}` is served by an ASGI middleware, straight from the ASGI scope,
receive and send, rather than by a FastAPI route: a connection lives for hours, and FastAPI's
route machinery (dependency solving, exit stacks, the exception wrappers and a Starlette
WebSocket) kept about 13 KB per connection alive for nothing. The middleware sits in the app
itself, so every server that runs the app serves the same endpoint.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from ..limits import LogThrottle
from .abuse import Refusal, reports
from .events import ROLE_CONNECTION_TYPES, ConnectionType, Event, EventType, Role
from .hub import FAST_SEND, Connection
from .metrics import close_code_label
from .protocol import (
    DISCONNECT_CAUSE,
    FLOODING,
    STRIKE_MEMORY,
    Ack,
    CloseCode,
    ErrorCode,
    GetStats,
    Ping,
    ProtocolError,
    Subscribe,
    TokenBucket,
    batch_frames,
    connected_frame,
    error_frame,
    parse_client_message,
    pong_frame,
    reset_frame,
    resumed_frame,
    stats_frame,
    subscriptions_frame,
    token_from_subprotocols,
)
from .runtime import AuthError, Principal, Realtime

log = logging.getLogger("hybrid_dns.realtime")
# Lines a client can cause at will (refusals, floods): bounded per process.
refusal_log = LogThrottle(log, rate=10, burst=50)
flooding_log = LogThrottle(log, rate=1, burst=10)
WS_PATH = re.compile(r"/ws/([^/]+)/([^/]+)")

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
SESSION_EVENTS = uuid.UUID("5b1f0c2e-8f3a-4c55-9d0e-6a1b7c2d3e4f")  # namespace of session_expired ids


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Browsers always send Origin; other clients need not (they still need a token)."""
    if not origin:
        return True
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    if host and parts.netloc.lower() == host.lower():
        return True  # same origin
    return not allowed and (parts.hostname or "") in LOCAL_HOSTS


class _Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        self.actor: str | None = None  # the authenticated user, when the refusal came after authentication


def _query_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise _Refused(CloseCode.BAD_REQUEST, f"{name} must be a non-negative integer")
    return int(value)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _authorize(
    scope: Scope, query: QueryParams, rt: Realtime, connection_type: str, user_id: str
) -> tuple[ConnectionType, Principal]:
    settings = rt.settings
    if not origin_allowed(_header(scope, b"origin"), _header(scope, b"host"), settings.ALLOWED_ORIGINS):
        raise _Refused(CloseCode.FORBIDDEN, "origin not allowed")
    if len(query.getlist("token")) > 1:
        raise _Refused(CloseCode.BAD_REQUEST, "token given more than once")
    sub_token, _ = token_from_subprotocols(scope.get("subprotocols") or [])
    token = sub_token or query.get("token")
    try:
        principal = await rt.authenticate(token)
    except AuthError as exc:
        raise _Refused(exc.code, exc.reason) from None
    try:
        return _authorize_principal(query, rt, connection_type, user_id, principal), principal
    except _Refused as refused:
        refused.actor = principal.user_id
        raise


def _authorize_principal(
    query: QueryParams, rt: Realtime, connection_type: str, user_id: str, principal: Principal
) -> ConnectionType:
    settings = rt.settings
    try:
        ctype = ConnectionType(connection_type)
    except ValueError:
        raise _Refused(CloseCode.UNKNOWN_CONNECTION_TYPE, "unknown connection type") from None
    if principal.user_id != user_id:
        raise _Refused(CloseCode.FORBIDDEN, "token does not belong to this user")
    if ctype not in ROLE_CONNECTION_TYPES[principal.role]:
        raise _Refused(CloseCode.FORBIDDEN, f"role {principal.role.value} may not open {ctype.value}")
    _query_int(query.get("since"), "since")  # resume parameters: validated now, used by replay
    if len(query.get("epoch", "")) > 64:
        raise _Refused(CloseCode.BAD_REQUEST, "epoch too long")
    if rt.hub.user_connection_count(user_id) >= settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER:
        raise _Refused(CloseCode.TOO_MANY, "too many connections for this user")
    return ctype


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    return path[len(root) :] if root and path.startswith(root) else path


class RealtimeWebSocketMiddleware:
    """Serves `/ws/{connection_type}/{user_id}`; every other request goes on to the app."""

    def __init__(self, app: ASGIApp, realtime: Realtime) -> None:
        self.app = app
        self.realtime = realtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            match = WS_PATH.fullmatch(_route_path(scope))
            if match is not None:
                await websocket_session(self.realtime, scope, receive, send, match[1], match[2])
                return
        await self.app(scope, receive, send)


async def websocket_session(
    rt: Realtime, scope: Scope, receive: Receive, send: Send, connection_type: str, user_id: str
) -> None:
    if (await receive())["type"] != "websocket.connect":
        return  # the client left during the handshake
    _, selected = token_from_subprotocols(scope.get("subprotocols") or [])
    await send({"type": "websocket.accept", "subprotocol": selected})
    query = QueryParams(scope.get("query_string", b""))
    try:
        ctype, principal = await _authorize(scope, query, rt, connection_type, user_id)
    except _Refused as refused:
        await _refuse(rt, scope, send, refused, connection_type, user_id)
        return

    settings = rt.settings
    hub = rt.hub
    since = _query_int(query.get("since"), "since")
    client_epoch = query.get("epoch") or None
    del query
    # A resuming client's writer starts after its replay is in place, between `connected` and
    # the live events that queue up meanwhile. (No closures here: this frame lives as long as
    # the connection, and every captured variable would be a cell kept with it.)
    registered_at_seq = hub.last_seq
    conn = hub.register(
        send,
        connection_type=ctype,
        user_id=user_id,
        role=principal.role,
        jti=principal.jti,
        first_frame=functools.partial(_first_frame, rt),
        start=since is None,
        fast=(scope.get("extensions") or {}).get(FAST_SEND),
    )
    conn.bucket = TokenBucket.full(settings.WEBSOCKET_RATE_LIMIT, settings.WEBSOCKET_RATE_BURST, time.monotonic())
    if principal.expires_at is not None:
        delay = max(0.0, principal.expires_at - time.time())
        conn.expiry_handle = asyncio.get_running_loop().call_later(delay, _on_expiry, rt, conn, principal)
    log.info(
        "ws connect conn=%s user=%s role=%s type=%s client=%s",
        conn.id,
        user_id,
        principal.role.value,
        ctype.value,
        _client(scope),
    )
    client_code: int | None = None
    try:
        if since is not None:
            try:
                await _resume(rt, conn, since, client_epoch, registered_at_seq)
            finally:
                conn.start()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                client_code = message.get("code")
                cause = message.get(DISCONNECT_CAUSE)
                if cause is not None:  # the server's protocol closed it for flooding (pings)
                    _flooded(rt, conn, cause)
                break
            if conn.closing:
                continue
            await _handle_frame(rt, conn, message)
    except Exception:
        log.exception("ws read loop failed conn=%s", conn.id)
    finally:
        hub.unregister(conn)
        code = conn.close_code if conn.close_code is not None else client_code
        rt.metrics.closed.labels(close_code_label(code)).inc()
        log.info(
            "ws disconnect conn=%s user=%s type=%s code=%s duration=%.1fs",
            conn.id,
            user_id,
            ctype.value,
            code,
            time.time() - conn.connected_at,
        )
        await conn.wait_closed()


def _first_frame(rt: Realtime, conn: Connection) -> str:
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
    )


def _on_expiry(rt: Realtime, conn: Connection, principal: Principal) -> None:
    rt.spawn(_expire(rt, conn, principal))


async def _handle_frame(rt: Realtime, conn: Connection, message: MutableMapping[str, Any]) -> None:
    settings = rt.settings
    metrics = rt.metrics
    now = time.monotonic()
    if not conn.bucket.take(now):
        if now - conn.last_strike > STRIKE_MEMORY:
            conn.rate_strikes = 0  # strikes count within a window: an occasional burst is forgiven
        conn.last_strike = now
        conn.rate_strikes += 1
        metrics.inbound_messages.labels("rate_limited").inc()
        if conn.rate_strikes > settings.WEBSOCKET_RATE_STRIKES:
            if not conn.closing:
                conn.close(CloseCode.TOO_MANY, "flooding: too many messages")
                _flooded(rt, conn, FLOODING)
        else:
            conn.enqueue(error_frame(ErrorCode.RATE_LIMITED, "too many messages; slow down"))
        return
    text = message.get("text")
    if text is None:
        metrics.inbound_messages.labels("invalid").inc()
        conn.enqueue(error_frame(ErrorCode.INVALID_MESSAGE, "binary frames are not supported; send JSON text"))
        return
    try:
        parsed = parse_client_message(text, conn.connection_type)
    except ProtocolError as exc:
        metrics.inbound_messages.labels("invalid").inc()
        conn.enqueue(error_frame(exc.code, exc.message, exc.request_id))
        return
    metrics.inbound_messages.labels("ok").inc()
    if isinstance(parsed, Ping):
        conn.enqueue("pong" if parsed.legacy_text else pong_frame(parsed.id))
    elif isinstance(parsed, Subscribe):
        current = set(conn.subscriptions)
        wanted = current - set(parsed.event_types) if parsed.unsubscribe else current | set(parsed.event_types)
        rt.hub.set_subscriptions(conn, wanted)
        conn.enqueue(subscriptions_frame(conn.subscriptions, parsed.id))
    elif isinstance(parsed, GetStats):
        conn.enqueue(stats_frame(_stats_for(rt, conn), parsed.id))
    elif isinstance(parsed, Ack):
        try:
            await rt.read_state.ack(conn.user_id, conn.role, event_ids=parsed.event_ids, up_to_seq=parsed.up_to_seq)
        except Exception:
            log.exception("ack failed conn=%s", conn.id)
            conn.enqueue(error_frame(ErrorCode.UNAVAILABLE, "read state is unavailable; try again", parsed.id))


def _stats_for(rt: Realtime, conn: Connection) -> dict[str, Any]:
    """Admins see the server's figures; everyone sees their own connection's."""
    stats: dict[str, Any] = rt.hub.stats() if conn.role is Role.ADMIN else {}
    stats["connection"] = conn.info()
    stats["last_seq"] = rt.hub.last_seq
    return stats


async def _resume(rt: Realtime, conn: Connection, since: int, epoch: str | None, upto: int) -> None:
    """Replay what the client missed, in order, or tell it to refetch (`reset`)."""
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
            events = [e for e in page.events if e.seq <= upto and conn.may_see(e)]
    if reason is not None:
        position = rt.broker.position()
        conn.insert_after_first([reset_frame(reason, position.epoch, rt.hub.last_seq)], drop_through_seq=0)
        log.info("ws reset conn=%s user=%s since=%d reason=%s", conn.id, conn.user_id, since, reason)
        return
    frames = batch_frames([e.frame for e in events], rt.settings.WEBSOCKET_MAX_BATCH)
    frames.append(resumed_frame(since + 1, upto, len(events)))
    conn.insert_after_first(frames, drop_through_seq=upto)
    log.info(
        "ws resumed conn=%s user=%s from=%d to=%d replayed=%d", conn.id, conn.user_id, since + 1, upto, len(events)
    )


async def _refuse(
    rt: Realtime, scope: Scope, send: Send, refused: _Refused, connection_type: str, user_id: str
) -> None:
    """Close with the refusal's code; count it, and leave a bounded trace (log line, audit row).

    A client can repeat a refusal hundreds of times a second, so nothing here waits on the
    database and nothing grows per refusal: the audit row is aggregated (realtime/abuse.py).
    """
    code = int(refused.code)
    rt.metrics.refused.labels(close_code_label(code)).inc()
    refusal_log.log(
        logging.INFO,
        "ws refused code=%d reason=%r type=%r claimed_user=%r actor=%s client=%s",
        code,
        refused.reason,
        connection_type[:32],
        user_id[:64],
        refused.actor or "-",
        _client(scope),
    )
    client = scope.get("client")
    reports(rt).refusals.note(
        client[0] if client else None,
        code,
        refused.reason,
        refused.actor,
        Refusal(claimed_user=user_id[:64], target=f"/ws/{connection_type[:32]}"),
    )
    await send({"type": "websocket.close", "code": code, "reason": refused.reason})


def _flooded(rt: Realtime, conn: Connection, cause: str) -> None:
    """A connection was closed for flooding: one line (rate-limited) and the user's alert (aggregated)."""
    flooding_log.log(
        logging.WARNING,
        "ws flooding cause=%s conn=%s user=%s type=%s",
        cause,
        conn.id,
        conn.user_id,
        conn.connection_type.value,
    )
    reports(rt).alerts.report(conn.user_id, cause, conn.connection_type, conn.id)


async def _expire(rt: Realtime, conn: Connection, principal: Principal) -> None:
    """The token ran out while connected: tell the user (once per session), then close with 4001."""
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
