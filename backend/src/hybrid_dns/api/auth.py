"""Sign in and out: POST /api/auth/login (username and password for a JWT), POST /api/auth/logout."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from .. import audit
from ..audit import client_address
from ..auth.sessions import recent_login_failures, revoke
from ..auth.tokens import issue_token
from ..auth.users import authenticate
from ..realtime.events import EventType, Role, Severity
from .deps import AnyUser

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


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request) -> TokenResponse:
    settings = request.app.state.settings
    db = request.app.state.db
    rt = request.app.state.realtime
    source = client_address(request)
    user = await authenticate(db, body.username, body.password)
    if user is None:
        await audit.record(
            db, action="auth.login", outcome="failure", actor=None, source=source, target=body.username[:64]
        )
        failures = await recent_login_failures(db, source, settings.LOGIN_FAILURE_WINDOW)
        if failures >= settings.LOGIN_FAILURE_LIMIT and failures % settings.LOGIN_FAILURE_LIMIT == 0:
            # Once at the limit, then again at every further multiple: an alert, not a flood of them.
            with contextlib.suppress(Exception):
                await rt.service.emit(
                    EventType.SECURITY_ALERT,
                    {
                        "alert": "repeated_login_failures",
                        "source": source,
                        "failures": failures,
                        "window_seconds": settings.LOGIN_FAILURE_WINDOW,
                        "last_username": body.username[:64],
                        "message": f"{failures} failed logins from {source} in {settings.LOGIN_FAILURE_WINDOW:.0f}s",
                    },
                    severity=Severity.WARNING if failures < 4 * settings.LOGIN_FAILURE_LIMIT else Severity.ERROR,
                )
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid username or password")
    token, claims = issue_token(request.app.state.secret_key, user.username, user.role, settings.ACCESS_TOKEN_TTL)
    await audit.record(db, action="auth.login", outcome="success", actor=user.username, source=source)
    with contextlib.suppress(Exception):  # the login stands even when the broker is down
        await rt.service.emit(
            EventType.USER_LOGIN,
            {"username": user.username, "role": user.role, "source": source, "session_id": claims.jti},
            actor=user.username,
        )
    return TokenResponse(
        access_token=token, expires_in=settings.ACCESS_TOKEN_TTL, username=user.username, role=Role(user.role)
    )


@router.post("/logout", status_code=204)
async def logout(user: AnyUser, request: Request) -> None:
    """End this token's session: it is revoked everywhere, and the sockets it opened close with 4001."""
    db = request.app.state.db
    rt = request.app.state.realtime
    source = client_address(request)
    await revoke(db, user.jti, user.username, float(user.expires_at))
    await audit.record(db, action="auth.logout", outcome="success", actor=user.username, source=source, target=user.jti)
    with contextlib.suppress(Exception):
        await rt.service.emit(EventType.USER_LOGOUT, {"username": user.username, "source": source}, actor=user.username)
        # Every instance closes this session's sockets when it delivers this event (hub event hook).
        await rt.service.emit(
            EventType.SESSION_EXPIRED,
            {"reason": "logout", "session_id": user.jti},
            target_user=user.username,
        )


@router.get("/me")
async def me(user: AnyUser) -> dict[str, object]:
    return {"username": user.username, "role": user.role.value, "expires_at": user.expires_at}
