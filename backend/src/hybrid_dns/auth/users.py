"""User accounts: creation, changes (role, enabled, password), look-up, authentication, the first admin.

The functions that change a user work in the caller's transaction (`add_user`, `lock_user`,
`apply_change`, `reset_password`), so that the HTTP API can stage its events beside them; the CLI
uses the wrappers that open their own (`create_user`, `set_role`, `set_active`). Every change is
audited, bumps the user's `version` and records who made it (`updated_by`).

Changes that can take away an admin (a lower role, disabled) are serialized (`serialize_changes`)
and refused when they would leave no active admin, so that two admins demoting each other at the
same moment cannot both succeed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..db import Database
from ..models import User
from .passwords import hash_password_async, verify_password_async
from .roles import ROLE_RANK, Role

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
USERNAME_RE = re.compile(USERNAME_PATTERN)
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
_USER_CHANGES_LOCK = 7302652  # PostgreSQL advisory lock key: one change that may take away an admin at a time


class UserExists(ValueError):
    pass


class UnknownUser(LookupError):
    pass


class LastAdmin(ValueError):
    """The change would leave no active admin: nobody could manage users or settings any more."""


@dataclasses.dataclass(slots=True)
class UserChange:
    """What `apply_change` did: the fields that changed ("role", "disabled"), and the role before."""

    user: User
    changes: list[str]
    old_role: Role

    @property
    def loses_access(self) -> bool:
        """Disabled, or a lower role: open sockets may have to close."""
        new = Role(self.user.role)
        return (not self.user.is_active and "disabled" in self.changes) or ROLE_RANK[new] < ROLE_RANK[self.old_role]


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise ValueError("username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit")
    return username


def validate_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"password: at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"password: at most {PASSWORD_MAX} characters")
    return password


def _by(actor: str | None, via: str) -> str:
    return (actor or via)[:64]


async def add_user(
    session: AsyncSession,
    username: str,
    password_hash: str,
    role: Role | str,
    *,
    actor: str | None,
    via: str,
    source: str | None = None,
) -> User:
    """Add a user in the caller's transaction (audited); UserExists when the name is taken."""
    validate_username(username)
    role = Role(role)
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"user {username!r} exists")
    user = User(
        username=username,
        password_hash=password_hash,
        role=role.value,
        is_active=True,
        version=1,
        updated_by=_by(actor, via),
    )
    session.add(user)
    audit.add_entry(
        session,
        action="user.create",
        outcome="success",
        actor=actor,
        source=source,
        target=username,
        details={"role": role.value, "via": via},
    )
    await session.flush()
    return user


async def create_user(
    db: Database, username: str, password: str, role: Role | str, *, actor: str | None = None, via: str = "cli"
) -> User:
    """Create a user in a transaction of its own (the CLI, the first admin)."""
    validate_username(username)
    role = Role(role)
    validate_password(password)
    password_hash = await hash_password_async(password)
    try:
        async with db() as session, session.begin():
            return await add_user(session, username, password_hash, role, actor=actor, via=via)
    except IntegrityError:  # created by someone else since we looked (another instance starting)
        raise UserExists(f"user {username!r} exists") from None


async def get_user(db: Database, username: str) -> User | None:
    async with db() as session:
        return await session.scalar(select(User).where(User.username == username))


async def serialize_changes(session: AsyncSession) -> None:
    """Take the lock that makes changes which may take away an admin run one at a time. On PostgreSQL
    an advisory lock held until the transaction ends; SQLite has one writer, and `lock_user` takes it."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_USER_CHANGES_LOCK})"))


async def lock_user(session: AsyncSession, username: str) -> User:
    """The user, its row locked until the transaction ends (an UPDATE that changes nothing), read
    after the lock; UnknownUser when there is none."""
    locked = await session.scalar(
        update(User)
        .where(User.username == username)
        .values(version=User.version)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if locked is None:
        raise UnknownUser(f"no user {username!r}")
    user = await session.get(User, int(locked), populate_existing=True)
    assert user is not None
    return user


async def apply_change(
    session: AsyncSession,
    user: User,
    *,
    role: Role | str | None = None,
    active: bool | None = None,
    actor: str | None,
    via: str,
    source: str | None = None,
) -> UserChange:
    """Change a locked user's role and/or enabled state (audited, one version for both); LastAdmin
    when no active admin would be left. Nothing changes (and no version) when both are as asked."""
    old = Role(user.role)
    new_role = old if role is None else Role(role)
    new_active = user.is_active if active is None else active
    changes = [
        name for name, differs in (("role", new_role is not old), ("disabled", new_active != user.is_active)) if differs
    ]
    if not changes:
        return UserChange(user, [], old)
    if old is Role.ADMIN and user.is_active and (new_role is not Role.ADMIN or not new_active):
        await _keep_an_admin(session, user.username)
    if "role" in changes:
        user.role = new_role.value
        audit.add_entry(
            session,
            action="user.role_changed",
            outcome="success",
            actor=actor,
            source=source,
            target=user.username,
            details={"old": old.value, "new": new_role.value, "via": via},
        )
    if "disabled" in changes:
        user.is_active = new_active
        audit.add_entry(
            session,
            action="user.enabled" if new_active else "user.disabled",
            outcome="success",
            actor=actor,
            source=source,
            target=user.username,
            details={"via": via},
        )
    user.version += 1
    user.updated_by = _by(actor, via)
    await session.flush()
    return UserChange(user, changes, old)


async def reset_password(
    session: AsyncSession, user: User, password_hash: str, *, actor: str | None, via: str, source: str | None = None
) -> None:
    """Give a locked user a new password (audited; a new version). Signing the user out of their
    sessions is the caller's part (auth/sessions.py `revoke_user_sessions`)."""
    user.password_hash = password_hash
    user.version += 1
    user.updated_by = _by(actor, via)
    audit.add_entry(
        session,
        action="user.password_reset",
        outcome="success",
        actor=actor,
        source=source,
        target=user.username,
        details={"via": via},
    )
    await session.flush()


async def set_role(db: Database, username: str, role: Role | str, *, actor: str | None, via: str) -> Role | None:
    """Change a user's role (audited); returns the old role, None when it was already this one.

    Open sockets follow within WEBSOCKET_ACCESS_RECHECK_INTERVAL on every instance; a caller in a
    running server also calls `Realtime.recheck_user` to act on this instance at once."""
    async with db() as session, session.begin():
        await serialize_changes(session)
        done = await apply_change(session, await lock_user(session, username), role=role, actor=actor, via=via)
    return done.old_role if done.changes else None


async def set_active(db: Database, username: str, active: bool, *, actor: str | None, via: str) -> bool:
    """Enable or disable a user (audited); False when it already was. A disabled user's tokens and
    sockets stop working (HTTP at once, sockets within the access re-check interval)."""
    async with db() as session, session.begin():
        await serialize_changes(session)
        done = await apply_change(session, await lock_user(session, username), active=active, actor=actor, via=via)
    return bool(done.changes)


async def note_login(session: AsyncSession, username: str) -> bool:
    """Record a sign-in in the caller's transaction; True when it is the user's first."""
    now = datetime.now(UTC)
    first = await session.execute(
        update(User)
        .where(User.username == username, User.last_login_at.is_(None))
        .values(last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(first, "rowcount", 0):
        return True
    await session.execute(
        update(User)
        .where(User.username == username)
        .values(last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    return False


async def _keep_an_admin(session: AsyncSession, username: str) -> None:
    # Every active admin's row is locked too (PostgreSQL; serialize_changes already keeps two such
    # changes apart, and SQLite has one writer).
    admins = await session.scalars(
        select(User.username).where(User.role == Role.ADMIN.value, User.is_active.is_(True)).with_for_update()
    )
    if not set(admins.all()) - {username}:
        raise LastAdmin(f"{username!r} is the last active admin; make another user admin first")


async def authenticate(db: Database, username: str, password: str) -> User | None:
    user = await get_user(db, username)
    ok = await verify_password_async(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        return None
    return user


async def ensure_initial_admin(db: Database, data_dir: Path) -> str | None:
    """With no users at all, create `admin` with a random password, kept in data/initial-admin-password (0600).

    Returns the password so that the caller can print it once; None when users already exist.
    """
    async with db() as session:
        count = await session.scalar(select(func.count()).select_from(User))
    if count:
        return None
    password = secrets.token_urlsafe(15)
    try:
        await create_user(db, "admin", password, Role.ADMIN, via="first start")
    except UserExists:
        return None  # another instance started at the same moment and made it
    await asyncio.to_thread(_write_private, data_dir / "initial-admin-password", password)
    return password


def _write_private(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)
