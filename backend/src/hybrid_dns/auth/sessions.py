"""Sessions: who a token stands for now, token revocation on logout, and what open sockets may still hold.

All of it is read from the database, so every instance agrees: a token revoked on one instance is
refused by all, a disabled user's token stops working at once, and each instance's periodic access
re-check (realtime/access.py) reads the users and revocations of its open sockets from here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Iterator

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database
from ..models import RevokedToken, User, UserSession
from .roles import Role
from .tokens import InvalidToken, TokenClaims, decode_token
from .users import get_user

# Names per IN (...) query: far below SQLite's and PostgreSQL's parameter limits, and one query
# covers every user and session of an instance in all but the largest deployments.
_CHUNK = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class CurrentUser:
    """A signed-in user as the database has it now, in one session (`jti`) that ends at `expires_at`."""

    username: str
    role: Role
    jti: str
    expires_at: int  # unix time


class TokenRefused(Exception):
    """A token that grants nothing. `reason` is safe to show and to log (it never holds the token);
    `user_not_allowed`: the token is sound but its user is gone or disabled."""

    def __init__(self, reason: str, *, user_not_allowed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_not_allowed = user_not_allowed


async def authenticate_token(db: Database, secret: str, token: str | None) -> CurrentUser:
    """The one check of a bearer token, for HTTP requests and sockets alike: signature and expiry,
    then the user (it exists and is active, its role as stored now), then the session (not signed out)."""
    try:
        claims = decode_token(secret, token)
    except InvalidToken as exc:
        raise TokenRefused(str(exc)) from None
    user = await get_user(db, claims.sub)
    if user is None or not user.is_active:
        raise TokenRefused("user not allowed", user_not_allowed=True)
    if await is_revoked(db, claims.jti):
        raise TokenRefused("token revoked")
    return CurrentUser(username=user.username, role=Role(user.role), jti=claims.jti, expires_at=claims.exp)


async def is_revoked(db: Database, jti: str) -> bool:
    async with db() as session:
        return await session.get(RevokedToken, jti) is not None


async def revoke(session: AsyncSession, jti: str, username: str, expires_at: float) -> bool:
    """Revoke a token in the caller's transaction; False when it already was. Expired revocations
    are cleared on the way (a token past its expiry is refused anyway)."""
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time()))
    if await session.get(RevokedToken, jti) is not None:
        return False
    session.add(RevokedToken(jti=jti, username=username, expires_at=expires_at))
    return True


async def record_session(session: AsyncSession, claims: TokenClaims) -> None:
    """Remember an issued token (a sign-in, `hybrid-dns token`) until it expires, so that a password
    reset can end it. Expired ones are cleared on the way."""
    await session.execute(delete(UserSession).where(UserSession.expires_at < time.time()))
    session.add(UserSession(jti=claims.jti, username=claims.sub, issued_at=float(claims.iat), expires_at=claims.exp))


async def revoke_user_sessions(session: AsyncSession, username: str, keep: str | None = None) -> list[str]:
    """Revoke, in the caller's transaction, every unexpired session of a user but `keep` (the one
    making the request, when users reset their own password); returns the revoked session ids."""
    now = time.time()
    rows = (
        await session.execute(
            select(UserSession.jti, UserSession.expires_at).where(
                UserSession.username == username, UserSession.expires_at >= now
            )
        )
    ).all()
    revoked = []
    for jti, expires_at in rows:
        if jti != keep and await revoke(session, jti, username, float(expires_at)):
            revoked.append(str(jti))
    return revoked


def _chunks(items: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(items)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


async def current_access(
    db: Database, usernames: Collection[str], jtis: Collection[str]
) -> tuple[dict[str, Role], frozenset[str]]:
    """The role of each of these users that exists and is active (the others are missing), and which
    of these sessions were signed out. A few queries however many sockets ask."""
    roles: dict[str, Role] = {}
    revoked: set[str] = set()
    async with db() as session:
        for chunk in _chunks(usernames):
            rows = await session.execute(
                select(User.username, User.role).where(User.username.in_(chunk), User.is_active.is_(True))
            )
            for username, role in rows:
                try:
                    roles[username] = Role(role)
                except ValueError:
                    continue  # a role this version does not know grants nothing
        for chunk in _chunks(jtis):
            revoked.update((await session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_(chunk)))).all())
    return roles, frozenset(revoked)
