"""A tenant's creditor: whom its debts are owed to when a portfolio row does not say.

NULL (every tenant before this revision) means first-party: the tenant collects its
own debts, which is how messages read them until now (the tenant's name as creditor).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:41:53.239658
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creditor", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("creditor")
