"""User accounts: creation, look-up, authentication, and the first admin."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ..models import User
from ..realtime.events import Role
from .passwords import hash_password_async, verify_password_async

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class UserExists(ValueError):
    pass


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
