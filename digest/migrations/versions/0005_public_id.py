"""subscriber.public_id: links and Message-IDs name a random id per reader, never the row id;
subscriber.asked_to_return_at: when someone last asked to bring an unsubscribed reader back

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from digest.dbtypes import UTCDateTime
from digest.publicid import new_public_id

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LEGACY_LINKS = "legacy_links_before"  # links mailed before this time name row ids (digest.links)


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("asked_to_return_at", UTCDateTime(), nullable=True))
    conn = op.get_bind()
    subscriber = sa.table("subscriber", sa.column("id", sa.Integer), sa.column("public_id", sa.String))
    ids = [row[0] for row in conn.execute(sa.select(subscriber.c.id))]
    for start in range(0, len(ids), 1000):
        conn.execute(
            subscriber.update().where(subscriber.c.id == sa.bindparam("rid")).values(public_id=sa.bindparam("pid")),
            [{"rid": i, "pid": new_public_id()} for i in ids[start : start + 1000]],
        )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint("uq_subscriber_public_id", ["public_id"])
    setting = sa.table("setting", sa.column("key", sa.String), sa.column("value", sa.Text))
    conn.execute(setting.insert().values(key=LEGACY_LINKS, value=datetime.now(UTC).isoformat()))


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM setting WHERE key = '{LEGACY_LINKS}'"))
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subscriber_public_id", type_="unique")
        batch_op.drop_column("asked_to_return_at")
        batch_op.drop_column("public_id")
