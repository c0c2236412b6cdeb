"""Request dependencies: the runtime objects, the current user from the bearer token, role checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import audit
from ..auth.roles import ROLE_RANK, Role
from ..auth.sessions import CurrentUser, TokenRefused, authenticate_token
from ..config import Settings
from ..db import Database
from ..realtime.runtime import Realtime

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_realtime(request: Request) -> Realtime:
    return request.app.state.realtime


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CurrentUser:
    """401 for anything but a valid token of an active user's open session (auth/sessions.py)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not authenticated", headers=challenge)
    try:
        return await authenticate_token(request.app.state.db, request.app.state.secret_key, credentials.credentials)
    except TokenRefused as exc:
        # A missing or disabled user is not told apart from no token at all.
        reason = "not authenticated" if exc.user_not_allowed else exc.reason
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers=challenge) from None


def require_role(minimum: Role) -> Callable[..., Coroutine[Any, Any, CurrentUser]]:
    async def check(request: Request, user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if ROLE_RANK[user.role] < ROLE_RANK[minimum]:
            await audit.record(
                request.app.state.db,
                action="http.refused",
                outcome="refused",
                actor=user.username,
                source=audit.client_address(request),
                target=f"{request.method} {request.url.path}"[:255],
                details={"role": user.role.value, "required": minimum.value},
            )
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires the {minimum.value} role")
        return user

    return check


AdminUser = Annotated[CurrentUser, Depends(require_role(Role.ADMIN))]
AnyUser = Annotated[CurrentUser, Depends(current_user)]
OperatorUser = Annotated[CurrentUser, Depends(require_role(Role.OPERATOR))]
