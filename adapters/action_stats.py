"""What each channel and time of day has earned, per tenant and segment: the bandit's memory.

The next-best-action agent (``domain.next_action``) learns across campaigns, so
its statistics live here, keyed by tenant and segment, never by campaign:

- ``nba_arm_stats``: one row per tenant, segment, channel and time window: the
  contacts counted (``trials``), the sum of their positive rewards (``reward``), and
  the harm done: contacts that led to an opt-out, a dispute or a complaint
  (``harmed``) and the sum of their negative rewards as a positive number
  (``penalty``);
- ``nba_outcomes``: every outcome applied, by id, so that recording one twice
  (an activity retry, two workers) counts it once.

``record`` applies a batch in one transaction: an outcome's id is inserted first
(``ON CONFLICT DO NOTHING``), and only an outcome whose id was new adds to its arm
(an atomic ``ON CONFLICT DO UPDATE`` increment). A concurrent transaction inserting
the same id waits for this one and then finds it; rows are touched in sorted order
so that two batches cannot deadlock.

The tables are made by the alembic migrations (``adapters.schema``);
``create_tables`` brings the database to the latest revision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, Table, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.schema import migrate
from adapters.sql import make_engine
from domain.channels import Channel
from domain.next_action import ActionOutcome, Arm, ArmStats, TimeWindow


class NbaArmStat(SQLModel, table=True):
    __tablename__ = "nba_arm_stats"

    tenant_id: str = Field(primary_key=True, max_length=128)
    segment: str = Field(primary_key=True, max_length=128)
    channel: str = Field(primary_key=True, max_length=16)
    # Not "window": a reserved word in PostgreSQL, which an analyst would have to quote.
    time_window: str = Field(primary_key=True, max_length=16)
    trials: float = 0.0
    reward: float = 0.0
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # Last, where the migration that added them put them (0008: rows from before count 0).
    harmed: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    penalty: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})


class NbaOutcome(SQLModel, table=True):
    __tablename__ = "nba_outcomes"

    outcome_id: str = Field(primary_key=True, max_length=300)
    tenant_id: str = Field(index=True, max_length=128)
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


_ARMS: Table = NbaArmStat.__table__  # type: ignore[attr-defined]
_OUTCOMES: Table = NbaOutcome.__table__  # type: ignore[attr-defined]


class ActionStats:
    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only these)."""
        migrate(self._engine)

    def record(self, outcomes: Iterable[ActionOutcome]) -> int:
        """Apply the outcomes not applied before, in one transaction; how many were new."""
        unique = {outcome.outcome_id: outcome for outcome in outcomes}
        if not unique:
            return 0
        now = datetime.now(UTC)
        dialect = self._engine.dialect.name
        # Per arm: (contacts, reward, harmed, penalty) to add, from the outcomes whose
        # id was new.
        added: dict[tuple[str, str, str, str], tuple[float, float, float, float]] = {}
        with self._engine.begin() as connection:
            for outcome_id in sorted(unique):
                outcome = unique[outcome_id]
                inserted = connection.execute(
                    _insert(dialect, _OUTCOMES)
                    .values(outcome_id=outcome_id, tenant_id=outcome.tenant_id, recorded_at=now)
                    .on_conflict_do_nothing(index_elements=["outcome_id"])
                    .returning(_OUTCOMES.c.outcome_id)
                ).first()
                if inserted is None:
                    continue  # applied before (or by a concurrent batch that committed)
                key = (
                    outcome.tenant_id,
                    outcome.segment,
                    outcome.arm.channel.value,
                    outcome.arm.window.value,
                )
                trials, reward, harmed, penalty = added.get(key, (0.0, 0.0, 0.0, 0.0))
                added[key] = (
                    trials + 1.0,
                    reward + max(0.0, outcome.reward),
                    harmed + (1.0 if outcome.reward < 0 else 0.0),
                    penalty + max(0.0, -outcome.reward),
                )
            for (tenant_id, segment, channel, window), sums in sorted(added.items()):
                trials, reward, harmed, penalty = sums
                statement = _insert(dialect, _ARMS).values(
                    tenant_id=tenant_id,
                    segment=segment,
                    channel=channel,
                    time_window=window,
                    trials=trials,
                    reward=reward,
                    harmed=harmed,
                    penalty=penalty,
                    updated_at=now,
                )
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["tenant_id", "segment", "channel", "time_window"],
                        set_={
                            "trials": _ARMS.c.trials + statement.excluded.trials,
                            "reward": _ARMS.c.reward + statement.excluded.reward,
                            "harmed": _ARMS.c.harmed + statement.excluded.harmed,
                            "penalty": _ARMS.c.penalty + statement.excluded.penalty,
                            "updated_at": statement.excluded.updated_at,
                        },
                    )
                )
        return sum(int(sums[0]) for sums in added.values())

    def stats(self, tenant_id: str, segment: str) -> list[ArmStats]:
        """The segment's arms that have been tried, by channel then window."""
        query = (
            select(NbaArmStat)
            .where(NbaArmStat.tenant_id == tenant_id, NbaArmStat.segment == segment)
            .order_by(col(NbaArmStat.channel), col(NbaArmStat.time_window))
        )
        with Session(self._engine) as session:
            rows: Sequence[NbaArmStat] = session.exec(query).all()
        return [
            ArmStats(
                arm=Arm(channel=Channel(row.channel), window=TimeWindow(row.time_window)),
                trials=row.trials,
                reward=row.reward,
                harmed=row.harmed,
                penalty=row.penalty,
            )
            for row in rows
        ]

    def pooled(self, tenant_id: str) -> list[ArmStats]:
        """Every segment's arms of the tenant added up: the prior for a segment's arms."""
        # SQLAlchemy's select: sqlmodel's is typed for up to four columns.
        query = (
            sa_select(
                _ARMS.c.channel,
                _ARMS.c.time_window,
                func.sum(_ARMS.c.trials),
                func.sum(_ARMS.c.reward),
                func.sum(_ARMS.c.harmed),
                func.sum(_ARMS.c.penalty),
            )
            .where(_ARMS.c.tenant_id == tenant_id)
            .group_by(_ARMS.c.channel, _ARMS.c.time_window)
            .order_by(_ARMS.c.channel, _ARMS.c.time_window)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            ArmStats(
                arm=Arm(channel=Channel(channel), window=TimeWindow(window)),
                trials=float(trials or 0),
                reward=float(reward or 0),
                harmed=float(harmed or 0),
                penalty=float(penalty or 0),
            )
            for channel, window, trials, reward, harmed, penalty in rows
        ]

    def dispose(self) -> None:
        self._engine.dispose()


def _insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``ON CONFLICT`` clauses: both supported databases have them."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"action stats need PostgreSQL or SQLite, not {dialect}")
