"""what every event carries: `about` on the embedded broker's history and on the outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:20:00.000000

Four nullable columns on `events` and `event_outbox`: zone, name, record_type, summary (see
realtime/about.py). Rows written before have them null; such an event's `about` is its type's title
alone, never recomputed from its payload.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("events", "event_outbox")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("zone", sa.String(length=253), nullable=True))
            batch_op.add_column(sa.Column("name", sa.String(length=253), nullable=True))
            batch_op.add_column(sa.Column("record_type", sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column("summary", sa.String(length=200), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("summary")
            batch_op.drop_column("record_type")
            batch_op.drop_column("name")
            batch_op.drop_column("zone")
