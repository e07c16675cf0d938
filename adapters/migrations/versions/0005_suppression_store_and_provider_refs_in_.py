"""The suppression store (revocations, checked before every send) and provider refs in the
contact ledger (what `recoup reconcile` matches against the provider's records).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:26:11.399749
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("revocation_id", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("revocation_id"),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index("ix_suppressions_account", ["tenant_id", "account_id"], unique=False)

    with op.batch_alter_table("contact_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_ref", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_ledger", schema=None) as batch_op:
        batch_op.drop_column("provider_ref")

    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_account")

    op.drop_table("suppressions")
