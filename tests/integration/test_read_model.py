"""The read model applies a batch of records as it would apply them one by one.

A batch is projected without a flush per record (``adapters.read_model._Rows``): rows a
record adds must be found by the records after it in the same batch, and what a whole
batch leaves must equal what one record per transaction leaves, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import Session, SQLModel, select

from adapters.event_log import EventLog
from adapters.read_model import (
    RmAccount,
    RmCampaign,
    RmContactAttempt,
    RmOutcome,
    RmPayment,
    project,
)
from domain.events import EventType, ExportRecord, Origin, event_record, message_id
from tests.portfolio_support import POSTGRES_URL

T0 = datetime(2026, 12, 1, 15, tzinfo=UTC)
TABLES: list[type[SQLModel]] = [RmCampaign, RmAccount, RmContactAttempt, RmOutcome, RmPayment]


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    url = f"sqlite:///{tmp_path / 'rm.db'}" if request.param == "sqlite" else POSTGRES_URL
    events = EventLog(url)
    events.create_tables()
    yield events
    events.dispose()


def records(tenant: str) -> list[ExportRecord]:
    """Three accounts' campaigns, interleaved as the exporter reads them from the log."""
    out: list[ExportRecord] = []
    for n, customer in enumerate(["A-1", "A-2", "A-3"]):
        origin = Origin(
            tenant_id=tenant,
            campaign_id="c-rm",
            customer_id=customer,
            workflow_id=f"account/{tenant}/{customer}",
            agent_id="campaign-workflow",
        )

        def rec(
            seq: int,
            type: EventType,
            status: str,
            meta: dict[str, Any],
            origin: Origin = origin,
            n: int = n,
        ) -> ExportRecord:
            at = T0 + timedelta(minutes=10 * seq + n)
            msg_id = message_id(tenant, str(origin.customer_id), str(seq))
            return event_record(origin, msg_id, type, status, at, meta)

        out += [
            rec(
                1,
                EventType.CAMPAIGN_PROGRESS,
                "started",
                {"playbook": "standard", "currency": "USD", "balance": "300.00", "stepsTotal": 3},
            ),
            rec(
                2,
                EventType.CUSTOMER_INTERACTION,
                "sent",
                {
                    "channel": "email",
                    "attemptId": f"account/{tenant}/{customer}/notice/email",
                    "stepId": "notice",
                },
            ),
            rec(
                3,
                EventType.CUSTOMER_INTERACTION,
                "delivered",
                {
                    "channel": "email",
                    "attemptId": f"account/{tenant}/{customer}/notice/email",
                    "stepId": "notice",
                },
            ),
            rec(4, EventType.PROMISE, "made", {"amount": "100.00"}),
            rec(
                5,
                EventType.PAYMENT,
                "received",
                {
                    "paymentId": f"p-{customer}",
                    "amount": "100.00",
                    "currency": "USD",
                    "amountPaid": "100.00",
                    "balance": "200.00",
                },
            ),
            # The same payment reported again (a retried webhook): one row.
            rec(
                6,
                EventType.PAYMENT,
                "received",
                {
                    "paymentId": f"p-{customer}",
                    "amount": "100.00",
                    "currency": "USD",
                    "amountPaid": "100.00",
                    "balance": "200.00",
                },
            ),
            rec(7, EventType.PROMISE, "kept", {}),
            rec(
                8,
                EventType.CAMPAIGN_PROGRESS,
                "completed",
                {"finalStatus": "paid", "amountCollected": "100.00", "balance": "200.00"},
            ),
        ]
    return sorted(out, key=lambda r: r.occurred_at)


def state(log: EventLog, tenant: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row of ``tenant``, without the tenant, in a stable order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with Session(log.engine) as session:
        for table in TABLES:
            rows = session.exec(select(table).where(table.tenant_id == tenant)).all()  # type: ignore[attr-defined]
            found[table.__name__] = sorted(
                tuple(
                    str(v).replace(tenant, "T")
                    for k, v in sorted(row.model_dump().items())
                    if k not in ("tenant_id", "message_id")
                )
                for row in rows
            )
    return found


def remove(log: EventLog, tenant: str) -> None:
    with Session(log.engine) as session:
        for table in TABLES:
            session.execute(delete(table).where(table.tenant_id == tenant))  # type: ignore[attr-defined]
        session.commit()


def test_a_batch_leaves_what_one_record_at_a_time_leaves(log: EventLog) -> None:
    whole, single = f"rm-{uuid.uuid4().hex[:8]}", f"rm-{uuid.uuid4().hex[:8]}"
    try:
        with Session(log.engine) as session:
            project(session, records(whole))
            session.commit()
        for record in records(single):
            with Session(log.engine) as session:
                project(session, [record])
                session.commit()
        batched, one_by_one = state(log, whole), state(log, single)
        assert batched == one_by_one
        assert len(batched["RmAccount"]) == 3 and len(batched["RmPayment"]) == 3
        assert len(batched["RmContactAttempt"]) == 3  # sent, then delivered: one attempt
        with Session(log.engine) as session:
            accounts = session.exec(select(RmAccount).where(RmAccount.tenant_id == whole)).all()
            attempts = session.exec(
                select(RmContactAttempt).where(RmContactAttempt.tenant_id == whole)
            ).all()
        assert {
            (a.status, a.amount_paid, a.balance, a.promises_made, a.promises_kept) for a in accounts
        } == {("paid", "100.00", "200.00", 1, 1)}
        assert {a.outcome for a in attempts} == {"delivered"}
    finally:
        remove(log, whole)
        remove(log, single)


def test_each_promise_ends_once_kept_or_broken(log: EventLog) -> None:
    """A campaign reports "kept" on every payment while a promise is open, and "broken"
    when its day passes still promised: two payments in part and then the day passing
    are one promise kept, not two kept and one broken (docs/metrics.md)."""
    tenant = f"rm-{uuid.uuid4().hex[:8]}"
    origin = Origin(
        tenant_id=tenant,
        campaign_id="c-promises",
        customer_id="A-1",
        workflow_id=f"account/{tenant}/A-1",
        agent_id="campaign-workflow",
    )
    said = ["made", "kept", "kept", "broken", "made", "broken", "kept", "made"]
    batch = [
        event_record(
            origin,
            message_id(tenant, "A-1", str(n)),
            EventType.PROMISE,
            status,
            T0 + timedelta(minutes=n),
            {},
        )
        for n, status in enumerate(said)
    ]
    try:
        with Session(log.engine) as session:
            project(session, batch)
            session.commit()
        with Session(log.engine) as session:
            [account] = session.exec(select(RmAccount).where(RmAccount.tenant_id == tenant)).all()
        # Three made: the first kept, the second broken, the third still open.
        assert (account.promises_made, account.promises_kept, account.promises_broken) == (3, 1, 1)
    finally:
        remove(log, tenant)
