"""Sessions: token revocation on logout, and counting failed logins per source address.

Both live in the database, so every instance agrees: a token revoked on one instance is refused
by all, and failed logins spread over instances still add up (they are counted from the audit log).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from ..db import Database
from ..models import AuditEntry, RevokedToken


async def is_revoked(db: Database, jti: str) -> bool:
    async with db() as session:
        return await session.get(RevokedToken, jti) is not None


async def revoke(db: Database, jti: str, username: str, expires_at: float) -> bool:
    """Revoke a token; False when it already was. Expired revocations are cleared on the way."""
    async with db() as session, session.begin():
        await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time()))
        if await session.get(RevokedToken, jti) is not None:
            return False
        session.add(RevokedToken(jti=jti, username=username, expires_at=expires_at))
    return True


async def recent_login_failures(db: Database, source: str | None, window: float) -> int:
    since = datetime.now(UTC) - timedelta(seconds=window)
    async with db() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "auth.login",
                AuditEntry.outcome == "failure",
                AuditEntry.source == source,
                AuditEntry.time >= since,
            )
        )
    return int(count or 0)
