"""Open trials: contacts made whose outcome is not recorded yet count for their arm.

``nba_trials`` holds one row per such contact (deleted when its outcome is recorded);
the next-best-action agent counts them as trials with no reward yet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:15:30.336041
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nba_trials",
        sa.Column("outcome_id", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("segment", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("time_window", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("outcome_id"),
    )
    with op.batch_alter_table("nba_trials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_nba_trials_tenant_opened", ["tenant_id", "opened_at"], unique=False
        )
        batch_op.create_index(
            "ix_nba_trials_tenant_segment", ["tenant_id", "segment"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("nba_trials", schema=None) as batch_op:
        batch_op.drop_index("ix_nba_trials_tenant_segment")
        batch_op.drop_index("ix_nba_trials_tenant_opened")

    op.drop_table("nba_trials")
