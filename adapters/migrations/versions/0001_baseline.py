"""Baseline: the tables the stores made with ``create_all`` before alembic.

Audit log and heads, contact ledger, dead letters, portfolio staging: the same
columns, keys, unique constraints and indexes (with the names ``create_all``
gave them), so a database made either way is the same.

A database made by ``create_all`` before alembic is stamped at this revision
when it holds all six tables. One that holds only some (a user who ran
``recoup dlq list`` but never launched a portfolio) runs it: tables that exist
are left alone, the others are created.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _existing() -> set[str]:
    if context.is_offline_mode():  # rendering SQL for an empty database
        return set()
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    existing = _existing()

    if "audit_log" not in existing:
        op.create_table(
            "audit_log",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("tenant_id", sa.String(length=128), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("event_id", sa.String(length=200), nullable=False),
            sa.Column("event_type", sa.String(length=64), nullable=False),
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("key_id", sa.String(length=64), nullable=False),
            sa.Column("prev_hash", sa.String(length=64), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("tenant_id", "position"),
            sa.UniqueConstraint("event_id"),
        )
        op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id"])

    if "audit_heads" not in existing:
        op.create_table(
            "audit_heads",
            sa.Column("tenant_id", sa.String(length=128), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.Column("mac", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id"),
        )

    if "contact_ledger" not in existing:
        op.create_table(
            "contact_ledger",
            sa.Column("attempt_id", sa.String(length=300), nullable=False),
            sa.Column("tenant_id", sa.String(length=128), nullable=False),
            sa.Column("account_id", sa.String(length=128), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("outcome", sa.String(length=32), nullable=False),
            sa.Column("to", sa.String(length=320), nullable=True),
            sa.Column("direction", sa.String(length=16), nullable=False),
            sa.PrimaryKeyConstraint("attempt_id"),
        )
        op.create_index("ix_contact_ledger_account_id", "contact_ledger", ["account_id"])
        op.create_index("ix_contact_ledger_at", "contact_ledger", ["at"])
        op.create_index("ix_contact_ledger_tenant_id", "contact_ledger", ["tenant_id"])

    if "dead_letters" not in existing:
        op.create_table(
            "dead_letters",
            sa.Column("dead_letter_id", sa.String(length=64), nullable=False),
            sa.Column("tenant_id", sa.String(length=128), nullable=False),
            sa.Column("account_id", sa.String(length=128), nullable=False),
            sa.Column("campaign_id", sa.String(length=128), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("dead_letter_id"),
        )
        op.create_index("ix_dead_letters_account_id", "dead_letters", ["account_id"])
        op.create_index("ix_dead_letters_channel", "dead_letters", ["channel"])
        op.create_index("ix_dead_letters_status", "dead_letters", ["status"])
        op.create_index("ix_dead_letters_tenant_id", "dead_letters", ["tenant_id"])

    if "staged_portfolios" not in existing:
        op.create_table(
            "staged_portfolios",
            sa.Column("tenant_id", sa.String(length=128), nullable=False),
            sa.Column("campaign_id", sa.String(length=128), nullable=False),
            sa.Column("accounts", sa.Integer(), nullable=False),
            sa.Column("digest", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "campaign_id"),
        )

    if "staged_accounts" not in existing:
        op.create_table(
            "staged_accounts",
            sa.Column("tenant_id", sa.String(length=128), nullable=False),
            sa.Column("campaign_id", sa.String(length=128), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("account_id", sa.String(length=128), nullable=False),
            sa.Column("amount_due_cents", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.String(length=3), nullable=False),
            sa.Column("days_past_due", sa.Integer(), nullable=False),
            sa.Column("data", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "campaign_id", "seq"),
            sa.UniqueConstraint("tenant_id", "campaign_id", "account_id", name="uq_staged_account"),
        )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints.
    for table in (
        "staged_accounts",
        "staged_portfolios",
        "dead_letters",
        "contact_ledger",
        "audit_heads",
        "audit_log",
    ):
        op.drop_table(table)
