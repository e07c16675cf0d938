"""The SQL read model: what campaigns did, in tables an analyst or the CRM can query.

It is a projection of the event log, built by the exporter like any other sink:
each batch is applied in the same transaction that moves the ``sql`` cursor, so
every record is applied exactly once even when two exporters run. Tables:

- ``rm_campaigns``: one row per campaign (first/last event);
- ``rm_accounts``: one row per account and campaign: status, balances, whether it
  was reached, spoke to us (right-party contact), promised, opted out;
- ``rm_contact_attempts``: one row per attempt: step, channel, outcome;
- ``rm_outcomes``: replies, promises, disputes, opt-outs, the final result;
- ``rm_payments``: one row per payment;
- ``rm_agent_messages``: every agent envelope (protocol seed), for audit.

Amounts are stored as decimal strings and summed with ``Decimal``: SQLite has no
exact decimal type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, Session, SQLModel

from domain.events import EventType, ExportRecord, RecordKind

REACHED = {"sent", "delivered", "voicemail", "conversation"}
# Rows of ``rm_contact_attempts`` that are not contact attempts (docs/metrics.md): a step
# skipped, and a reply handed to a person ("needs_operator", no message sent).
SKIPPED = "skipped"
HANDED_OFF = "needs_operator"


def _at() -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RmCampaign(SQLModel, table=True):
    __tablename__ = "rm_campaigns"

    tenant_id: str = Field(primary_key=True, max_length=128)
    campaign_id: str = Field(primary_key=True, max_length=128)
    first_event_at: datetime = _at()
    last_event_at: datetime = _at()


class RmAccount(SQLModel, table=True):
    __tablename__ = "rm_accounts"

    tenant_id: str = Field(primary_key=True, max_length=128)
    campaign_id: str = Field(primary_key=True, max_length=128)
    account_id: str = Field(primary_key=True, max_length=128)
    workflow_id: str | None = Field(default=None, max_length=300)
    playbook: str | None = Field(default=None, max_length=128)
    status: str = Field(default="scheduled", max_length=32, index=True)
    currency: str | None = Field(default=None, max_length=3)
    opening_balance: str = Field(default="0", max_length=32)
    balance: str = Field(default="0", max_length=32)
    amount_paid: str = Field(default="0", max_length=32)
    steps_total: int = 0
    steps_done: int = 0
    reached: bool = False
    right_party: bool = False
    opted_out: bool = False
    disputed: bool = False
    promises_made: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class RmContactAttempt(SQLModel, table=True):
    __tablename__ = "rm_contact_attempts"

    attempt_id: str = Field(primary_key=True, max_length=300)
    tenant_id: str = Field(max_length=128, index=True)
    campaign_id: str | None = Field(default=None, max_length=128, index=True)
    account_id: str | None = Field(default=None, max_length=128)
    step_id: str | None = Field(default=None, max_length=128)
    channel: str = Field(max_length=16)
    outcome: str = Field(max_length=32)
    at: datetime = _at()
    response_ms: float | None = None
    detail: str | None = Field(default=None, max_length=300)


class RmOutcome(SQLModel, table=True):
    __tablename__ = "rm_outcomes"

    message_id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=128, index=True)
    campaign_id: str | None = Field(default=None, max_length=128, index=True)
    account_id: str | None = Field(default=None, max_length=128)
    kind: str = Field(max_length=32)
    status: str = Field(max_length=32)
    at: datetime = _at()
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class RmPayment(SQLModel, table=True):
    __tablename__ = "rm_payments"

    tenant_id: str = Field(primary_key=True, max_length=128)
    payment_id: str = Field(primary_key=True, max_length=128)
    campaign_id: str | None = Field(default=None, max_length=128, index=True)
    account_id: str | None = Field(default=None, max_length=128)
    amount: str = Field(max_length=32)
    currency: str = Field(max_length=3)
    at: datetime = _at()


class RmAgentMessage(SQLModel, table=True):
    __tablename__ = "rm_agent_messages"

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=128, index=True)
    campaign_id: str | None = Field(default=None, max_length=128, index=True)
    account_id: str | None = Field(default=None, max_length=128)
    type: str = Field(max_length=16)
    from_agent: str = Field(max_length=128)
    to: str = Field(max_length=300)
    routing: str = Field(max_length=16)
    action: str = Field(max_length=64)
    priority: str = Field(max_length=16)
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _at()
    body: str = Field(sa_column=Column(Text, nullable=False))


OUTCOME_KIND = {
    EventType.PROMISE: "promise",
    EventType.DISPUTE: "dispute",
    EventType.OPT_OUT: "opt_out",
}


Row = TypeVar("Row", bound=SQLModel)


class _Rows:
    """The rows one batch reads and adds, by primary key.

    A row the batch added is found here by the records after it, so a batch is applied
    without a flush per record: one flush at its end writes every change at once (one
    INSERT per table for the new rows). A row not seen yet is read once, with autoflush off (the
    batch's own rows are here, never in the database yet).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[tuple[type[SQLModel], Any], SQLModel | None] = {}

    def get(self, model: type[Row], key: Any) -> Row | None:
        if (model, key) not in self._rows:
            with self.session.no_autoflush:
                self._rows[(model, key)] = self.session.get(model, key)
        return cast("Row | None", self._rows[(model, key)])

    def add(self, model: type[Row], key: Any, row: Row) -> Row:
        self._rows[(model, key)] = row
        self.session.add(row)
        return row


def project(session: Session, records: Sequence[ExportRecord]) -> None:
    """Apply ``records`` (in log order) to the read model in ``session`` (not committed)."""
    rows = _Rows(session)
    for record in records:
        if record.kind is RecordKind.AGENT_MESSAGE:
            _agent_message(rows, record)
        elif record.kind is RecordKind.EVENT and record.campaign_id and record.customer_id:
            _campaign(rows, record)
            _event(rows, record)
    # Once per batch, so that a later batch in the same session finds these rows.
    session.flush()


def _campaign(rows: _Rows, record: ExportRecord) -> None:
    assert record.campaign_id is not None
    key = (record.tenant_id, record.campaign_id)
    row = rows.get(RmCampaign, key) or rows.add(
        RmCampaign,
        key,
        RmCampaign(
            tenant_id=record.tenant_id,
            campaign_id=record.campaign_id,
            first_event_at=record.occurred_at,
            last_event_at=record.occurred_at,
        ),
    )
    row.last_event_at = max(_aware(row.last_event_at), record.occurred_at)


def _account(rows: _Rows, record: ExportRecord) -> RmAccount:
    assert record.campaign_id is not None and record.customer_id is not None
    key = (record.tenant_id, record.campaign_id, record.customer_id)
    return rows.get(RmAccount, key) or rows.add(
        RmAccount,
        key,
        RmAccount(
            tenant_id=record.tenant_id,
            campaign_id=record.campaign_id,
            account_id=record.customer_id,
        ),
    )


def _event(rows: _Rows, record: ExportRecord) -> None:
    meta, status = record.metadata, record.status or ""
    account = _account(rows, record)
    try:
        type = EventType(record.type)
    except ValueError:
        return  # a type this version does not project: it stays in the event log
    if type is EventType.CAMPAIGN_PROGRESS:
        _progress(account, record, status, meta)
    elif type is EventType.CUSTOMER_INTERACTION:
        _interaction(rows, account, record, status, meta)
    elif type is EventType.PAYMENT:
        _payment(rows, account, record, meta)
    elif type in OUTCOME_KIND:
        _outcome(rows, record, OUTCOME_KIND[type], status, meta)
        if type is EventType.PROMISE:
            _promise(account, status)
        elif type is EventType.DISPUTE:
            account.disputed = status == "opened" or account.disputed
            account.right_party = True
        else:
            account.opted_out = True


def _promise(account: RmAccount, status: str) -> None:
    """Each promise made ends once, kept or broken (docs/metrics.md): a campaign reports
    "kept" on every payment while a promise is open, and "broken" when its day passes
    with the status still promised (after a payment in part, too); only the first end of
    each promise counts."""
    if status == "made":
        account.promises_made += 1
        account.right_party = True
    elif account.promises_kept + account.promises_broken >= account.promises_made:
        return  # this promise has ended already
    elif status == "kept":
        account.promises_kept += 1
    elif status == "broken":
        account.promises_broken += 1


def _progress(account: RmAccount, record: ExportRecord, status: str, meta: dict[str, Any]) -> None:
    if status == "started":
        account.workflow_id = record.conversation_id
        account.playbook = meta.get("playbook")
        account.currency = meta.get("currency")
        account.opening_balance = account.balance = str(meta.get("balance", "0"))
        account.steps_total = int(meta.get("stepsTotal", 0))
        account.started_at = record.occurred_at
    elif status == "completed":
        account.status = str(meta.get("finalStatus", account.status))
        account.amount_paid = str(meta.get("amountCollected", account.amount_paid))
        account.balance = str(meta.get("balance", account.balance))
        account.finished_at = record.occurred_at
    else:
        account.status = status
        account.balance = str(meta.get("balance", account.balance))
        account.amount_paid = str(meta.get("amountPaid", account.amount_paid))
        account.steps_done = int(meta.get("stepsDone", account.steps_done))


def _interaction(
    rows: _Rows, account: RmAccount, record: ExportRecord, status: str, meta: dict[str, Any]
) -> None:
    if meta.get("direction") == "inbound":
        account.right_party = True
        _outcome(rows, record, "reply", str(meta.get("intent", "other")), meta)
        return
    attempt_id = str(meta.get("attemptId") or record.message_id)
    row = rows.get(RmContactAttempt, attempt_id) or rows.add(
        RmContactAttempt,
        attempt_id,
        RmContactAttempt(
            attempt_id=attempt_id,
            tenant_id=record.tenant_id,
            campaign_id=record.campaign_id,
            account_id=record.customer_id,
            channel=str(meta.get("channel", "")),
            outcome=status,
            at=record.occurred_at,
        ),
    )
    row.step_id = meta.get("stepId")
    row.outcome = status
    detail = meta.get("detail") or meta.get("reason")
    row.detail = str(detail)[:300] if detail else None
    performance = (record.body.get("event") or {}).get("performance") or {}
    if isinstance(performance, dict) and performance.get("responseTime") is not None:
        row.response_ms = float(performance["responseTime"])
    if status in REACHED:
        account.reached = True
    if status == "conversation":
        account.right_party = True


def _payment(rows: _Rows, account: RmAccount, record: ExportRecord, meta: dict[str, Any]) -> None:
    payment_id = str(meta.get("paymentId", record.message_id))
    key = (record.tenant_id, payment_id)
    if rows.get(RmPayment, key) is None:
        rows.add(
            RmPayment,
            key,
            RmPayment(
                tenant_id=record.tenant_id,
                payment_id=payment_id,
                campaign_id=record.campaign_id,
                account_id=record.customer_id,
                amount=str(meta.get("amount", "0")),
                currency=str(meta.get("currency", "")),
                at=record.occurred_at,
            ),
        )
    account.amount_paid = str(meta.get("amountPaid", account.amount_paid))
    account.balance = str(meta.get("balance", account.balance))


def _outcome(
    rows: _Rows, record: ExportRecord, kind: str, status: str, meta: dict[str, Any]
) -> None:
    if rows.get(RmOutcome, record.message_id) is None:
        rows.add(
            RmOutcome,
            record.message_id,
            RmOutcome(
                message_id=record.message_id,
                tenant_id=record.tenant_id,
                campaign_id=record.campaign_id,
                account_id=record.customer_id,
                kind=kind,
                status=status,
                at=record.occurred_at,
                detail=json.dumps(meta, sort_keys=True),
            ),
        )


def _agent_message(rows: _Rows, record: ExportRecord) -> None:
    if rows.get(RmAgentMessage, record.message_id) is not None:
        return
    body = record.body
    rows.add(
        RmAgentMessage,
        record.message_id,
        RmAgentMessage(
            id=record.message_id,
            tenant_id=record.tenant_id,
            campaign_id=record.campaign_id,
            account_id=record.customer_id,
            type=str(body.get("type", "")),
            from_agent=str((body.get("from_agent") or {}).get("agent_id", record.agent_id)),
            to=str(body.get("to", "")),
            routing=str(body.get("routing", "")),
            action=record.type,
            priority=str(body.get("priority", "normal")),
            content=str(body.get("content", "")),
            created_at=record.occurred_at,
            body=json.dumps(body, sort_keys=True),
        ),
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone
