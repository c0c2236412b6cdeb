"""Login throttling: repeated failed logins slow down, then refuse, further attempts.

Two counters, kept in the database so that every instance sees the same ones:

- per source address: after LOGIN_FAILURE_LIMIT failures, each further failure blocks the address
  for 1 s, 2 s, 4 s... up to LOGIN_THROTTLE_MAX_DELAY. This is what stops one attacker.
- per account: after LOGIN_ACCOUNT_FAILURE_LIMIT failures from anywhere, each further failure
  blocks the account for a doubling time up to the short LOGIN_ACCOUNT_MAX_DELAY. This slows a
  spray from many addresses down; the short cap, and sparing the addresses the account signed in
  from before (a `known` row), keep an attacker from locking the owner out.

While blocked, an attempt is refused (HTTP 429 with Retry-After) without checking the password,
so a throttled attacker learns nothing about it. Refused attempts do not count as failures. A
counter is forgotten after LOGIN_FAILURE_WINDOW seconds without failures once its block is over.
A successful login clears the account's counter, and the address's counter when every failure it
counted named this account (so signing in to one's own account does not reset the counter of an
address that was guessing at other accounts).

Each failure is one atomic upsert per counter (`failures = failures + 1`), so instances racing on
one counter never lose a failure.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..db import Database
from ..models import LoginThrottle

BASE_DELAY = 1.0  # seconds of the first block; each further failure doubles it up to the cap
KNOWN_SOURCE_TTL = 30 * 86_400.0  # how long a successful sign-in makes its address known for its account


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    source_limit: int
    source_max_delay: float
    account_limit: int
    account_max_delay: float
    window: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """Read at every attempt: LOGIN_FAILURE_LIMIT and LOGIN_FAILURE_WINDOW are live settings."""
        return cls(
            source_limit=settings.LOGIN_FAILURE_LIMIT,
            source_max_delay=settings.LOGIN_THROTTLE_MAX_DELAY,
            account_limit=settings.LOGIN_ACCOUNT_FAILURE_LIMIT,
            account_max_delay=settings.LOGIN_ACCOUNT_MAX_DELAY,
            window=settings.LOGIN_FAILURE_WINDOW,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class FailureCount:
    """Where the counters stand after one more failure."""

    source_failures: int
    account_failures: int
    blocked_for: float  # seconds before this address may try this account again (0: at once)


def backoff(failures: int, limit: int, cap: float) -> float:
    """Seconds of block after the `failures`-th failure: none below the limit, then doubling up to `cap`."""
    if failures < limit:
        return 0.0
    return min(cap, BASE_DELAY * 2.0 ** min(failures - limit, 40))


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up: waiting that long always ends the block."""
    return str(max(1, math.ceil(seconds)))


def _source_key(source: str | None) -> str:
    return f"source:{(source or '-')[:64]}"


def _account_key(username: str) -> str:
    return f"account:{username[:64]}"


def _known_key(username: str, source: str | None) -> str:
    # Addresses hold no spaces, so no username/address pair can spell another pair's key.
    return f"known:{username[:64]} {(source or '-')[:64]}"


async def blocked_for(db: Database, username: str, source: str | None) -> float:
    """Seconds this address must wait before trying this account (0: it may try now)."""
    now = time.time()
    keys = (_source_key(source), _account_key(username), _known_key(username, source))
    async with db() as session:
        rows = {
            row.key: row
            for row in (await session.execute(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))).scalars()
        }
    wait = 0.0
    source_row = rows.get(keys[0])
    if source_row is not None:
        wait = max(wait, source_row.blocked_until - now)
    account_row = rows.get(keys[1])
    known = rows.get(keys[2])
    if account_row is not None and (known is None or known.expires_at < now):
        wait = max(wait, account_row.blocked_until - now)
    return max(0.0, wait)


def _upsert(session: AsyncSession, values: dict[str, Any], set_: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(LoginThrottle)
        .values(**values)
        .on_conflict_do_update(index_elements=[LoginThrottle.key], set_=set_)
        .returning(LoginThrottle.failures)
    )


async def _count_failure(
    session: AsyncSession, key: str, account: str | None, limit: int, cap: float, window: float, now: float
) -> tuple[int, float]:
    """One more failure on one counter, atomically; returns (failures, seconds of block it starts)."""
    stale = LoginThrottle.expires_at < now
    set_: dict[str, Any] = {"failures": case((stale, 1), else_=LoginThrottle.failures + 1)}
    if account is not None:
        set_["account"] = case((stale | (LoginThrottle.account == account), account), else_="")
    values = {"key": key, "failures": 1, "blocked_until": 0.0, "account": account, "expires_at": now + window}
    failures = int((await session.execute(_upsert(session, values, set_))).scalar_one())
    delay = backoff(failures, limit, cap)
    blocked_until = now + delay
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(blocked_until=blocked_until, expires_at=blocked_until + window)
    )
    return failures, delay


async def record_failure(session: AsyncSession, policy: Policy, username: str, source: str | None) -> FailureCount:
    """Count a failed login in the caller's transaction (with its audit entry)."""
    now = time.time()
    # Rows whose failures are forgotten (and addresses no longer known) go on the way: an index range.
    await session.execute(delete(LoginThrottle).where(LoginThrottle.expires_at < now))
    source_failures, source_delay = await _count_failure(
        session, _source_key(source), username[:64], policy.source_limit, policy.source_max_delay, policy.window, now
    )
    account_failures, account_delay = await _count_failure(
        session, _account_key(username), None, policy.account_limit, policy.account_max_delay, policy.window, now
    )
    known = await session.get(LoginThrottle, _known_key(username, source))
    if known is not None and known.expires_at >= now:
        account_delay = 0.0  # the owner's own address: the account's block does not apply to it
    return FailureCount(source_failures, account_failures, max(source_delay, account_delay))


async def record_success(session: AsyncSession, username: str, source: str | None) -> None:
    """In the caller's transaction: clear the account's counter (and the address's when all its
    failures named this account); remember the address as one this account signs in from."""
    now = time.time()
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == _account_key(username)))
    await session.execute(
        delete(LoginThrottle).where(LoginThrottle.key == _source_key(source), LoginThrottle.account == username)
    )
    values = {
        "key": _known_key(username, source),
        "failures": 0,
        "blocked_until": 0.0,
        "account": None,
        "expires_at": now + KNOWN_SOURCE_TTL,
    }
    await session.execute(_upsert(session, values, {"expires_at": now + KNOWN_SOURCE_TTL}))
