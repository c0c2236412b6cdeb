"""The app database: SQLAlchemy 2 async, SQLite (aiosqlite) by default, PostgreSQL via DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class Database:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, object] = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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
