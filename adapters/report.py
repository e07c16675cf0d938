"""A campaign's KPIs, from the SQL read model.

Definitions (the README repeats them for operators):

- recovery rate: amount collected / opening balances (per currency);
- contact rate: accounts with at least one contact that reached the debtor's side
  (sent, delivered, voicemail, conversation) / accounts;
- right-party contact rate: accounts where the debtor engaged with us (a call
  conversation, a reply, a promise or a dispute) / accounts;
- promises kept: promises followed by a payment while they were open;
- per channel and per step: attempts by outcome, and the amount collected
  credited to the last contact that reached the account before each payment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import sqlalchemy as sql
from pydantic import BaseModel, Field
from sqlalchemy import Engine, case, func
from sqlmodel import Session, col, select

from adapters.read_model import HANDED_OFF, REACHED, SKIPPED, RmAccount, RmContactAttempt, RmPayment
from domain.portfolio import Census


class Breakdown(BaseModel):
    """One channel's or step's contacts (docs/metrics.md)."""

    attempts: int = Field(default=0, description="Contact attempts; a skipped step is none.")
    reached: int = 0
    failed: int = 0
    skipped: int = Field(default=0, description="Steps skipped (held by a rule, no address).")
    collected: Decimal = Decimal("0")

    @property
    def reach_rate(self) -> float | None:
        return self.reached / self.attempts if self.attempts else None


class CampaignReport(BaseModel):
    tenant_id: str | None
    campaign_id: str
    accounts: int
    finished: int
    statuses: dict[str, int]
    opening_balance: dict[str, Decimal] = Field(description="By currency.")
    collected: dict[str, Decimal] = Field(description="By currency.")
    payments: int
    contact_rate: float | None
    right_party_rate: float | None
    promises_made: int
    promises_kept: int
    promises_broken: int
    opt_out_rate: float | None
    disputes: int
    by_channel: dict[str, Breakdown]
    by_step: dict[str, Breakdown]

    @property
    def recovery_rate(self) -> dict[str, float]:
        return {
            currency: float(self.collected.get(currency, Decimal("0")) / opening)
            for currency, opening in self.opening_balance.items()
            if opening > 0
        }


def campaign_report(
    engine: Engine, campaign_id: str, tenant_id: str | None = None
) -> CampaignReport:
    with Session(engine) as session:
        accounts = _rows(session, RmAccount, campaign_id, tenant_id)
        attempts = _rows(session, RmContactAttempt, campaign_id, tenant_id)
        payments = _rows(session, RmPayment, campaign_id, tenant_id)
    n = len(accounts)

    def rate(count: int) -> float | None:
        return count / n if n else None

    opening: dict[str, Decimal] = defaultdict(Decimal)
    collected: dict[str, Decimal] = defaultdict(Decimal)
    for account in accounts:
        opening[account.currency or "?"] += Decimal(account.opening_balance)
    for payment in payments:
        collected[payment.currency] += Decimal(payment.amount)
    by_channel: dict[str, Breakdown] = defaultdict(Breakdown)
    by_step: dict[str, Breakdown] = defaultdict(Breakdown)
    for attempt in attempts:
        if attempt.outcome == HANDED_OFF:
            continue  # a reply given to a person: no message went out
        for bucket in (by_channel[attempt.channel], by_step[attempt.step_id or "?"]):
            skipped = attempt.outcome == SKIPPED
            bucket.attempts += not skipped
            bucket.reached += attempt.outcome in REACHED
            bucket.failed += attempt.outcome == "failed"
            bucket.skipped += skipped
    _credit(attempts, payments, by_channel, by_step)
    return CampaignReport(
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        accounts=n,
        finished=sum(a.finished_at is not None for a in accounts),
        statuses=dict(Counter(a.status for a in accounts)),
        opening_balance=dict(opening),
        collected=dict(collected),
        payments=len(payments),
        contact_rate=rate(sum(a.reached for a in accounts)),
        right_party_rate=rate(sum(a.right_party for a in accounts)),
        promises_made=sum(a.promises_made for a in accounts),
        promises_kept=sum(a.promises_kept for a in accounts),
        promises_broken=sum(a.promises_broken for a in accounts),
        opt_out_rate=rate(sum(a.opted_out for a in accounts)),
        disputes=sum(a.disputed for a in accounts),
        by_channel=dict(by_channel),
        by_step=dict(by_step),
    )


def campaign_census(engine: Engine, tenant_id: str, campaign_id: str) -> Census:
    """The read model's counts of a campaign, aggregated in SQL (a portfolio's progress).

    Same definitions as ``campaign_report``; only payments are read row by row (amounts
    are decimal strings, summed exactly here).
    """
    account = (col(RmAccount.tenant_id) == tenant_id) & (col(RmAccount.campaign_id) == campaign_id)
    finished = func.sum(case((col(RmAccount.finished_at).is_not(None), 1), else_=0))
    promised = func.sum(col(RmAccount.promises_made))
    with Session(engine) as session:
        statuses = session.execute(
            sql.select(
                col(RmAccount.status),
                func.count(),
                finished,
                promised,
                func.sum(col(RmAccount.promises_kept)),
            )
            .where(account)
            .group_by(RmAccount.status)
        ).all()
        contacts = session.execute(
            sql.select(col(RmContactAttempt.channel), func.count())
            .where(col(RmContactAttempt.tenant_id) == tenant_id)
            .where(col(RmContactAttempt.campaign_id) == campaign_id)
            .where(col(RmContactAttempt.outcome).not_in((SKIPPED, HANDED_OFF)))
            .group_by(RmContactAttempt.channel)
        ).all()
        payments = session.execute(
            sql.select(col(RmPayment.currency), col(RmPayment.amount))
            .where(col(RmPayment.tenant_id) == tenant_id)
            .where(col(RmPayment.campaign_id) == campaign_id)
        ).all()
    collected: dict[str, Decimal] = defaultdict(Decimal)
    for currency, value in payments:
        collected[currency] += Decimal(value)
    return Census(
        accounts=sum(int(n) for _, n, _, _, _ in statuses),
        finished=sum(int(f or 0) for _, _, f, _, _ in statuses),
        by_status={status: int(n) for status, n, _, _, _ in statuses},
        promised=sum(int(p or 0) for _, _, _, p, _ in statuses),
        promises_kept=sum(int(k or 0) for _, _, _, _, k in statuses),
        collected=dict(collected),
        contacts={channel: int(n) for channel, n in contacts},
    )


Row = TypeVar("Row", RmAccount, RmContactAttempt, RmPayment)


def _rows(session: Session, table: type[Row], campaign_id: str, tenant_id: str | None) -> list[Row]:
    query = select(table).where(col(table.campaign_id) == campaign_id)
    if tenant_id is not None:
        query = query.where(col(table.tenant_id) == tenant_id)
    return list(session.exec(query).all())


def _credit(
    attempts: list[RmContactAttempt],
    payments: list[RmPayment],
    by_channel: dict[str, Breakdown],
    by_step: dict[str, Breakdown],
) -> None:
    """Credit each payment to the last contact that reached its account before it."""
    reached: dict[tuple[str, str | None], list[RmContactAttempt]] = defaultdict(list)
    for attempt in attempts:
        if attempt.outcome in REACHED:
            reached[(attempt.tenant_id, attempt.account_id)].append(attempt)
    for payment in payments:
        before = [
            a
            for a in reached.get((payment.tenant_id, payment.account_id), [])
            if _aware(a.at) <= _aware(payment.at)
        ]
        if not before:
            continue
        last = max(before, key=lambda a: _aware(a.at))
        amount = Decimal(payment.amount)
        by_channel[last.channel].collected += amount
        by_step[last.step_id or "?"].collected += amount


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone
