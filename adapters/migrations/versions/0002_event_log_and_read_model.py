"""The event log, the exporter's cursors, and the SQL read model (``rm_*`` tables).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:44:06.313023
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_log",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_log_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_log_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_log_type"), ["type"], unique=False)

    op.create_table(
        "export_cursors",
        sa.Column("sink", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sink"),
    )
    op.create_table(
        "rm_accounts",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("workflow_id", sa.String(length=300), nullable=True),
        sa.Column("playbook", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("opening_balance", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.String(length=32), nullable=False),
        sa.Column("amount_paid", sa.String(length=32), nullable=False),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("right_party", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("promises_made", sa.Integer(), nullable=False),
        sa.Column("promises_kept", sa.Integer(), nullable=False),
        sa.Column("promises_broken", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", "account_id"),
    )
    with op.batch_alter_table("rm_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rm_accounts_status"), ["status"], unique=False)

    op.create_table(
        "rm_agent_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("from_agent", sa.String(length=128), nullable=False),
        sa.Column("to", sa.String(length=300), nullable=False),
        sa.Column("routing", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rm_agent_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rm_agent_messages_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rm_agent_messages_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "rm_campaigns",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=False),
        sa.Column("first_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id"),
    )
    op.create_table(
        "rm_contact_attempts",
        sa.Column("attempt_id", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("step_id", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_ms", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id"),
    )
    with op.batch_alter_table("rm_contact_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rm_contact_attempts_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rm_contact_attempts_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "rm_outcomes",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("rm_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rm_outcomes_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rm_outcomes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "rm_payments",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("amount", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "payment_id"),
    )
    with op.batch_alter_table("rm_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rm_payments_campaign_id"), ["campaign_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rm_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_payments_campaign_id"))

    op.drop_table("rm_payments")
    with op.batch_alter_table("rm_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_outcomes_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_rm_outcomes_campaign_id"))

    op.drop_table("rm_outcomes")
    with op.batch_alter_table("rm_contact_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_contact_attempts_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_rm_contact_attempts_campaign_id"))

    op.drop_table("rm_contact_attempts")
    op.drop_table("rm_campaigns")
    with op.batch_alter_table("rm_agent_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_agent_messages_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_rm_agent_messages_campaign_id"))

    op.drop_table("rm_agent_messages")
    with op.batch_alter_table("rm_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_accounts_status"))

    op.drop_table("rm_accounts")
    op.drop_table("export_cursors")
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_log_type"))
        batch_op.drop_index(batch_op.f("ix_event_log_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_event_log_campaign_id"))

    op.drop_table("event_log")
