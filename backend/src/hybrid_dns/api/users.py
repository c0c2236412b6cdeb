"""User accounts over HTTP, for admins: /api/users (list, create), /api/users/{username} (read, change
role or disabled), /api/users/{username}/password (reset).

The storage is auth/users.py's, which the CLI uses too; every change is audited there. A user
carries a `version` (api/versions.py): PATCH takes If-Match and answers 412 with the user as it is
now when it moved. Changes announce themselves to admins (`user_created`, `user_updated`); a user
disabled or given a lower role loses at once the sockets the new role may not hold, on this
instance after the commit, and on the others when the `user_updated` event reaches them.

Two refusals (409) keep the server manageable: no change may leave no active admin, and admins may
not disable themselves or lower their own role (another admin, or the CLI, can). A password reset
signs the user out everywhere (every session revoked, their sockets closed with 4001 `password
reset`), except the session that asked when admins reset their own password.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import func, select

from .. import audit
from ..auth import users as accounts
from ..auth.passwords import hash_password_async
from ..auth.roles import ROLE_RANK, Role
from ..auth.sessions import revoke_user_sessions
from ..models import User
from ..realtime.events import EventType
from ..realtime.runtime import Realtime
from .changes import Change
from .contract import Offset, Omitted, UtcDateTime, responses
from .deps import AdminUser
from .errors import field_error
from .versions import ETAG_HEADER, IfMatch, stale, tag

router = APIRouter(prefix="/api/users", tags=["users"])

USERNAME_RULE = "1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"


def _valid_username(value: str) -> str:
    if not accounts.USERNAME_RE.match(value):
        raise ValueError(USERNAME_RULE)
    return value


Username = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description=USERNAME_RULE,
        json_schema_extra={"pattern": accounts.USERNAME_PATTERN},
    ),
    AfterValidator(_valid_username),
]
PathUsername = Annotated[str, Path(min_length=1, max_length=64, pattern=accounts.USERNAME_PATTERN)]
Password = Annotated[str, Field(min_length=accounts.PASSWORD_MIN, max_length=accounts.PASSWORD_MAX)]


class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool
    version: int
    updated_by: str | None  # who made this version (an admin, or "cli (<login>)")
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None  # the last sign-in, null if never


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    role: Role
    password: Password


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | Omitted = None
    disabled: StrictBool | Omitted = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


def _out(user: User) -> UserOut:
    return UserOut(
        username=user.username,
        role=Role(user.role),
        disabled=not user.is_active,
        version=user.version,
        updated_by=user.updated_by,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _event(user: User, **extra: Any) -> dict[str, Any]:
    return {**_out(user).model_dump(mode="json"), **extra}


async def _locked(change: Change, username: str) -> User:
    await accounts.serialize_changes(change.session)
    try:
        return await accounts.lock_user(change.session, username)
    except accounts.UnknownUser:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}") from None


@router.get("", responses=responses(401, 403, 422))
async def list_users(
    request: Request,
    _: AdminUser,
    search: Annotated[str | None, Query(max_length=64, description="part of the username")] = None,
    role: Role | None = None,
    disabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Offset = 0,
) -> UserPage:
    conditions: list[Any] = []
    if search:
        conditions.append(func.lower(User.username).contains(search.strip().lower(), autoescape=True))
    if role is not None:
        conditions.append(User.role == role.value)
    if disabled is not None:
        conditions.append(User.is_active.is_(not disabled))
    async with request.app.state.db() as session:
        total = await session.scalar(select(func.count()).select_from(User).where(*conditions))
        rows = (
            await session.scalars(select(User).where(*conditions).order_by(User.username).limit(limit).offset(offset))
        ).all()
    return UserPage(items=[_out(u) for u in rows], total=int(total or 0), limit=limit, offset=offset)


@router.get("/{username}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 422)})
async def get_user(username: PathUsername, request: Request, response: Response, _: AdminUser) -> UserOut:
    user = await accounts.get_user(request.app.state.db, username)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
    tag(response, user.version)
    return _out(user)


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={201: ETAG_HEADER, **responses(401, 403, 409, 413, 422, 503)}
)
async def create_user(body: UserCreate, request: Request, response: Response, admin: AdminUser) -> UserOut:
    """A new user; it signs in with this password. Its unread events start at its first sign-in."""
    password_hash = await hash_password_async(body.password)
    taken = f"user {body.username!r} exists"
    async with Change(request, admin, conflict=taken, conflict_field="username") as change:
        try:
            user = await accounts.add_user(
                change.session,
                body.username,
                password_hash,
                body.role,
                actor=admin.username,
                via="api",
                source=audit.client_address(request),
            )
        except accounts.UserExists:
            raise field_error("username", taken, status.HTTP_409_CONFLICT) from None
        change.event(EventType.USER_CREATED, _event(user), target_user=user.username)
    tag(response, user.version)
    return _out(user)


@router.patch("/{username}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 409, 412, 413, 422, 503)})
async def update_user(
    username: PathUsername,
    body: UserUpdate,
    request: Request,
    response: Response,
    admin: AdminUser,
    if_match: IfMatch,
) -> UserOut:
    """Change a user's role and/or disable or enable it (only the fields given). A user disabled or
    given a lower role loses at once the sockets the new role may not hold, on every instance."""
    for key in body.model_fields_set:
        if getattr(body, key) is None:
            raise field_error(key, f"{key} may not be null")
    rt: Realtime = request.app.state.realtime
    async with Change(request, admin) as change:
        user = await _locked(change, username)
        if if_match is not None and not if_match.allows(user.version):
            raise stale(f"user {user.username!r}", _out(user), user.version, user.updated_by, if_match)
        if user.username == admin.username:
            if body.disabled:
                raise field_error(
                    "disabled", "you cannot disable your own account; another admin can", status.HTTP_409_CONFLICT
                )
            if body.role is not None and ROLE_RANK[body.role] < ROLE_RANK[Role(user.role)]:
                raise field_error("role", "you cannot lower your own role; another admin can", status.HTTP_409_CONFLICT)
        try:
            done = await accounts.apply_change(
                change.session,
                user,
                role=body.role,
                active=None if body.disabled is None else not body.disabled,
                actor=admin.username,
                via="api",
                source=audit.client_address(request),
            )
        except accounts.LastAdmin as exc:
            field = "role" if body.role is not None and body.role is not Role.ADMIN else "disabled"
            raise field_error(field, str(exc), status.HTTP_409_CONFLICT) from None
        if done.changes:
            change.event(EventType.USER_UPDATED, _event(user, changes=done.changes), target_user=user.username)
    if done.changes:
        await rt.recheck_user(user.username)
    tag(response, user.version)
    return _out(user)


@router.post(
    "/{username}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404, 413, 422, 503),
)
async def reset_password(username: PathUsername, body: PasswordReset, request: Request, admin: AdminUser) -> Response:
    """Give a user a new password and sign them out everywhere: every session revoked, its sockets
    closed with 4001 `password reset` on every instance. Admins resetting their own password keep the
    session they asked with."""
    password_hash = await hash_password_async(body.password)
    rt: Realtime = request.app.state.realtime
    async with Change(request, admin) as change:
        user = await _locked(change, username)
        await accounts.reset_password(
            change.session,
            user,
            password_hash,
            actor=admin.username,
            via="api",
            source=audit.client_address(request),
        )
        keep = admin.jti if user.username == admin.username else None
        revoked = await revoke_user_sessions(change.session, user.username, keep)
        change.event(EventType.USER_UPDATED, _event(user, changes=["password"]), target_user=user.username)
        for jti in revoked:
            change.event(
                EventType.SESSION_EXPIRED, {"reason": "password_reset", "session_id": jti}, target_user=user.username
            )
    if change.published:
        # Delivered here first, so this instance's sockets get session_expired before they close.
        await rt.hub.wait_for_seq(change.published[-1].seq, within=2.0)
    for jti in revoked:
        rt.end_session(user.username, jti, "password reset")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
