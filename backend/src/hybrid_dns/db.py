"""The app database: SQLAlchemy 2 async, SQLite (aiosqlite) by default, PostgreSQL via DATABASE_URL.

The SQLite file holds password hashes and sessions: it is created owner-only (0600, and SQLite
gives its -wal and -shm files the database file's mode), in a directory created owner-only (0700).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger("hybrid_dns")


class Base(DeclarativeBase):
    pass


def ensure_private_dir(path: Path, *, warn: bool = True) -> None:
    """Create `path` owner-only (whatever the umask). An existing directory is left as it is (it may
    be shared on purpose, or be something like /tmp), with a warning when others may enter it."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        _warn_if_shared(path, warn)
        return
    os.chmod(path, 0o700)  # mkdir's mode goes through the umask


def ensure_private_file(path: Path) -> None:
    """Create an empty file owner-only (whatever the umask) unless it exists, before SQLite opens it."""
    ensure_private_dir(path.parent, warn=False)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _warn_if_shared(path, True)
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _warn_if_shared(path: Path, warn: bool) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if warn and mode & 0o077:
        log.warning("%s is open to other users (mode %o): chmod go= %s", path, mode, path)


class Database:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, object] = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
                ensure_private_file(Path(parsed.database))
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create_all(self) -> None:
        """Bring the schema to the latest migration (the one way tables are made, in tests too)."""
        await self.migrate()

    async def migrate(self, revision: str = "head") -> None:
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Instances starting together must not migrate at once.
                await conn.execute(text("SELECT pg_advisory_xact_lock(7302651)"))
            await conn.run_sync(_upgrade, revision)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def __call__(self) -> AsyncSession:
        return self.session()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: object | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "hybrid_dns:migrations")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: object, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
