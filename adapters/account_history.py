"""An account's long-term history across every campaign, read from the SQL read model.

What the research agent needs to know about a debtor before a touch: the payments
(``rm_payments``), every contact attempt and whether it reached them
(``rm_contact_attempts``), their replies, promises, disputes and opt-outs
(``rm_outcomes``), for one (tenant, account), whatever campaign it was in. Synchronous
SQLAlchemy like the other stores: callers in the event loop use ``asyncio.to_thread``.

The read model is a projection kept by the exporter, so it can lag the campaigns by
a batch or two; a brief is advice, and a few seconds' lag does not change it.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from adapters.read_model import REACHED, RmAccount, RmContactAttempt, RmOutcome, RmPayment
from adapters.schema import migrate
from adapters.sql import make_engine
from domain.channels import Channel

# A skipped step was never a contact: the gate or a missing address stopped it.
_NOT_CONTACTS = ("skipped",)


class PastActivity(BaseModel):
    """Counts and latest moments of an account's history; amounts by currency."""

    payments: int = 0
    paid: dict[str, Decimal] = Field(default_factory=dict)
    last_payment_at: datetime | None = None
    contacts: dict[Channel, int] = Field(default_factory=dict)
    reached: dict[Channel, int] = Field(default_factory=dict)
    replies: int = 0
    last_reply_intent: str | None = None
    last_reply_at: datetime | None = None
    promises_made: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    disputes: int = 0
    opt_outs: list[Channel] = Field(default_factory=list)
    campaigns: int = 0


class AccountHistory:
    """Reads ``PastActivity`` for one account from the read model at ``database_url``."""

    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only this)."""
        migrate(self._engine)

    def dispose(self) -> None:
        self._engine.dispose()

    def load(self, tenant_id: str, account_id: str) -> PastActivity:
        with Session(self._engine) as session:
            history = PastActivity()
            self._payments(session, tenant_id, account_id, history)
            self._contacts(session, tenant_id, account_id, history)
            self._outcomes(session, tenant_id, account_id, history)
            history.campaigns = session.exec(
                select(func.count()).where(
                    RmAccount.tenant_id == tenant_id, RmAccount.account_id == account_id
                )
            ).one()
            return history

    def _payments(
        self, session: Session, tenant_id: str, account_id: str, history: PastActivity
    ) -> None:
        rows = session.exec(
            select(RmPayment.amount, RmPayment.currency, RmPayment.at).where(
                RmPayment.tenant_id == tenant_id, RmPayment.account_id == account_id
            )
        ).all()
        paid: dict[str, Decimal] = {}
        for amount, currency, at in rows:
            # Amounts are decimal strings (SQLite has no exact decimal): summed here.
            paid[currency] = paid.get(currency, Decimal(0)) + Decimal(amount)
            history.last_payment_at = _latest(history.last_payment_at, at)
        history.payments = len(rows)
        history.paid = paid

    def _contacts(
        self, session: Session, tenant_id: str, account_id: str, history: PastActivity
    ) -> None:
        rows = session.exec(
            select(RmContactAttempt.channel, RmContactAttempt.outcome, func.count())
            .where(
                RmContactAttempt.tenant_id == tenant_id,
                RmContactAttempt.account_id == account_id,
                col(RmContactAttempt.outcome).not_in(_NOT_CONTACTS),
            )
            .group_by(col(RmContactAttempt.channel), col(RmContactAttempt.outcome))
        ).all()
        contacts: Counter[Channel] = Counter()
        reached: Counter[Channel] = Counter()
        for raw_channel, outcome, count in rows:
            channel = _channel(raw_channel)
            if channel is None:
                continue
            contacts[channel] += count
            if outcome in REACHED:
                reached[channel] += count
        history.contacts = dict(contacts)
        history.reached = dict(reached)

    def _outcomes(
        self, session: Session, tenant_id: str, account_id: str, history: PastActivity
    ) -> None:
        rows = session.exec(
            select(RmOutcome.kind, RmOutcome.status, RmOutcome.at, RmOutcome.detail)
            .where(RmOutcome.tenant_id == tenant_id, RmOutcome.account_id == account_id)
            .order_by(col(RmOutcome.at))
        ).all()
        opt_outs: list[Channel] = []
        for kind, status, at, detail in rows:
            if kind == "reply":
                history.replies += 1
                # Oldest first: the last one seen is the latest.
                history.last_reply_intent = status
                history.last_reply_at = _aware(at)
            elif kind == "promise":
                if status == "made":
                    history.promises_made += 1
                elif status == "kept":
                    history.promises_kept += 1
                elif status == "broken":
                    history.promises_broken += 1
            elif kind == "dispute" and status == "opened":
                history.disputes += 1
            elif kind == "opt_out":
                channel = _channel(_detail(detail).get("channel"))
                if channel is not None and channel not in opt_outs:
                    opt_outs.append(channel)
        history.opt_outs = opt_outs


def _channel(value: object) -> Channel | None:
    try:
        return Channel(str(value))
    except ValueError:
        return None


def _detail(raw: str) -> dict[str, object]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    moment = _aware(candidate)
    return moment if current is None or moment > current else current
