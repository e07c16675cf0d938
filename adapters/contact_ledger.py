"""Every contact made about a debt, across campaigns: the compliance gate's memory.

A call yesterday in campaign A counts for campaign B today, so the gate cannot
rely on one workflow's history alone. Channel agents record each contact here
when it is made (idempotent by attempt id: a retried activity records once), and
a new campaign loads the recent ones before its first touch.

It is also the agents' sent-ledger: SMTP (and production Twilio) take no
idempotency key, so an agent checks here first and does not send an attempt
that was already sent by a worker that died before it could report.

The table is made by the alembic migrations (``adapters.schema``); ``create_tables``
brings the database to the latest revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.audit_log import AuditEntry, AuditLog
from adapters.schema import migrate
from adapters.sql import make_engine
from domain.compliance.model import PastContact

_TABLE = "contact_ledger"


class LedgerEntry(SQLModel, table=True):
    __tablename__ = _TABLE

    attempt_id: str = Field(primary_key=True, max_length=300)
    tenant_id: str = Field(index=True, max_length=128)
    account_id: str = Field(index=True, max_length=128)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    channel: str = Field(max_length=16)
    outcome: str = Field(max_length=32)
    to: str | None = Field(default=None, max_length=320)
    direction: str = Field(default="outbound", max_length=16)
    # The provider's id of what went out (message SID, call SID, Message-ID): what
    # ``recoup reconcile`` matches against the provider's own records.
    provider_ref: str | None = Field(default=None, max_length=300)


class ContactLedger:
    def __init__(self, database_url: str, audit: AuditLog | None = None) -> None:
        self._engine: Engine = make_engine(database_url)
        self._audit = audit

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only this)."""
        migrate(self._engine)
        if self._audit is not None:
            self._audit.create_tables()

    def record(
        self,
        tenant_id: str,
        account_id: str,
        attempt_id: str,
        contact: PastContact,
        audit: dict[str, object] | None = None,
        provider_ref: str | None = None,
    ) -> None:
        """Record one contact; recording the same attempt again changes nothing.

        With an audit log, the contact (and ``audit``: what the gate decided) is
        appended to the tenant's chain first: a crash between the two leaves a
        retry that finds no ledger entry and records both, never a contact the
        audit log lacks.
        """
        if self._audit is not None:
            self._audit.append(
                [
                    AuditEntry(
                        tenant_id=tenant_id,
                        event_id=f"contact:{attempt_id}",
                        event_type="ComplianceAuditEvent",
                        occurred_at=contact.at,
                        body={
                            "account_id": account_id,
                            "attempt_id": attempt_id,
                            "contact": contact.model_dump(mode="json"),
                            **({"provider_ref": provider_ref} if provider_ref else {}),
                            **(audit or {}),
                        },
                    )
                ]
            )
        entry = LedgerEntry(
            attempt_id=attempt_id,
            tenant_id=tenant_id,
            account_id=account_id,
            at=contact.at.astimezone(UTC),
            channel=contact.channel.value,
            outcome=contact.outcome,
            to=contact.to,
            direction=contact.direction,
            provider_ref=provider_ref,
        )
        with Session(self._engine) as session:
            if session.get(LedgerEntry, attempt_id) is not None:
                return
            session.add(entry)
            try:
                session.commit()
            except IntegrityError:  # a concurrent retry recorded it first
                session.rollback()

    def recorded(self, attempt_id: str) -> PastContact | None:
        """The contact recorded for ``attempt_id``, if it was made.

        Channel agents ask this before sending: a retry of an attempt whose send
        went through (the worker died before reporting it) must not send again.
        """
        with Session(self._engine) as session:
            row = session.get(LedgerEntry, attempt_id)
        return None if row is None else _past_contact(row)

    def sent(self, attempt_id: str) -> tuple[PastContact, str | None] | None:
        """The contact recorded for ``attempt_id`` and the provider's reference for it."""
        with Session(self._engine) as session:
            row = session.get(LedgerEntry, attempt_id)
        return None if row is None else (_past_contact(row), row.provider_ref)

    def entries(self, tenant_id: str, account_ids: Sequence[str]) -> list[LedgerEntry]:
        """Every ledger entry of these accounts (``recoup reconcile`` reads them)."""
        found: list[LedgerEntry] = []
        for start in range(0, len(account_ids), 500):
            query = select(LedgerEntry).where(
                LedgerEntry.tenant_id == tenant_id,
                col(LedgerEntry.account_id).in_(list(account_ids[start : start + 500])),
            )
            with Session(self._engine) as session:
                found += list(session.exec(query).all())
        return found

    def known_refs(self, provider_refs: Sequence[str]) -> set[str]:
        """Which of these provider references the ledger holds, for any account."""
        found: set[str] = set()
        for start in range(0, len(provider_refs), 500):
            chunk = list(provider_refs[start : start + 500])
            query = select(LedgerEntry.provider_ref).where(col(LedgerEntry.provider_ref).in_(chunk))
            with Session(self._engine) as session:
                found |= {ref for ref in session.exec(query) if ref is not None}
        return found

    def history(self, tenant_id: str, account_id: str, since: datetime) -> list[PastContact]:
        """The debt's contacts after ``since``, oldest first."""
        query = (
            select(LedgerEntry)
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.account_id == account_id)
            .where(col(LedgerEntry.at) > since)
            .order_by(col(LedgerEntry.at))
        )
        with Session(self._engine) as session:
            rows: Sequence[LedgerEntry] = session.exec(query).all()
        return [_past_contact(row) for row in rows]

    def dispose(self) -> None:
        self._engine.dispose()
        if self._audit is not None:
            self._audit.dispose()


def _past_contact(row: LedgerEntry) -> PastContact:
    return PastContact(
        at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),  # SQLite drops it
        channel=row.channel,
        outcome=row.outcome,
        to=row.to,
        direction=row.direction,
    )
