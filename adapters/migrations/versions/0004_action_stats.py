"""The next-best-action agent's statistics per arm and segment, and the outcomes applied.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 20:50:03.401571
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nba_arm_stats",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("segment", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("time_window", sa.String(length=16), nullable=False),
        sa.Column("trials", sa.Float(), nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "segment", "channel", "time_window"),
    )
    op.create_table(
        "nba_outcomes",
        sa.Column("outcome_id", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("outcome_id"),
    )
    with op.batch_alter_table("nba_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nba_outcomes_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nba_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nba_outcomes_tenant_id"))

    op.drop_table("nba_outcomes")
    op.drop_table("nba_arm_stats")
