"""What the operator's console reads from the SQL read model besides a campaign's report.

The report's figures (``adapters/report.py``, through ``RecoupService.campaign``) are the
console's figures; this module only finds what the report does not hold:

- ``tenant_campaigns``: a tenant's campaigns, the most recently active first;
- ``campaign_accounts``: one page of a campaign's accounts (ids, status, steps, balance),
  never a debtor's name or contact details, which the read model does not hold;
- ``campaign_timeline``: collected amount and contacts per time bucket, for the chart.

Contacts are counted in SQL by bucket (a large campaign has hundreds of thousands of
attempts); payments are read row by row, as the report reads them, because amounts are
decimal strings that only ``Decimal`` sums exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sql
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Engine, Float, Integer, cast, func
from sqlmodel import Session, col

from adapters.read_model import RmAccount, RmCampaign, RmContactAttempt, RmPayment


class CampaignRow(BaseModel):
    campaign_id: str
    first_event_at: datetime
    last_event_at: datetime


class CampaignPage(BaseModel):
    campaigns: list[CampaignRow]
    total: int = Field(description="The tenant's campaigns in the read model, all pages.")


class AccountRow(BaseModel):
    account_id: str
    status: str
    currency: str | None
    opening_balance: Decimal
    balance: Decimal
    steps_done: int
    steps_total: int
    reached: bool
    opted_out: bool
    disputed: bool


class Bucket(BaseModel):
    start: datetime
    end: datetime
    contacts: int = 0
    collected: dict[str, Decimal] = Field(default_factory=dict, description="By currency.")


class Timeline(BaseModel):
    """Equal buckets from the campaign's first contact or payment to its last."""

    buckets: list[Bucket]
    seconds: float = Field(description="Each bucket's width.")


def tenant_campaigns(engine: Engine, tenant_id: str, limit: int, offset: int = 0) -> CampaignPage:
    """The tenant's campaigns, the one with the latest event first."""
    mine = col(RmCampaign.tenant_id) == tenant_id
    with Session(engine) as session:
        total = session.execute(sql.select(func.count()).select_from(RmCampaign).where(mine))
        rows = session.execute(
            sql.select(
                col(RmCampaign.campaign_id),
                col(RmCampaign.first_event_at),
                col(RmCampaign.last_event_at),
            )
            .where(mine)
            .order_by(col(RmCampaign.last_event_at).desc(), col(RmCampaign.campaign_id))
            .limit(limit)
            .offset(offset)
        ).all()
        count = int(total.scalar_one())
    return CampaignPage(
        campaigns=[
            CampaignRow(campaign_id=c, first_event_at=_aware(first), last_event_at=_aware(last))
            for c, first, last in rows
        ],
        total=count,
    )


def campaign_accounts(
    engine: Engine, tenant_id: str, campaign_id: str, limit: int, offset: int = 0
) -> list[AccountRow]:
    """One page of the campaign's accounts, by account id."""
    with Session(engine) as session:
        rows = session.execute(
            sql.select(RmAccount)
            .where(col(RmAccount.tenant_id) == tenant_id)
            .where(col(RmAccount.campaign_id) == campaign_id)
            .order_by(col(RmAccount.account_id))
            .limit(limit)
            .offset(offset)
        ).scalars()
        return [
            AccountRow(
                account_id=row.account_id,
                status=row.status,
                currency=row.currency,
                opening_balance=Decimal(row.opening_balance),
                balance=Decimal(row.balance),
                steps_done=row.steps_done,
                steps_total=row.steps_total,
                reached=row.reached,
                opted_out=row.opted_out,
                disputed=row.disputed,
            )
            for row in rows
        ]


def campaign_timeline(
    engine: Engine, tenant_id: str, campaign_id: str, buckets: int = 24
) -> Timeline:
    """Contacts (skipped steps are not contacts) and payments per bucket, ``buckets`` at
    most; an empty list when the campaign has neither yet."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    attempts = (
        (col(RmContactAttempt.tenant_id) == tenant_id)
        & (col(RmContactAttempt.campaign_id) == campaign_id)
        & (col(RmContactAttempt.outcome) != "skipped")
    )
    paid = (col(RmPayment.tenant_id) == tenant_id) & (col(RmPayment.campaign_id) == campaign_id)
    with Session(engine) as session:
        span = session.execute(
            sql.select(
                func.min(col(RmContactAttempt.at)), func.max(col(RmContactAttempt.at))
            ).where(attempts)
        ).one()
        payments = session.execute(
            sql.select(col(RmPayment.at), col(RmPayment.currency), col(RmPayment.amount)).where(
                paid
            )
        ).all()
        moments = [_aware(at) for at in span if at is not None]
        moments += [_aware(at) for at, _, _ in payments]
        if not moments:
            return Timeline(buckets=[], seconds=0)
        start, end = min(moments), max(moments)
        # Whole seconds, more than span / buckets: the last moment falls inside bucket
        # ``buckets - 1`` at the latest.
        span_seconds = (end - start).total_seconds()
        width = math.floor(span_seconds / buckets) + 1
        count = math.floor(span_seconds / width) + 1
        index = cast(
            func.floor((_epoch(session, col(RmContactAttempt.at)) - start.timestamp()) / width),
            Integer,
        )
        contacts = session.execute(
            sql.select(index, func.count()).where(attempts).group_by(index)
        ).all()
    timeline = [
        Bucket(
            start=start + timedelta(seconds=i * width),
            end=start + timedelta(seconds=(i + 1) * width),
        )
        for i in range(count)
    ]
    for i, n in contacts:
        timeline[_within(int(i), count)].contacts += int(n)
    collected: list[dict[str, Decimal]] = [defaultdict(Decimal) for _ in range(count)]
    for at, currency, amount in payments:
        i = math.floor((_aware(at) - start).total_seconds() / width)
        collected[_within(i, count)][currency] += Decimal(amount)
    for bucket, sums in zip(timeline, collected, strict=True):
        bucket.collected = dict(sums)
    return Timeline(buckets=timeline, seconds=width)


def _epoch(session: Session, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a timestamp column, in the session's SQL dialect."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps timestamps as UTC text; julianday reads them, fractions included.
        return cast((func.julianday(column) - 2440587.5) * 86400.0, Float)
    return cast(func.extract("epoch", column), Float)


def _within(index: int, count: int) -> int:
    # A moment a rounding error puts one bucket past either end belongs to that end.
    return min(max(index, 0), count - 1)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone
