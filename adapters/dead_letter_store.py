"""The dead-letter table: failed contact commands, kept whole for an operator.

One row per dead letter, with the filterable fields as columns and the whole
``DeadLetter`` (its command, context and every failure) as JSON, so nothing is
lost and the table needs no migration when the model grows.

The table is made by the alembic migrations (``adapters.schema``); ``create_tables``
brings the database to the latest revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, Text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.schema import migrate
from adapters.sql import make_engine
from domain.channels import Channel
from domain.dead_letters import DeadLetter, DeadLetterStatus

_TABLE = "dead_letters"


class DeadLetterRow(SQLModel, table=True):
    __tablename__ = _TABLE

    dead_letter_id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=128)
    account_id: str = Field(index=True, max_length=128)
    campaign_id: str = Field(max_length=128)
    channel: str = Field(index=True, max_length=16)
    status: str = Field(index=True, max_length=16)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))


class DeadLetterStore:
    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only this)."""
        migrate(self._engine)

    def record(self, letter: DeadLetter) -> bool:
        """Store a dead letter; False (and no change) if it was stored before."""
        row = DeadLetterRow(
            dead_letter_id=letter.dead_letter_id,
            tenant_id=letter.tenant_id,
            account_id=letter.account_id,
            campaign_id=letter.campaign_id,
            channel=letter.channel.value,
            status=letter.status.value,
            created_at=letter.created_at.astimezone(UTC),
            body=letter.model_dump_json(),
        )
        with Session(self._engine) as session:
            if session.get(DeadLetterRow, letter.dead_letter_id) is not None:
                return False
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # a concurrent retry stored it first
                session.rollback()
                return False
        return True

    def get(self, dead_letter_id: str) -> DeadLetter | None:
        with Session(self._engine) as session:
            row = session.get(DeadLetterRow, dead_letter_id)
        return None if row is None else DeadLetter.model_validate_json(row.body)

    def list(
        self,
        *,
        tenant_id: str | None = None,
        channel: Channel | None = None,
        status: DeadLetterStatus | None = None,
        limit: int = 1000,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first, filtered by whichever arguments are given."""
        query = select(DeadLetterRow)
        if tenant_id is not None:
            query = query.where(DeadLetterRow.tenant_id == tenant_id)
        if channel is not None:
            query = query.where(DeadLetterRow.channel == channel.value)
        if status is not None:
            query = query.where(DeadLetterRow.status == status.value)
        query = query.order_by(col(DeadLetterRow.created_at)).limit(limit)
        with Session(self._engine) as session:
            rows: Sequence[DeadLetterRow] = session.exec(query).all()
        return [DeadLetter.model_validate_json(row.body) for row in rows]

    def mark_redriven(self, dead_letter_id: str, at: datetime) -> DeadLetter:
        """Record that an operator redrove it; raises KeyError for an unknown id."""
        with Session(self._engine) as session:
            row = session.get(DeadLetterRow, dead_letter_id)
            if row is None:
                raise KeyError(dead_letter_id)
            letter = DeadLetter.model_validate_json(row.body).model_copy(
                update={"status": DeadLetterStatus.REDRIVEN, "redriven_at": at.astimezone(UTC)}
            )
            row.status = letter.status.value
            row.body = letter.model_dump_json()
            session.add(row)
            session.commit()
        return letter

    def dispose(self) -> None:
        self._engine.dispose()
