"""delivery.segment_key: senders claim readers segment by segment, so drafts stay few in memory

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment_key", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_index("ix_delivery_issue_segment", ["issue_id", "status", "segment_key", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_issue_segment")
        batch_op.drop_column("segment_key")
