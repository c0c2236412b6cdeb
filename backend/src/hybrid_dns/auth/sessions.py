"""Sessions: token revocation on logout, and what open sockets may still hold.

Both live in the database, so every instance agrees: a token revoked on one instance is refused
by all, and each instance's periodic access re-check (realtime/access.py) reads the users and
revocations of its open sockets from here.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database
from ..models import RevokedToken, User
from ..realtime.events import Role

# Names per IN (...) query: far below SQLite's and PostgreSQL's parameter limits, and one query
# covers every user and session of an instance in all but the largest deployments.
_CHUNK = 2000


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
