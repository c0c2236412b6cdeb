"""User accounts: creation, look-up, authentication, and the first admin."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..db import Database
from ..models import User
from .passwords import hash_password_async, verify_password_async
from .roles import Role

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class UserExists(ValueError):
    pass


class UnknownUser(LookupError):
    pass


class LastAdmin(ValueError):
    """The change would leave no active admin: nobody could manage users or settings any more."""


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise ValueError("username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit")
    return username


async def create_user(db: Database, username: str, password: str, role: Role | str) -> User:
    validate_username(username)
    role = Role(role)
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")
    password_hash = await hash_password_async(password)
    async with db() as session:
        existing = await session.scalar(select(User).where(User.username == username))
        if existing is not None:
            raise UserExists(f"user {username!r} exists")
        user = User(username=username, password_hash=password_hash, role=role.value, is_active=True)
        session.add(user)
        try:
            await session.commit()
        except IntegrityError:  # created by someone else since we looked (another instance starting)
            raise UserExists(f"user {username!r} exists") from None
        return user


async def get_user(db: Database, username: str) -> User | None:
    async with db() as session:
        return await session.scalar(select(User).where(User.username == username))


async def set_role(db: Database, username: str, role: Role | str, *, actor: str | None, via: str) -> Role | None:
    """Change a user's role (audited); returns the old role, None when it was already this one.

    Open sockets follow within WEBSOCKET_ACCESS_RECHECK_INTERVAL on every instance; a caller in a
    running server also calls `Realtime.recheck_user` to act on this instance at once."""
    role = Role(role)
    async with db() as session, session.begin():
        user = await _for_update(session, username)
        old = Role(user.role)
        if old is role:
            return None
        if old is Role.ADMIN and user.is_active:
            await _keep_an_admin(session, username)
        user.role = role.value
        audit.add_entry(
            session,
            action="user.role_changed",
            outcome="success",
            actor=actor,
            target=username,
            details={"old": old.value, "new": role.value, "via": via},
        )
    return old


async def set_active(db: Database, username: str, active: bool, *, actor: str | None, via: str) -> bool:
    """Enable or disable a user (audited); False when it already was. A disabled user's tokens and
    sockets stop working (HTTP at once, sockets within the access re-check interval)."""
    async with db() as session, session.begin():
        user = await _for_update(session, username)
        if user.is_active == active:
            return False
        if not active and user.role == Role.ADMIN.value:
            await _keep_an_admin(session, username)
        user.is_active = active
        audit.add_entry(
            session,
            action="user.enabled" if active else "user.disabled",
            outcome="success",
            actor=actor,
            target=username,
            details={"via": via},
        )
    return True


async def _for_update(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username).with_for_update())
    if user is None:
        raise UnknownUser(f"no user {username!r}")
    return user


async def _keep_an_admin(session: AsyncSession, username: str) -> None:
    # Every active admin's row is locked (PostgreSQL; SQLite has one writer anyway), so that two
    # admins demoted at the same moment cannot each count on the other.
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
        await create_user(db, "admin", password, Role.ADMIN)
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
