"""The suppression store: every revocation, durable before any campaign hears of it.

Whoever receives a revocation (the API, a provider's webhook, the CLI, the demo's
debtors) records it here first and signals the campaign second; the channel agents
read it immediately before they hand a message to the provider
(``activities.gate.check_before_send``). A revocation recorded twice (a redelivered
webhook) is recorded once: its id is the primary key.

The table is made by the alembic migrations (``adapters.schema``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, Index
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.schema import migrate
from adapters.sql import make_engine
from domain.channels import Channel
from domain.revocations import Revocation, RevocationKind


class SuppressionRow(SQLModel, table=True):
    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_account", "tenant_id", "account_id"),)

    revocation_id: str = Field(primary_key=True, max_length=200)
    tenant_id: str = Field(max_length=128)
    account_id: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    channel: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=320)
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source: str = Field(max_length=64)
    note: str = Field(default="", max_length=500)


class SuppressionStore:
    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        migrate(self._engine)

    def record(self, revocation: Revocation) -> bool:
        """Store ``revocation``; False when one with its id was already stored."""
        row = SuppressionRow(
            revocation_id=revocation.revocation_id,
            tenant_id=revocation.tenant_id,
            account_id=revocation.account_id,
            kind=revocation.kind.value,
            channel=revocation.channel.value if revocation.channel else None,
            address=revocation.address,
            received_at=revocation.received_at.astimezone(UTC),
            recorded_at=datetime.now(UTC),
            source=revocation.source,
            note=revocation.note,
        )
        with Session(self._engine) as session:
            if session.get(SuppressionRow, revocation.revocation_id) is not None:
                return False
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # a concurrent redelivery stored it first
                session.rollback()
                return False
        return True

    def for_account(self, tenant_id: str, account_id: str) -> list[Revocation]:
        """Every revocation of the account, oldest first (one indexed read)."""
        query = (
            select(SuppressionRow)
            .where(SuppressionRow.tenant_id == tenant_id, SuppressionRow.account_id == account_id)
            .order_by(col(SuppressionRow.received_at))
        )
        with Session(self._engine) as session:
            rows: Sequence[SuppressionRow] = session.exec(query).all()
        return [_revocation(row) for row in rows]

    def for_accounts(self, tenant_id: str, account_ids: Sequence[str]) -> list[Revocation]:
        """Every revocation of these accounts (the reconciliation and the audit read them)."""
        found: list[Revocation] = []
        for start in range(0, len(account_ids), 500):
            chunk = list(account_ids[start : start + 500])
            query = select(SuppressionRow).where(
                SuppressionRow.tenant_id == tenant_id, col(SuppressionRow.account_id).in_(chunk)
            )
            with Session(self._engine) as session:
                found += [_revocation(row) for row in session.exec(query).all()]
        return sorted(found, key=lambda r: (r.received_at, r.revocation_id))

    def dispose(self) -> None:
        self._engine.dispose()


def _revocation(row: SuppressionRow) -> Revocation:
    received = row.received_at
    return Revocation(
        revocation_id=row.revocation_id,
        tenant_id=row.tenant_id,
        account_id=row.account_id,
        kind=RevocationKind(row.kind),
        channel=Channel(row.channel) if row.channel else None,
        address=row.address,
        received_at=received if received.tzinfo else received.replace(tzinfo=UTC),  # SQLite
        source=row.source,
        note=row.note,
    )
