"""Staged portfolios keep their normalized start request (Idempotency-Key replays).

A nullable column: rows staged before it keep NULL and the older rule (a replay must
carry the same accounts); new API launches are held to their whole request.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:24:46.378130
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staged_portfolios", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staged_portfolios", schema=None) as batch_op:
        batch_op.drop_column("request")
