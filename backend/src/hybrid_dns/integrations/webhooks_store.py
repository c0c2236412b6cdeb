"""The webhook loops' frequent writes (queue deliveries and move the cursor, claim, record an attempt),
each one short transaction that never holds a lock across the event loop.

SQLite has one write lock for the whole database, and the embedded broker's history writer (the
event path: every emit) takes it too. A transaction made of several awaited statements through
aiosqlite holds that lock while the event loop gets round to each next statement, which, on a busy
loop, is milliseconds, and the broker's writer waits all that time (SQLite's busy handler sleeps
1, 2, 5, 10 ms... between tries). So on SQLite these transactions run whole on a thread of their own
with the standard library's driver (through SQLAlchemy Core), as the broker's writer does: the lock
is held for the statements' own work, microseconds. Elsewhere (PostgreSQL: row locks, no such
lock) they run on the app's async engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event

from ..db import Database

T = TypeVar("T")


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Writes:
    def __init__(self, db: Database) -> None:
        self.db = db
        url = db.engine.url
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._engine = None
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            self._engine = create_engine(url.set(drivername="sqlite"), connect_args={"timeout": 30})
            event.listen(self._engine, "connect", _pragmas)
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webhook-writes")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` as one transaction (committed when it returns, rolled back if it raises)."""
        if self._engine is None or self._executor is None:
            async with self.db.engine.begin() as conn:
                return await conn.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        assert self._engine is not None
        with self._engine.begin() as conn:
            return work(conn)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._engine is not None:
            self._engine.dispose()
