"""the searchable event archive, its full-text index, and read state by filter

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:30:00.000000

`event_archive` holds every published event once (realtime/archive.py): narrow, what filters and
read state look at; `event_archive_body` its texts and payload, same seq. `event_archive_epochs` says
how far each stream epoch is archived, `read_filters` holds the "mark all matching as read" rows.

Full-text search, per database: on SQLite an FTS5 table over the body's `search` (external content,
kept by triggers, the `ascii` tokenizer: the words are already split and casefolded by the app); on
PostgreSQL a generated tsvector column (`to_tsvector('simple', search)`) with a GIN index. A later
migration that alters `event_archive_body` on SQLite (a batch copy) must make the triggers again.

The archive fills itself at the next start from what the broker still holds (EVENT_HISTORY_SIZE).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE event_archive_fts USING fts5("
    "search, content='event_archive_body', content_rowid='seq', tokenize='ascii')",
    "CREATE TRIGGER event_archive_fts_insert AFTER INSERT ON event_archive_body BEGIN "
    "INSERT INTO event_archive_fts(rowid, search) VALUES (new.seq, new.search); END",
    "CREATE TRIGGER event_archive_fts_delete AFTER DELETE ON event_archive_body BEGIN "
    "INSERT INTO event_archive_fts(event_archive_fts, rowid, search) VALUES ('delete', old.seq, old.search); END",
    "CREATE TRIGGER event_archive_fts_update AFTER UPDATE OF search ON event_archive_body BEGIN "
    "INSERT INTO event_archive_fts(event_archive_fts, rowid, search) VALUES ('delete', old.seq, old.search); "
    "INSERT INTO event_archive_fts(rowid, search) VALUES (new.seq, new.search); END",
)
POSTGRES_FTS = (
    "ALTER TABLE event_archive_body ADD COLUMN search_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search)) STORED",
    "CREATE INDEX ix_event_archive_body_search_tsv ON event_archive_body USING gin (search_tsv)",
)


def upgrade() -> None:
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # on SQLite the rowid itself
    op.create_table(
        "event_archive",
        sa.Column("seq", seq, autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("target_user", sa.String(length=64), nullable=True),
        sa.Column("zone", sa.String(length=253), nullable=True),
        sa.Column("name", sa.String(length=253), nullable=True),
        sa.Column("record_type", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "event_archive_body",
        sa.Column("seq", seq, autoincrement=False, nullable=False),
        sa.Column("timestamp", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("search", sa.Text(), nullable=False),
        sa.Column("data_json", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_event_archive_time", "event_archive", ["time"], unique=False)
    op.create_table(
        "event_archive_epochs",
        sa.Column("epoch", sa.String(length=64), nullable=False),
        sa.Column("seq_offset", sa.BigInteger(), nullable=False),
        sa.Column("through", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("epoch"),
    )
    op.create_table(
        "read_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("filter_json", sa.Text(), nullable=False),
        sa.Column("up_to_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_read_filters_user_id", "read_filters", ["user_id"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS if dialect == "postgresql" else ():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("event_archive_fts_insert", "event_archive_fts_delete", "event_archive_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS event_archive_fts")
    op.drop_index("ix_read_filters_user_id", table_name="read_filters")
    op.drop_table("read_filters")
    op.drop_table("event_archive_epochs")
    op.drop_table("event_archive_body")
    op.drop_index("ix_event_archive_time", table_name="event_archive")
    op.drop_table("event_archive")
