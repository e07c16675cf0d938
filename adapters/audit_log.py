"""The audit log: an append-only, hash-chained record a compliance officer can verify.

Each tenant's records form a chain: a record's ``hash`` is an HMAC-SHA256, under
the deployment's audit key, of its own content and the previous record's hash.
Changing a record breaks its own hash; inserting one needs the key; deleting one
leaves a gap in the positions and a broken link. The chain's head (last position
and hash, MAC'd too) is kept apart, so cutting records off the end shows as well.
``verify`` recomputes everything and lists what it finds.

What the chain cannot show is a rewrite by someone holding the key, or the whole
database restored to an older copy; exporting the heads elsewhere (the export
issue's audit-logs topic) closes that.

The tables are made by the alembic migrations (``adapters.schema``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Engine, Text, UniqueConstraint, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.schema import migrate
from adapters.sql import make_engine

GENESIS = "0" * 64
_APPEND_TRIES = 20  # concurrent writers to one tenant's chain retry on a position clash


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("tenant_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=128)
    position: int = Field(ge=1)
    event_id: str = Field(unique=True, max_length=200)
    event_type: str = Field(max_length=64)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    key_id: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_heads"

    tenant_id: str = Field(primary_key=True, max_length=128)
    position: int
    hash: str = Field(max_length=64)
    mac: str = Field(max_length=64)


@dataclass(frozen=True)
class AuditEntry:
    """What a caller appends; the log adds position and hashes."""

    tenant_id: str
    event_id: str  # stable: appending the same event again changes nothing
    event_type: str
    occurred_at: datetime
    body: dict[str, object]


class FindingKind(StrEnum):
    ALTERED = "altered"  # a record's content no longer matches its hash
    FORGED = "forged"  # a record whose hash the audit key did not make (inserted)
    DELETED = "deleted"  # positions missing, or the chain ends before its head
    HEAD = "head"  # the stored head itself was changed


@dataclass(frozen=True)
class Finding:
    tenant_id: str
    kind: FindingKind
    position: int
    detail: str


class AuditLog:
    def __init__(self, database_url: str, key: bytes, key_id: str = "default") -> None:
        if not key:
            raise ValueError("the audit key must not be empty")
        self._engine: Engine = make_engine(database_url)
        self._key = key
        self._key_id = key_id
        self._retries = 0  # appends redone because another writer took the position
        self._retries_lock = threading.Lock()

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only these)."""
        migrate(self._engine)

    def dispose(self) -> None:
        self._engine.dispose()

    @property
    def retries(self) -> int:
        """How many appends were redone because another writer took the position."""
        return self._retries

    def count_retry(self) -> None:
        with self._retries_lock:
            self._retries += 1

    def shares_database(self, engine: Engine) -> bool:
        """Whether ``engine`` opens this log's database (one transaction can write both)."""
        same: bool = self._engine.url == engine.url
        return same

    def contacts_recorded(self, tenant_id: str, attempt_ids: Sequence[str]) -> set[str]:
        """Which of these attempts have a contact record in the tenant's chain."""
        found: set[str] = set()
        for start in range(0, len(attempt_ids), 500):
            wanted = [f"contact:{a}" for a in attempt_ids[start : start + 500]]
            query = select(AuditRecord.event_id).where(
                AuditRecord.tenant_id == tenant_id, col(AuditRecord.event_id).in_(wanted)
            )
            with Session(self._engine) as session:
                found |= {event_id.removeprefix("contact:") for event_id in session.exec(query)}
        return found

    # --- writing --------------------------------------------------------------------

    def append(self, entries: Iterable[AuditEntry]) -> int:
        """Append entries in order; an event id already in the log is skipped. Returns
        how many were added."""
        added = 0
        for entry in entries:
            added += self._append_one(entry)
        return added

    def _append_one(self, entry: AuditEntry) -> int:
        body = canonical(entry.body)
        occurred = entry.occurred_at.astimezone(UTC)
        for _ in range(_APPEND_TRIES):
            with Session(self._engine) as session:
                if session.exec(
                    select(AuditRecord.id).where(AuditRecord.event_id == entry.event_id)
                ).first():
                    return 0
                last = session.exec(
                    select(AuditRecord)
                    .where(AuditRecord.tenant_id == entry.tenant_id)
                    .order_by(col(AuditRecord.position).desc())
                    .limit(1)
                ).first()
                position = 1 if last is None else last.position + 1
                prev = GENESIS if last is None else last.hash
                record = AuditRecord(
                    tenant_id=entry.tenant_id,
                    position=position,
                    event_id=entry.event_id,
                    event_type=entry.event_type,
                    occurred_at=occurred,
                    body=body,
                    key_id=self._key_id,
                    prev_hash=prev,
                    hash="",
                )
                record.hash = self._record_hash(record)
                try:
                    head = session.get(AuditHead, entry.tenant_id)
                    if head is None:
                        head = AuditHead(tenant_id=entry.tenant_id, position=0, hash="", mac="")
                    head.position, head.hash = position, record.hash
                    head.mac = self._head_mac(head)
                    session.add(record)
                    session.add(head)
                    session.commit()
                except IntegrityError:
                    # Another writer took the position (or appended this very event):
                    # read the chain again.
                    session.rollback()
                    self.count_retry()
                    continue
                return 1
        raise RuntimeError(f"could not append to {entry.tenant_id}'s audit chain: contention")

    def append_batch(self, entries: Sequence[AuditEntry]) -> int:
        """Append entries in order in ONE transaction (``stage``), retried whole when
        another writer took a position. Returns how many were added."""
        for _ in range(_APPEND_TRIES):
            with Session(self._engine) as session:
                added = self.stage(session, entries)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    self.count_retry()
                    continue
                return added
        tenants = ", ".join(sorted({e.tenant_id for e in entries}))
        raise RuntimeError(f"could not append to the audit chains of {tenants}: contention")

    def stage(self, session: Session, entries: Sequence[AuditEntry]) -> int:
        """Add ``entries`` to ``session``'s transaction, without committing: per tenant,
        the chain's head is locked and its last record read once, and the entries are
        chained after it in the order given, with the same hashes ``_append_one`` makes;
        the head moves once. An event id already in the log (or earlier in ``entries``)
        is skipped. The caller commits; an IntegrityError then means another writer took
        a position (or appended one of these events): roll back and stage again.
        Returns how many records were added."""
        if not entries:
            return 0
        wanted = sorted({entry.event_id for entry in entries})
        seen: set[str] = set()
        for start in range(0, len(wanted), 500):
            query = select(AuditRecord.event_id).where(
                col(AuditRecord.event_id).in_(wanted[start : start + 500])
            )
            seen |= set(session.exec(query))
        by_tenant: dict[str, list[AuditEntry]] = {}
        for entry in entries:
            if entry.event_id not in seen:
                seen.add(entry.event_id)
                by_tenant.setdefault(entry.tenant_id, []).append(entry)
        records: list[AuditRecord] = []
        heads: list[AuditHead] = []
        # Tenants in one fixed order: two processes' groups take the head locks alike
        # and cannot deadlock. The lock (PostgreSQL; SQLite has one writer anyway) makes
        # another process's group wait for this one instead of clashing on a position.
        for tenant in sorted(by_tenant):
            head = session.exec(
                select(AuditHead).where(AuditHead.tenant_id == tenant).with_for_update()
            ).first()
            last = session.exec(
                select(AuditRecord)
                .where(AuditRecord.tenant_id == tenant)
                .order_by(col(AuditRecord.position).desc())
                .limit(1)
            ).first()
            position = 0 if last is None else last.position
            prev = GENESIS if last is None else last.hash
            for entry in by_tenant[tenant]:
                position += 1
                record = AuditRecord(
                    tenant_id=tenant,
                    position=position,
                    event_id=entry.event_id,
                    event_type=entry.event_type,
                    occurred_at=entry.occurred_at.astimezone(UTC),
                    body=canonical(entry.body),
                    key_id=self._key_id,
                    prev_hash=prev,
                    hash="",
                )
                record.hash = prev = self._record_hash(record)
                records.append(record)
            if head is None:
                head = AuditHead(tenant_id=tenant, position=0, hash="", mac="")
            head.position, head.hash = position, prev
            head.mac = self._head_mac(head)
            heads.append(head)
        if records:  # the records first, then the heads that point at them
            session.connection().execute(
                insert(AuditRecord),
                [record.model_dump(exclude={"id"}) for record in records],
            )
        session.add_all(heads)
        session.flush()
        return len(records)

    # --- verifying ------------------------------------------------------------------

    def verify(self, tenant_id: str | None = None) -> list[Finding]:
        """Recompute every chain (or one tenant's); what was altered, forged or deleted."""
        with Session(self._engine) as session:
            query = select(AuditRecord).order_by(
                col(AuditRecord.tenant_id), col(AuditRecord.position), col(AuditRecord.id)
            )
            heads_query = select(AuditHead)
            if tenant_id is not None:
                query = query.where(AuditRecord.tenant_id == tenant_id)
                heads_query = heads_query.where(AuditHead.tenant_id == tenant_id)
            records = list(session.exec(query).all())
            heads = {h.tenant_id: h for h in session.exec(heads_query).all()}
        by_tenant: dict[str, list[AuditRecord]] = {}
        for record in records:
            by_tenant.setdefault(record.tenant_id, []).append(record)
        findings: list[Finding] = []
        for tenant in sorted(set(by_tenant) | set(heads)):
            findings += self._verify_chain(tenant, by_tenant.get(tenant, []), heads.get(tenant))
        return findings

    def _verify_chain(
        self, tenant: str, records: Sequence[AuditRecord], head: AuditHead | None
    ) -> list[Finding]:
        found: list[Finding] = []
        expected_position, expected_prev = 1, GENESIS
        for record in records:
            if head is not None and record.position > head.position:
                found.append(
                    Finding(
                        tenant,
                        FindingKind.FORGED,
                        record.position,
                        f"event {record.event_id}: after the chain's head (inserted)",
                    )
                )
                continue
            if record.position > expected_position:
                missing = f"{expected_position}-{record.position - 1}"
                found.append(
                    Finding(tenant, FindingKind.DELETED, expected_position, f"positions {missing}")
                )
            if not hmac.compare_digest(self._record_hash(record), record.hash):
                # Was it written with the key, then changed, or never written with it?
                kind = (
                    FindingKind.FORGED
                    if record.prev_hash != expected_prev or record.position < expected_position
                    else FindingKind.ALTERED
                )
                found.append(
                    Finding(
                        tenant,
                        kind,
                        record.position,
                        f"event {record.event_id} ({record.event_type}): hash does not match",
                    )
                )
            elif record.prev_hash != expected_prev and record.position == expected_position:
                found.append(
                    Finding(
                        tenant,
                        FindingKind.FORGED,
                        record.position,
                        "link to the previous record broken",
                    )
                )
            expected_position = max(expected_position, record.position + 1)
            expected_prev = record.hash
        if head is None:
            if records:
                found.append(Finding(tenant, FindingKind.HEAD, 0, "the chain has no head"))
            return found
        if not hmac.compare_digest(self._head_mac(head), head.mac):
            found.append(Finding(tenant, FindingKind.HEAD, head.position, "the head was changed"))
        elif head.position >= expected_position:
            found.append(
                Finding(
                    tenant,
                    FindingKind.DELETED,
                    expected_position,
                    f"the chain ends at {expected_position - 1}, its head is at {head.position}",
                )
            )
        elif head.hash != expected_prev:
            found.append(
                Finding(tenant, FindingKind.HEAD, head.position, "the last record is not the head")
            )
        return found

    # --- anchors --------------------------------------------------------------------

    def heads(self) -> list[AuditHead]:
        """Each tenant's chain head (what the exporter anchors outside this database)."""
        with Session(self._engine) as session:
            return list(session.exec(select(AuditHead).order_by(col(AuditHead.tenant_id))).all())

    def check_anchors(self, anchors: Iterable[tuple[str, int, str]]) -> list[Finding]:
        """Compare the chains with heads exported earlier: ``(tenant, position, hash)``.

        Someone holding the key can rewrite a chain so that it verifies; they cannot
        rewrite the heads already exported (Kafka's audit-logs, an archive). A record
        at an anchored position must still carry the anchored hash.
        """
        wanted = sorted(set(anchors))
        found: list[Finding] = []
        with Session(self._engine) as session:
            for tenant, position, hash_ in wanted:
                record = session.exec(
                    select(AuditRecord).where(
                        AuditRecord.tenant_id == tenant, AuditRecord.position == position
                    )
                ).first()
                if record is None:
                    found.append(
                        Finding(tenant, FindingKind.DELETED, position, "an exported head is gone")
                    )
                elif not hmac.compare_digest(record.hash, hash_):
                    found.append(
                        Finding(
                            tenant,
                            FindingKind.ALTERED,
                            position,
                            "differs from the head exported then (the chain was rewritten)",
                        )
                    )
        return found

    # --- hashing --------------------------------------------------------------------

    def _record_hash(self, record: AuditRecord) -> str:
        occurred = record.occurred_at
        if occurred.tzinfo is None:  # SQLite gives naive datetimes back
            occurred = occurred.replace(tzinfo=UTC)
        material = [
            record.prev_hash,
            record.tenant_id,
            record.position,
            record.event_id,
            record.event_type,
            occurred.astimezone(UTC).isoformat(),
            record.body,
            record.key_id,
        ]
        return self._mac(material)

    def _head_mac(self, head: AuditHead) -> str:
        return self._mac(["head", head.tenant_id, head.position, head.hash])

    def _mac(self, material: list[object]) -> str:
        text = json.dumps(material, separators=(",", ":"), ensure_ascii=False)
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


def canonical(body: dict[str, object]) -> str:
    """One text per content: sorted keys, no spaces (what the hash covers)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
