"""segment.skip_reason: a segment whose readers are not mailed this week, and why (too few
picks of their own: newsletter.min_picks with below_min_picks: skip, or nothing at all);
subscriber.seniority from one list: a stored spelling of a level ("Sr.", "L5", "lead") becomes
that level, and a value that names none (which matched no posting's level) becomes no level,
the reader's segment key following

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.preferences import Preferences, UnknownLevel, seniority_of

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skip_reason", sa.String(length=200), nullable=False, server_default=""))
    _one_list_of_levels()


def _one_list_of_levels() -> None:
    conn = op.get_bind()
    subscriber = sa.table(
        "subscriber", sa.column("id", sa.Integer), sa.column("roles", sa.JSON), sa.column("locations", sa.JSON),
        sa.column("remote", sa.Boolean), sa.column("seniority", sa.String), sa.column("audience", sa.String),
        sa.column("segment_key", sa.String),
    )  # fmt: skip
    rows = conn.execute(sa.select(subscriber).where(subscriber.c.seniority != "")).mappings().all()
    changed = []
    for row in rows:
        try:
            level = seniority_of(row["seniority"])
        except UnknownLevel:
            level = ""
        if level != row["seniority"]:
            prefs = Preferences.of(row["roles"] or (), row["locations"] or (), row["remote"], level, row["audience"])
            changed.append({"rid": row["id"], "level": level, "key": prefs.key})
    if changed:
        conn.execute(
            subscriber.update().where(subscriber.c.id == sa.bindparam("rid"))
            .values(seniority=sa.bindparam("level"), segment_key=sa.bindparam("key")),
            changed,
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_column("skip_reason")
