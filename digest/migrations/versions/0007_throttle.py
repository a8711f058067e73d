"""throttle: signup attempts by a keyed hash of the address or client, for rate limits that
hold across several digest serve processes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.dbtypes import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_throttle_key", "throttle", ["key"], unique=False)
    op.create_index("ix_throttle_at", "throttle", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_throttle_at", table_name="throttle")
    op.drop_index("ix_throttle_key", table_name="throttle")
    op.drop_table("throttle")
