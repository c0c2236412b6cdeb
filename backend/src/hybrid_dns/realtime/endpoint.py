"""The WebSocket endpoint `/ws/{connection_type}/{user_id}`: accept, authorize, then run the session.

Refusals come after the handshake is accepted, as a close code and a short reason, because a
browser cannot read an HTTP status from a failed upgrade but can read a close frame. Each refusal
is counted, logged (rate-limited) and audited (aggregated, abuse.py).

The endpoint is served straight from the ASGI scope, receive and send, ahead of FastAPI's
middleware and routes (app.py), not by a FastAPI route: a connection lives for hours, and every
layer it passed through would keep its frames alive that long (FastAPI's route machinery keeps
13.6 KB per connection). After the checks, the connection is registered with the hub and its
session (session.py) answers the client's frames until the socket closes.
"""

from __future__ import annotations

import functools
import logging
import re
from urllib.parse import urlsplit

from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from ..limits import LogThrottle
from .abuse import Refusal
from .connection import FAST_SEND
from .events import ROLE_CONNECTION_TYPES, ConnectionType
from .filters import EventFilter, FilterError, parse_filter_json
from .metrics import close_code_label
from .protocol import DISCONNECT_CAUSE, CloseCode, token_from_subprotocols
from .runtime import AuthError, Principal, Realtime
from .session import Session, connection_log, first_frame

log = logging.getLogger("hybrid_dns.realtime")
# Lines a client can cause at will: bounded per process.
refusal_log = LogThrottle(log, rate=10, burst=50)
WS_PATH = re.compile(r"/ws/([^/]+)/([^/]+)")

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def route(scope: Scope) -> tuple[str, str] | None:
    """(connection type, user id) of a WebSocket request for this endpoint; None for any other path."""
    match = WS_PATH.fullmatch(_route_path(scope))
    return None if match is None else (match[1], match[2])


async def serve(rt: Realtime, scope: Scope, receive: Receive, send: Send, connection_type: str, user_id: str) -> None:
    """One socket, from its handshake to its close. (This frame lives as long as the connection: no
    closures, and nothing kept that the session does not need.)"""
    if (await receive())["type"] != "websocket.connect":
        return  # the client left during the handshake
    # The subprotocol to select, not the token (this frame would keep a copy of it for hours).
    selected = token_from_subprotocols(scope.get("subprotocols") or [])[1]
    await send({"type": "websocket.accept", "subprotocol": selected})
    query = QueryParams(scope.get("query_string", b""))
    try:
        ctype, principal, event_filter = await _authorize(scope, query, rt, connection_type, user_id)
    except _Refused as refused:
        await _refuse(rt, scope, send, refused, connection_type, user_id)
        return
    since = _query_int(query.get("since"), "since")
    client_epoch = query.get("epoch") or None
    del query
    # A resuming client's frames wait until its replay is in place, between `connected` and the
    # live events that queue up meanwhile.
    registered_at_seq = rt.hub.last_seq
    conn = rt.hub.register(
        send,
        connection_type=ctype,
        user_id=user_id,
        role=principal.role,
        jti=principal.jti,
        first_frame=functools.partial(first_frame, rt),
        start=since is None,
        fast=(scope.get("extensions") or {}).get(FAST_SEND),
        event_filter=event_filter,
    )
    session = Session(rt, conn, principal)
    connection_log.log(
        logging.INFO,
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
            await session.resume(since, client_epoch, registered_at_seq)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                client_code = message.get("code")
                cause = message.get(DISCONNECT_CAUSE)
                if cause is not None:  # the server's protocol closed it for flooding (pings)
                    session.flooded(cause)
                break
            if conn.closing:
                continue
            await session.handle(message)
    except Exception:
        log.exception("ws read loop failed conn=%s", conn.id)
    finally:
        await session.end(client_code)


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
) -> tuple[ConnectionType, Principal, EventFilter | None]:
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
        ctype, event_filter = _authorize_principal(query, rt, connection_type, user_id, principal)
        return ctype, principal, event_filter
    except _Refused as refused:
        refused.actor = principal.user_id
        raise


def _authorize_principal(
    query: QueryParams, rt: Realtime, connection_type: str, user_id: str, principal: Principal
) -> tuple[ConnectionType, EventFilter | None]:
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
    event_filter = _query_filter(query)
    if rt.hub.user_connection_count(user_id) >= settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER:
        raise _Refused(CloseCode.TOO_MANY, "too many connections for this user")
    return ctype, event_filter


def _query_filter(query: QueryParams) -> EventFilter | None:
    """`?filter=<URL-encoded JSON>`: the connection's filter from its first event (and in its replay).
    A bad one is a terminal 4400 naming the field: the client must not reconnect with it."""
    given = query.getlist("filter")
    if not given:
        return None
    if len(given) > 1:
        raise _Refused(CloseCode.BAD_REQUEST, "filter given more than once")
    try:
        return parse_filter_json(given[0])
    except FilterError as exc:
        # A close reason is at most 123 bytes of UTF-8.
        reason = f"invalid filter: {exc.field}: {exc.message}".encode()[:123].decode(errors="ignore")
        raise _Refused(CloseCode.BAD_REQUEST, reason) from None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    return path[len(root) :] if root and path.startswith(root) else path


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
    rt.abuse.refusals.note(
        client[0] if client else None,
        code,
        refused.reason,
        refused.actor,
        Refusal(claimed_user=user_id[:64], target=f"/ws/{connection_type[:32]}"),
    )
    await send({"type": "websocket.close", "code": code, "reason": refused.reason})
