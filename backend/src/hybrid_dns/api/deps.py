"""Request dependencies: the runtime objects, the current user from the bearer token, role checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import audit
from ..auth.sessions import is_revoked
from ..auth.tokens import InvalidToken, decode_token
from ..auth.users import get_user
from ..config import Settings
from ..db import Database
from ..realtime.events import ROLE_RANK, Role
from ..realtime.runtime import Realtime

_bearer = HTTPBearer(auto_error=False)


@dataclasses.dataclass(frozen=True, slots=True)
class CurrentUser:
    username: str
    role: Role
    jti: str
    expires_at: int


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
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "not authenticated", headers={"WWW-Authenticate": "Bearer"}
    )
    if credentials is None:
        raise unauthorized
    try:
        claims = decode_token(request.app.state.secret_key, credentials.credentials)
    except InvalidToken as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    user = await get_user(request.app.state.db, claims.sub)
    if user is None or not user.is_active:
        raise unauthorized
    if await is_revoked(request.app.state.db, claims.jti):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token revoked", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(username=user.username, role=Role(user.role), jti=claims.jti, expires_at=claims.exp)


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
