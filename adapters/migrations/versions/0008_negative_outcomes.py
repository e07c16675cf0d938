"""Harm in the next-best-action statistics, and each tenant's price for it.

``nba_arm_stats`` counts, per arm, the contacts that led to an opt-out, a dispute or a
complaint (``harmed``) and the sum of their negative rewards (``penalty``); rows from
before this revision count none. ``tenants`` gets the rewards of those harms
(``opt_out_penalty``, ``dispute_penalty``, ``complaint_penalty``); NULL means the
default of ``domain.account.Tenant``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:12:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENALTIES = ("opt_out_penalty", "dispute_penalty", "complaint_penalty")


def upgrade() -> None:
    with op.batch_alter_table("nba_arm_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("harmed", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("penalty", sa.Float(), server_default="0", nullable=False))
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        for name in _PENALTIES:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        for name in reversed(_PENALTIES):
            batch_op.drop_column(name)
    with op.batch_alter_table("nba_arm_stats", schema=None) as batch_op:
        batch_op.drop_column("penalty")
        batch_op.drop_column("harmed")
