"""Alembic environment: migrations run on a connection handed over by `Database.migrate()`."""

from __future__ import annotations

from alembic import context

from hybrid_dns import models  # noqa: F401  (registers every table on the metadata)
from hybrid_dns.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `hybrid-dns migrate` (or Database.migrate()), not the alembic CLI alone")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
