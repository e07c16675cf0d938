"""The event log: every exported record, in order, before any broker sees it.

Workflows and agents append here (through the export activity, or inside a
contact activity), idempotently by message id. The exporter then reads forward
from each sink's cursor and publishes, so a broker that is down only delays its
own copy: campaigns never wait for it, and its backlog drains in log order.

Positions are assigned by the database. On PostgreSQL a transaction can commit
after a later one, leaving a short-lived gap below the newest position (and a
rejected duplicate leaves a permanent one): readers handle gaps (``read_after``
returns rows in position order; the exporter waits a moment for a gap to fill).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Engine, Integer, Text, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.schema import migrate
from adapters.sql import make_engine
from domain.events import ExportRecord

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits.
_POSITION = BigInteger().with_variant(Integer, "sqlite")
# The largest position either database can hold (a signed 64-bit integer). Readers'
# cursors must lie in 0..MAX_POSITION: a larger one does not fit the driver's integer
# (OverflowError on SQLite, an out-of-range error on PostgreSQL).
MAX_POSITION = 2**63 - 1


class EventRow(SQLModel, table=True):
    __tablename__ = "event_log"

    position: int | None = Field(
        default=None, sa_column=Column(_POSITION, primary_key=True, autoincrement=True)
    )
    message_id: str = Field(max_length=36, unique=True)
    kind: str = Field(max_length=16)
    type: str = Field(max_length=64, index=True)
    tenant_id: str = Field(max_length=128, index=True)
    campaign_id: str | None = Field(default=None, max_length=128, index=True)
    customer_id: str | None = Field(default=None, max_length=128)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    record: str = Field(sa_column=Column(Text, nullable=False), description="ExportRecord JSON.")

    def export_record(self) -> ExportRecord:
        return ExportRecord.model_validate_json(self.record)


class ExportCursor(SQLModel, table=True):
    """How far each sink has published (the SQL read model is a sink too)."""

    __tablename__ = "export_cursors"

    sink: str = Field(primary_key=True, max_length=64)
    position: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class EventLog:
    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    @property
    def engine(self) -> Engine:
        return self._engine

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only this)."""
        migrate(self._engine)

    def append(self, records: Iterable[ExportRecord]) -> int:
        """Append ``records`` in order; a message id already in the log is skipped.

        Returns how many were new. One transaction: all or none.
        """
        now = datetime.now(UTC)
        rows = [
            {
                "message_id": r.message_id,
                "kind": r.kind.value,
                "type": r.type,
                "tenant_id": r.tenant_id,
                "campaign_id": r.campaign_id,
                "customer_id": r.customer_id,
                "occurred_at": r.occurred_at,
                "recorded_at": now,
                "record": r.model_dump_json(),
            }
            for r in records
        ]
        if not rows:
            return 0
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        added = 0
        with self._engine.begin() as conn:
            # Skip what is there first: on PostgreSQL a rejected insert still uses up a
            # position, and every gap makes the exporter wait a moment.
            known = set(
                conn.execute(
                    select(EventRow.message_id).where(
                        col(EventRow.message_id).in_([r["message_id"] for r in rows])
                    )
                ).scalars()
            )
            fresh: dict[str, dict[str, datetime | str | None]] = {}
            for row in rows:
                if row["message_id"] not in known:
                    fresh.setdefault(str(row["message_id"]), row)  # a repeat in the batch too
            if fresh:
                # One executemany, which SQLAlchemy sends as multi-row INSERTs whose rows
                # take their positions in the records' order; a row another writer
                # added meanwhile is skipped by the conflict and not returned.
                stmt = (
                    insert(EventRow)
                    .on_conflict_do_nothing(index_elements=["message_id"])
                    .returning(col(EventRow.message_id))
                )
                added = len(conn.execute(stmt, list(fresh.values())).all())
        return added

    def read_after(
        self,
        position: int,
        limit: int = 500,
        tenant_id: str | None = None,
        campaign_id: str | None = None,
        types: Sequence[str] = (),
        customer_id: str | None = None,
    ) -> list[EventRow]:
        """Rows after ``position`` in log order, optionally filtered.

        ``position`` must be 0..``MAX_POSITION``: the APIs refuse other cursors before
        they get here, and anything else calling with one is a bug, said as such.
        """
        if not 0 <= position <= MAX_POSITION:
            raise ValueError(f"event log position must be 0..{MAX_POSITION}, got {position}")
        query = select(EventRow).where(col(EventRow.position) > position)
        if tenant_id is not None:
            query = query.where(EventRow.tenant_id == tenant_id)
        if campaign_id is not None:
            query = query.where(EventRow.campaign_id == campaign_id)
        if types:
            query = query.where(col(EventRow.type).in_(list(types)))
        if customer_id is not None:
            query = query.where(EventRow.customer_id == customer_id)
        query = query.order_by(col(EventRow.position)).limit(limit)
        with Session(self._engine) as session:
            return list(session.exec(query).all())

    def last_position(self) -> int:
        query = select(EventRow.position).order_by(col(EventRow.position).desc()).limit(1)
        with Session(self._engine) as session:
            found = session.exec(query).first()
        return found or 0

    def cursor(self, sink: str) -> int:
        with Session(self._engine) as session:
            row = session.get(ExportCursor, sink)
        return 0 if row is None else row.position

    def cursors(self) -> dict[str, int]:
        with Session(self._engine) as session:
            return {row.sink: row.position for row in session.exec(select(ExportCursor)).all()}

    def advance(
        self, sink: str, expected: int, position: int, session: Session | None = None
    ) -> bool:
        """Move ``sink``'s cursor from ``expected`` to ``position``; False if another
        exporter moved it first (it then re-reads from the new cursor)."""
        own = session is None
        session = session or Session(self._engine)
        try:
            now = datetime.now(UTC)
            if session.get(ExportCursor, sink) is None:
                session.add(ExportCursor(sink=sink, position=0, updated_at=now))
                session.flush()
            result = session.execute(
                update(ExportCursor)
                .where(col(ExportCursor.sink) == sink, col(ExportCursor.position) == expected)
                .values(position=position, updated_at=now)
            )
            moved = bool(result.rowcount)  # type: ignore[attr-defined]
            if own:
                session.commit()
            return moved
        finally:
            if own:
                session.close()

    def counts_by_kind(self) -> dict[str, int]:
        query = select(EventRow.kind, func.count()).group_by(EventRow.kind)
        with Session(self._engine) as session:
            return {kind: int(n) for kind, n in session.exec(query).all()}

    def dispose(self) -> None:
        self._engine.dispose()
