"""Every contact made about a debt, across campaigns: the compliance gate's memory.

A call yesterday in campaign A counts for campaign B today, so the gate cannot
rely on one workflow's history alone. Channel agents record each contact here
when it is made (idempotent by attempt id: a retried activity records once), and
a new campaign loads the recent ones before its first touch.

It is also the agents' sent-ledger: SMTP (and production Twilio) take no
idempotency key, so an agent checks here first and does not send an attempt
that was already sent by a worker that died before it could report.

Concurrent ``record`` calls of one process are written as a group (``group_commit``,
the default): one transaction appends all of them to their tenants' audit chains and
inserts their ledger rows, instead of two transactions each that contend for the
chain's head. See ``_record_grouped``.

The table is made by the alembic migrations (``adapters.schema``); ``create_tables``
brings the database to the latest revision.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.audit_log import AuditEntry, AuditLog
from adapters.schema import migrate
from adapters.sql import make_engine
from domain.compliance.model import PastContact

_TABLE = "contact_ledger"
_GROUP_MAX = 256  # contacts written in one transaction at most
_GROUP_TRIES = 20  # a group is written again when another process took a chain position


class LedgerContention(RuntimeError):
    """A group could not be written: other writers kept taking the chains' positions."""


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


@dataclass(eq=False)
class _Pending:
    """One caller's contact, waiting for the group that writes it."""

    row: LedgerEntry
    audit: AuditEntry | None
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group, not because this one is written
    written: bool = False
    error: BaseException | None = None


class ContactLedger:
    def __init__(
        self, database_url: str, audit: AuditLog | None = None, *, group_commit: bool = True
    ) -> None:
        self._engine: Engine = make_engine(database_url)
        self._audit = audit
        # Both in one database (the deployment's case): one transaction writes both.
        self._one_database = audit is not None and audit.shares_database(self._engine)
        self._group_commit = group_commit
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False  # a caller is writing a group (the leader)
        self._retries = 0

    @property
    def retries(self) -> int:
        """Writes redone on an IntegrityError (another writer took a position), the
        audit log's included."""
        return self._retries + (self._audit.retries if self._audit is not None else 0)

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
        audit_entry = None
        if self._audit is not None:
            audit_entry = AuditEntry(
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
        if self._group_commit:
            self._record_grouped(_Pending(entry, audit_entry))
        else:
            self._record_one(entry, audit_entry)

    def _record_one(self, entry: LedgerEntry, audit_entry: AuditEntry | None) -> None:
        """One contact alone: its audit record (a transaction per ``AuditLog.append``),
        then its ledger row (another)."""
        if self._audit is not None and audit_entry is not None:
            self._audit.append([audit_entry])
        with Session(self._engine) as session:
            if session.get(LedgerEntry, entry.attempt_id) is not None:
                return
            session.add(entry)
            try:
                session.commit()
            except IntegrityError:  # a concurrent retry recorded it first
                session.rollback()
                with self._lock:
                    self._retries += 1

    # --- group commit -----------------------------------------------------------------
    #
    # Leader/follower, no thread of its own: a caller that finds no group being written
    # writes one (everything queued so far, its own contact first), then hands the
    # writing to the first caller still queued, if any, and returns; the others wait on
    # their Event. So a lone caller writes at once, as before, each caller writes at most
    # one group (none is kept writing for others under sustained load), and there is no
    # thread to start, stop at ``dispose`` or lose at fork with contacts still queued.
    # Every caller returns only once its contact is committed (or raises).

    def _record_grouped(self, pending: _Pending) -> None:
        with self._lock:
            self._queue.append(pending)
            lead = not self._writing
            self._writing = True
        if not lead:
            pending.done.wait()
        if lead or pending.lead:
            # The queue is only taken from by the writer, so our contact is its first.
            try:
                with self._lock:
                    group = self._queue[:_GROUP_MAX]
                    del self._queue[:_GROUP_MAX]
                self._write_or_fail(group)
            finally:
                with self._lock:
                    if self._queue:
                        successor = self._queue[0]
                        successor.lead = True
                        successor.done.set()
                    else:
                        self._writing = False
        if pending.error is not None:
            raise pending.error
        if not pending.written:
            raise RuntimeError(f"contact {pending.row.attempt_id} was not recorded")

    def _write_or_fail(self, group: list[_Pending]) -> None:
        """Write ``group``; mark each contact written or give it its error, then wake it."""
        try:
            try:
                self._write_group(group)
            except (OperationalError, LedgerContention):  # the database's state, not a contact's
                raise
            except Exception:
                if len(group) == 1:
                    raise
                # One bad contact (a value too long...) must not fail the others: each alone.
                for pending in group:
                    try:
                        self._write_group([pending])
                    except Exception as exc:
                        pending.error = exc
                    else:
                        pending.written = True
                return
            for pending in group:
                pending.written = True
        except Exception as exc:
            for pending in group:
                pending.error = exc
        finally:
            for pending in group:
                if not pending.lead:
                    pending.done.set()

    def _write_group(self, group: Sequence[_Pending]) -> None:
        """One transaction for the group: its audit records, chained in arrival order
        after each tenant's last record, then its ledger rows (an attempt already in the
        ledger, or earlier in the group, is skipped). Written again whole when another
        process took a chain position or recorded one of these attempts meanwhile."""
        audit_entries = [p.audit for p in group if p.audit is not None]
        for _ in range(_GROUP_TRIES):
            try:
                if self._audit is not None and not self._one_database:
                    # Another database: its own transaction, committed first, so a ledger
                    # row never exists without its audit record.
                    self._audit.append_batch(audit_entries)
                with Session(self._engine) as session:
                    if self._audit is not None and self._one_database:
                        self._audit.stage(session, audit_entries)
                    self._stage_rows(session, [p.row for p in group])
                    session.commit()
                return
            except IntegrityError:
                self._retries += 1
        raise LedgerContention(
            f"could not record {len(group)} contacts: other writers kept taking the audit "
            f"chains' positions ({_GROUP_TRIES} tries)"
        )

    def _stage_rows(self, session: Session, rows: Sequence[LedgerEntry]) -> None:
        ids = sorted({row.attempt_id for row in rows})
        query = select(LedgerEntry.attempt_id).where(col(LedgerEntry.attempt_id).in_(ids))
        present = set(session.exec(query))
        fresh: list[dict[str, object]] = []
        for row in rows:
            if row.attempt_id not in present:
                present.add(row.attempt_id)
                fresh.append(row.model_dump())
        if fresh:
            session.connection().execute(insert(LedgerEntry), fresh)

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
