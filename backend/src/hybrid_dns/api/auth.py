"""Sign in and out: POST /api/auth/login (username and password for a JWT), POST /api/auth/logout.

Repeated failed logins are throttled (auth/throttle.py): while an address or account is blocked,
the answer is 429 with Retry-After and the password is not checked. A sign-in is remembered as a
session (until its token expires) that a password reset can end; a user's first sign-in is where
their read state starts: nothing published before it counts as unread.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from .. import audit
from ..audit import client_address
from ..auth.roles import Role
from ..auth.sessions import record_session, revoke
from ..auth.throttle import FailureCount, Policy, blocked_for, record_failure, record_success, retry_after_header
from ..auth.tokens import issue_token
from ..auth.users import authenticate, note_login
from ..realtime.events import EventDraft, EventType, Severity
from ..realtime.runtime import Realtime
from .contract import responses
from .deps import AnyUser

log = logging.getLogger("hybrid_dns")
router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: Role


@router.post(
    "/login",
    response_model=TokenResponse,
    responses=responses(401, 413, 422, 429, 503),
)
async def login(body: LoginRequest, request: Request) -> TokenResponse:
    settings = request.app.state.settings
    db = request.app.state.db
    rt = request.app.state.realtime
    source = client_address(request)
    wait = await blocked_for(db, body.username, source)
    if wait > 0:
        # Refused before the password is looked at: a throttled guess learns nothing, and costs no hashing.
        seconds = retry_after_header(wait)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {seconds} s",
            headers={"Retry-After": seconds},
        )
    user = await authenticate(db, body.username, body.password)
    if user is None:
        policy = Policy.from_settings(settings)
        async with db() as session, session.begin():
            count = await record_failure(session, policy, body.username, source)
            audit.add_entry(
                session,
                action="auth.login",
                outcome="failure",
                actor=None,
                source=source,
                target=body.username[:64],
                details={"blocked_for": round(count.blocked_for, 3)} if count.blocked_for else {},
            )
        await _alert_on_thresholds(rt, policy, count, body.username[:64], source)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid username or password")
    token, claims = issue_token(request.app.state.secret_key, user.username, user.role, settings.ACCESS_TOKEN_TTL)
    async with db() as session, session.begin():
        await record_success(session, user.username, source)
        await record_session(session, claims)
        first = await note_login(session, user.username)
        audit.add_entry(session, action="auth.login", outcome="success", actor=user.username, source=source)
    seq = 0
    with contextlib.suppress(Exception):  # the login stands even when the broker is down
        event = await rt.service.emit(
            EventType.USER_LOGIN,
            {"username": user.username, "role": user.role, "source": source, "session_id": claims.jti},
            actor=user.username,
        )
        seq = event.seq
    if first:
        try:  # nothing before the first sign-in is news to a new user: not even the sign-in itself
            await rt.read_state.start_now(user.username, seq)
        except Exception as exc:
            log.warning("read state of %s not started at its first sign-in (%s)", user.username, type(exc).__name__)
    return TokenResponse(
        access_token=token, expires_in=settings.ACCESS_TOKEN_TTL, username=user.username, role=Role(user.role)
    )


async def _alert_on_thresholds(
    rt: Realtime, policy: Policy, count: FailureCount, username: str, source: str | None
) -> None:
    """A security_alert when an address, or an account, reaches its limit, and again at each further
    multiple of it: one alert per threshold, not one per attempt."""
    alerts = []
    if count.source_failures % policy.source_limit == 0:
        alerts.append(
            (
                count.source_failures >= 4 * policy.source_limit,
                {
                    "alert": "repeated_login_failures",
                    "source": source,
                    "failures": count.source_failures,
                    "window_seconds": policy.window,
                    "last_username": username,
                    "message": f"{count.source_failures} failed logins from {source}; its attempts are slowed down",
                },
            )
        )
    if count.account_failures % policy.account_limit == 0:
        alerts.append(
            (
                count.account_failures >= 4 * policy.account_limit,
                {
                    "alert": "account_login_failures",
                    "username": username,
                    "failures": count.account_failures,
                    "window_seconds": policy.window,
                    "last_source": source,
                    "message": f"{count.account_failures} failed logins for {username!r} from any address; "
                    f"its attempts are slowed down",
                },
            )
        )
    for severe, data in alerts:
        try:
            await rt.service.emit(
                EventType.SECURITY_ALERT, data, severity=Severity.ERROR if severe else Severity.WARNING
            )
        except Exception as exc:  # the refusal stands; the audit log has every failure
            log.warning("could not emit the %s security_alert (%s)", data["alert"], type(exc).__name__)


@router.post(
    "/logout",
    status_code=204,
    responses=responses(401, 503),
)
async def logout(user: AnyUser, request: Request) -> None:
    """End this token's session everywhere.

    The revocation stored in the database is what ends it: every instance refuses the token from
    then on, and re-checks its open sockets against it (WEBSOCKET_ACCESS_RECHECK_INTERVAL). If it
    cannot be stored, the answer is 503 and nothing changed. Once stored, this instance closes the
    session's sockets itself, and the sign-out events (user_logout, session_expired) are published
    for the others; with the broker down they are published later by the outbox relay, and the
    other instances close their sockets at their next re-check. Either way the answer is 204.
    """
    db = request.app.state.db
    rt: Realtime = request.app.state.realtime
    source = client_address(request)
    drafts = [
        EventDraft.make(EventType.USER_LOGOUT, {"username": user.username, "source": source}, actor=user.username),
        # Every instance closes this session's sockets when it delivers this event (hub).
        EventDraft.make(
            EventType.SESSION_EXPIRED, {"reason": "logout", "session_id": user.jti}, target_user=user.username
        ),
    ]
    try:
        async with db() as session, session.begin():
            batch = None
            if await revoke(session, user.jti, user.username, float(user.expires_at)):
                audit.add_entry(
                    session,
                    action="auth.logout",
                    outcome="success",
                    actor=user.username,
                    source=source,
                    target=user.jti,
                )
                batch = rt.outbox.add(session, drafts)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("logout of %s could not be stored (%s)", user.username, type(exc).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "could not sign out: the session store is unavailable; try again"
        ) from None
    if batch is not None:
        try:
            events = await rt.outbox.publish(batch)
            if events:
                # Delivered here first, so this instance's sockets get session_expired before they close.
                await rt.hub.wait_for_seq(events[-1].seq, within=2.0)
        except Exception as exc:
            log.warning(
                "sign-out of %s not broadcast now (%s): the outbox relay retries, and other instances "
                "close the session's sockets at their next access re-check",
                user.username,
                type(exc).__name__,
            )
    rt.end_session(user.username, user.jti)


@router.get("/me", responses=responses(401))
async def me(user: AnyUser) -> dict[str, object]:
    return {"username": user.username, "role": user.role.value, "expires_at": user.expires_at}
