"""What each channel and time of day has earned, per tenant and segment: the bandit's memory.

The next-best-action agent (``domain.next_action``) learns across campaigns, so
its statistics live here, keyed by tenant and segment, never by campaign:

- ``nba_arm_stats``: one row per tenant, segment, channel and time window: the
  contacts counted (``trials``), the sum of their positive rewards (``reward``), and
  the harm done: contacts that led to an opt-out, a dispute or a complaint
  (``harmed``) and the sum of their negative rewards as a positive number
  (``penalty``);
- ``nba_outcomes``: every outcome applied, by id, so that recording one twice
  (an activity retry, two workers) counts it once;
- ``nba_trials``: the contacts made whose outcome is not recorded yet (``open``,
  by the channel agent that made the contact). ``stats`` and ``pooled`` count each
  as a trial with no reward (one younger than the attribution window for the share of
  it that has passed), so an arm's statistics hold its contacts from the moment they
  are made; recording the outcome deletes the trial in the same
  transaction that counts the outcome, so a contact is never counted twice. A trial
  whose outcome never comes (a campaign terminated by hand) stops counting after
  ``OPEN_TRIAL_DAYS`` and is deleted by the next trial of its tenant opened after that.

``record`` applies a batch in one transaction: an outcome's id is inserted first
(``ON CONFLICT DO NOTHING``), and only an outcome whose id was new adds to its arm
(an atomic ``ON CONFLICT DO UPDATE`` increment). A concurrent transaction inserting
the same id waits for this one and then finds it; rows are touched in sorted order
so that two batches cannot deadlock.

The tables are made by the alembic migrations (``adapters.schema``);
``create_tables`` brings the database to the latest revision.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Engine, Index, Table, case, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from adapters.schema import migrate
from adapters.sql import make_engine
from domain.campaign_core.learning import ATTRIBUTION_DAYS
from domain.channels import Channel
from domain.next_action import ActionOutcome, ActionTrial, Arm, ArmStats, TimeWindow

# How long a contact's outcome may stay unrecorded and still count: far longer than any
# attribution window; what is older belongs to a campaign that will never record it.
OPEN_TRIAL_DAYS = 30
# How long a contact's outcome is waited for (``domain.campaign_core.learning``), in
# calendar days: campaigns run on days of 24 hours outside demos and tests.
ATTRIBUTION = timedelta(days=ATTRIBUTION_DAYS)


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


class NbaTrial(SQLModel, table=True):
    __tablename__ = "nba_trials"
    # ``stats`` reads a segment's open trials, ``open`` prunes a tenant's stale ones.
    __table_args__ = (
        Index("ix_nba_trials_tenant_segment", "tenant_id", "segment"),
        Index("ix_nba_trials_tenant_opened", "tenant_id", "opened_at"),
    )

    outcome_id: str = Field(primary_key=True, max_length=300)
    tenant_id: str = Field(max_length=128)
    segment: str = Field(max_length=128)
    channel: str = Field(max_length=16)
    time_window: str = Field(max_length=16)
    opened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


_ARMS: Table = NbaArmStat.__table__  # type: ignore[attr-defined]
_OUTCOMES: Table = NbaOutcome.__table__  # type: ignore[attr-defined]
_TRIALS: Table = NbaTrial.__table__  # type: ignore[attr-defined]


class ActionStats:
    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only these)."""
        migrate(self._engine)

    def open(self, trial: ActionTrial, opened_at: datetime) -> bool:
        """Count a contact just made as a trial with no reward until its outcome is
        recorded; False when it was opened or recorded before (an activity retry)."""
        dialect = self._engine.dialect.name
        recorded = exists().where(_OUTCOMES.c.outcome_id == trial.outcome_id)
        with self._engine.begin() as connection:
            connection.execute(
                delete(_TRIALS).where(
                    _TRIALS.c.tenant_id == trial.tenant_id,
                    _TRIALS.c.opened_at < opened_at - timedelta(days=OPEN_TRIAL_DAYS),
                )
            )
            if connection.execute(select(recorded)).scalar():
                return False
            inserted = connection.execute(
                _insert(dialect, _TRIALS)
                .values(
                    outcome_id=trial.outcome_id,
                    tenant_id=trial.tenant_id,
                    segment=trial.segment,
                    channel=trial.arm.channel.value,
                    time_window=trial.arm.window.value,
                    opened_at=opened_at,
                )
                .on_conflict_do_nothing(index_elements=["outcome_id"])
                .returning(_TRIALS.c.outcome_id)
            ).first()
        return inserted is not None

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
                # Counted below as a recorded trial: no longer as an open one.
                connection.execute(delete(_TRIALS).where(_TRIALS.c.outcome_id == outcome_id))
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

    def stats(self, tenant_id: str, segment: str, as_of: datetime | None = None) -> list[ArmStats]:
        """The segment's arms that have been tried, by channel then window: the outcomes
        recorded, and the trials opened before ``as_of`` (default: now) and still open."""
        return self._arms(tenant_id, segment, as_of)

    def pooled(self, tenant_id: str, as_of: datetime | None = None) -> list[ArmStats]:
        """Every segment's arms of the tenant added up: the prior for a segment's arms."""
        return self._arms(tenant_id, None, as_of)

    def _arms(self, tenant_id: str, segment: str | None, as_of: datetime | None) -> list[ArmStats]:
        as_of = as_of or datetime.now(UTC)
        # SQLAlchemy's select: sqlmodel's is typed for up to four columns.
        recorded = (
            select(
                _ARMS.c.channel,
                _ARMS.c.time_window,
                func.sum(_ARMS.c.trials),
                func.sum(_ARMS.c.reward),
                func.sum(_ARMS.c.harmed),
                func.sum(_ARMS.c.penalty),
            )
            .where(_ARMS.c.tenant_id == tenant_id)
            .group_by(_ARMS.c.channel, _ARMS.c.time_window)
        )
        # A trial younger than the attribution window counts for the share of it that has
        # passed (most of its outcome may be still to come); the sum of those shares is
        # the young trials' count times as_of less their summed opening times.
        young = _TRIALS.c.opened_at >= as_of - ATTRIBUTION
        opened = (
            select(
                _TRIALS.c.channel,
                _TRIALS.c.time_window,
                func.count(),
                func.count(case((young, 1))),
                func.sum(case((young, func.extract("epoch", _TRIALS.c.opened_at)))),
            )
            .where(
                _TRIALS.c.tenant_id == tenant_id,
                _TRIALS.c.opened_at < as_of,
                _TRIALS.c.opened_at >= as_of - timedelta(days=OPEN_TRIAL_DAYS),
            )
            .group_by(_TRIALS.c.channel, _TRIALS.c.time_window)
        )
        if segment is not None:
            recorded = recorded.where(_ARMS.c.segment == segment)
            opened = opened.where(_TRIALS.c.segment == segment)
        sums: dict[tuple[str, str], list[float]] = {}
        with self._engine.connect() as connection:
            for channel, window, trials, reward, harmed, penalty in connection.execute(recorded):
                sums[(channel, window)] = [
                    float(trials or 0),
                    float(reward or 0),
                    float(harmed or 0),
                    float(penalty or 0),
                ]
            for channel, window, count, young_count, young_opened in connection.execute(opened):
                passed = float(young_count) * as_of.timestamp() - float(young_opened or 0)
                weight = float(count - young_count) + passed / ATTRIBUTION.total_seconds()
                sums.setdefault((channel, window), [0.0, 0.0, 0.0, 0.0])[0] += weight
        return [
            ArmStats(
                arm=Arm(channel=Channel(channel), window=TimeWindow(window)),
                trials=trials,
                reward=reward,
                harmed=harmed,
                penalty=penalty,
            )
            for (channel, window), (trials, reward, harmed, penalty) in sorted(sums.items())
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
