"""A tenant's creditor: whom its debts are owed to when a portfolio row does not say.

NULL (every tenant before this revision) means first-party: the tenant collects its
own debts, which is how messages read them until now (the tenant's name as creditor).

Numbered 0006, not 0005: another branch's 0005 (the suppression store) was written at
the same time, and two revisions with one id would each pass for the other, so a
database would count as migrated without the other's tables. Where both meet, this
revision follows that one (down_revision "0005").

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-04 15:41:53.239658
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creditor", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("creditor")
