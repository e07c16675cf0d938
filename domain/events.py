"""What leaves the system: every decision as an export record, and where it goes.

A workflow (or an agent) builds an ``ExportRecord``: the seed-format message
(``domain.messages``) or agent envelope (``domain.agent_messages``) as its body,
plus what routing and tracing need. Its ``message_id`` is derived
deterministically from where it was made (the workflow run and a sequence number,
or the contact attempt id), so a retried export or a replayed workflow produces
the same id and consumers can drop duplicates.

Routing onto the sinks (``docs/events.md`` has the table):

- Kafka topic by event type (``TOPIC``), keyed by customer id so one customer's
  events stay in one partition and in order;
- RabbitMQ: events to the topic exchange with routing key ``tenant.EventType``,
  commands to the direct exchange with the target agent as routing key, broadcasts
  to the fanout exchange;
- Redis stream by type (``STREAM``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.agent_messages import AgentMessage
from domain.messages import (
    Command,
    CommandMessage,
    CommandPriority,
    Correlation,
    Event,
    EventMessage,
    Performance,
    RetryPolicySpec,
)

# Fixed forever: message ids of past events must stay reproducible.
MESSAGE_NAMESPACE = uuid.UUID("5b0f6a52-3c1e-4d0b-9a57-7f1c2a1e0b11")
SPEC_VERSION = "1.0"
SOURCE = "recoup"


def message_id(*parts: str) -> str:
    """A UUID derived from ``parts``: the same parts give the same id, on any machine."""
    return str(uuid.uuid5(MESSAGE_NAMESPACE, "/".join(parts)))


def trace_id_for(workflow_id: str) -> str:
    """The default X-Trace-ID of a campaign (W3C: 32 hex digits) when no caller set one."""
    return uuid.uuid5(MESSAGE_NAMESPACE, f"trace/{workflow_id}").hex


class EventType(StrEnum):
    # The seed's four.
    CUSTOMER_INTERACTION = "CustomerInteractionEvent"
    AGENT_STATUS = "AgentStatusEvent"
    CAMPAIGN_PROGRESS = "CampaignProgressEvent"
    COMPLIANCE_AUDIT = "ComplianceAuditEvent"
    # What Recoup needs besides.
    PAYMENT = "PaymentEvent"
    PROMISE = "PromiseEvent"
    DISPUTE = "DisputeEvent"
    OPT_OUT = "OptOutEvent"
    DEAD_LETTER = "DeadLetterEvent"
    BREAKER_CHANGE = "BreakerStateEvent"


class RecordKind(StrEnum):
    EVENT = "event"
    COMMAND = "command"
    AGENT_MESSAGE = "agent_message"


class Topic(StrEnum):
    """The seed's Kafka topics."""

    CUSTOMER_EVENTS = "customer-events"
    AGENT_METRICS = "agent-metrics"
    AUDIT_LOGS = "audit-logs"
    CAMPAIGN_EVENTS = "campaign-events"


class Stream(StrEnum):
    """The seed's Redis streams."""

    AGENT_STATES = "agent-states"
    CUSTOMER_CONTEXT = "customer-context"
    CONVERSATION_THREADS = "conversation-threads"


TOPIC: dict[EventType, Topic] = {
    EventType.CUSTOMER_INTERACTION: Topic.CUSTOMER_EVENTS,
    EventType.PAYMENT: Topic.CUSTOMER_EVENTS,
    EventType.PROMISE: Topic.CUSTOMER_EVENTS,
    EventType.DISPUTE: Topic.CUSTOMER_EVENTS,
    EventType.OPT_OUT: Topic.CUSTOMER_EVENTS,
    EventType.AGENT_STATUS: Topic.AGENT_METRICS,
    EventType.BREAKER_CHANGE: Topic.AGENT_METRICS,
    EventType.COMPLIANCE_AUDIT: Topic.AUDIT_LOGS,
    EventType.CAMPAIGN_PROGRESS: Topic.CAMPAIGN_EVENTS,
    EventType.DEAD_LETTER: Topic.CAMPAIGN_EVENTS,
}

STREAM: dict[EventType, Stream] = {
    EventType.AGENT_STATUS: Stream.AGENT_STATES,
    EventType.BREAKER_CHANGE: Stream.AGENT_STATES,
    EventType.CUSTOMER_INTERACTION: Stream.CONVERSATION_THREADS,
}


class ExportRecord(BaseModel):
    """One message on its way out, as stored in the event log and carried in payloads."""

    message_id: str
    kind: RecordKind
    type: str = Field(description="EventType, CommandType, or the agent message's action.")
    tenant_id: str
    campaign_id: str | None = None
    customer_id: str | None = None
    occurred_at: datetime
    agent_id: str = Field(description="X-Agent-ID: the agent (or workflow) that decided it.")
    trace_id: str | None = None
    conversation_id: str | None = None
    routing: str | None = Field(default=None, description="Agent messages: the seed's routing.")
    target: str | None = Field(default=None, description="Commands: the target agent.")
    body: dict[str, Any] = Field(description="The wire message (seed format or envelope).")

    @property
    def key(self) -> str:
        """Partition key: the customer, so one customer's messages stay in order."""
        return self.customer_id or self.tenant_id

    @property
    def topic(self) -> Topic:
        if self.kind is RecordKind.EVENT:
            return TOPIC.get(_event_type(self.type), Topic.CAMPAIGN_EVENTS)
        return Topic.CAMPAIGN_EVENTS

    @property
    def stream(self) -> Stream:
        if self.kind is RecordKind.AGENT_MESSAGE:
            return Stream.CONVERSATION_THREADS
        if self.kind is RecordKind.EVENT:
            return STREAM.get(_event_type(self.type), Stream.CUSTOMER_CONTEXT)
        return Stream.CUSTOMER_CONTEXT

    @property
    def broadcast(self) -> bool:
        return self.kind is RecordKind.AGENT_MESSAGE and self.routing == "broadcast"

    @property
    def status(self) -> str | None:
        event = self.body.get("event")
        return event.get("status") if isinstance(event, dict) else None

    @property
    def metadata(self) -> dict[str, Any]:
        event = self.body.get("event")
        meta = event.get("metadata") if isinstance(event, dict) else None
        return meta if isinstance(meta, dict) else {}

    def headers(self) -> dict[str, str]:
        """The seed's trace headers."""
        found = {
            "X-Trace-ID": self.trace_id,
            "X-Conversation-ID": self.conversation_id,
            "X-Campaign-ID": self.campaign_id,
            "X-Agent-ID": self.agent_id,
            "X-Tenant-ID": self.tenant_id,
        }
        return {name: value for name, value in found.items() if value}

    def cloudevent(self) -> dict[str, str]:
        """CloudEvents 1.0 context attributes (each sink adds its binding's prefix)."""
        attrs = {
            "specversion": SPEC_VERSION,
            "id": self.message_id,
            "source": f"/{SOURCE}/{self.tenant_id}/{self.agent_id}",
            "type": f"io.recoup.{self.kind.value}.{self.type}",
            "time": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "dataschema": f"urn:recoup:schema:{SCHEMA_OF[self.kind]}",
        }
        if self.customer_id:
            attrs["subject"] = self.customer_id
        if self.trace_id:
            attrs["traceparent"] = f"00-{self.trace_id}-{self.message_id.replace('-', '')[:16]}-01"
        return attrs


SCHEMA_OF = {
    RecordKind.EVENT: "event-message",
    RecordKind.COMMAND: "command-message",
    RecordKind.AGENT_MESSAGE: "agent-message",
}


def _event_type(value: str) -> EventType:
    try:
        return EventType(value)
    except ValueError:
        return EventType.CAMPAIGN_PROGRESS


class Origin(BaseModel):
    """Who is emitting, about whom: shared by every record one workflow or agent makes."""

    tenant_id: str
    campaign_id: str | None = None
    customer_id: str | None = None
    workflow_id: str | None = None
    agent_id: str
    trace_id: str | None = None

    @property
    def conversation_id(self) -> str | None:
        # One conversation per debt and campaign: the account workflow.
        return self.workflow_id


def event_record(
    origin: Origin,
    msg_id: str,
    type: EventType,
    status: str,
    at: datetime,
    metadata: dict[str, Any] | None = None,
    performance: Performance | None = None,
    original_command_id: str | None = None,
) -> ExportRecord:
    message = EventMessage(
        message_id=uuid.UUID(msg_id),
        timestamp=at,
        source=origin.agent_id,
        event=Event(
            type=type.value,
            campaign_id=origin.campaign_id,
            customer_id=origin.customer_id,
            status=status,
            metadata=_without_nulls(metadata),
            performance=performance,
        ),
        correlation=Correlation(
            conversation_id=origin.conversation_id,
            workflow_id=origin.workflow_id,
            original_command_id=original_command_id,
            trace_id=origin.trace_id,
        ),
    )
    return _record(origin, msg_id, RecordKind.EVENT, type.value, at, message.wire())


def _without_nulls(value: Any) -> Any:
    """``value`` with every null dropped, however deep: the seed's schemas type every
    field they name, and a consumer should not have to tell null from absent."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def command_record(
    origin: Origin,
    msg_id: str,
    command: Command,
    target: str,
    at: datetime,
    parent_message_id: str | None = None,
) -> ExportRecord:
    message = CommandMessage(
        message_id=uuid.UUID(msg_id),
        timestamp=at,
        source=origin.agent_id,
        target=target,
        command=command,
        correlation=Correlation(
            conversation_id=origin.conversation_id,
            workflow_id=origin.workflow_id,
            parent_message_id=parent_message_id,
            trace_id=origin.trace_id,
        ),
    )
    body = _without_nulls(message.wire())
    record = _record(origin, msg_id, RecordKind.COMMAND, command.type.value, at, body)
    return record.model_copy(update={"target": target})


def agent_message_record(origin: Origin, message: AgentMessage) -> ExportRecord:
    record = _record(
        origin,
        message.id,
        RecordKind.AGENT_MESSAGE,
        message.action,
        message.created_at,
        _without_nulls(message.model_dump(mode="json", exclude_none=True)),
    )
    return record.model_copy(update={"routing": message.routing, "target": message.to})


def _record(
    origin: Origin, msg_id: str, kind: RecordKind, type: str, at: datetime, body: dict[str, Any]
) -> ExportRecord:
    return ExportRecord(
        message_id=msg_id,
        kind=kind,
        type=type,
        tenant_id=origin.tenant_id,
        campaign_id=origin.campaign_id,
        customer_id=origin.customer_id,
        occurred_at=at,
        agent_id=origin.agent_id,
        trace_id=origin.trace_id,
        conversation_id=origin.conversation_id,
        body=body,
    )


def amount(value: Decimal) -> str:
    """Money on the wire: a decimal string with cents (``"0.00"``, never ``"0"``)."""
    return f"{value:.2f}"


def priority_for(account_priority: int | None) -> CommandPriority:
    """The seed's command priority from the account's 1 (most urgent) to 5."""
    if account_priority is None:
        return CommandPriority.MEDIUM
    return {1: CommandPriority.CRITICAL, 2: CommandPriority.HIGH, 3: CommandPriority.MEDIUM}.get(
        account_priority, CommandPriority.LOW
    )


class EventBatch(BaseModel):
    """The single input of the export activity: records in the order they were made."""

    records: list[ExportRecord]


class ExportContext(BaseModel):
    """Carried by a contact command so its agent exports the workflow's pending records
    and its own outcome in the same activity (no extra Temporal action per touch)."""

    origin: Origin
    step_id: str
    command_id: str = Field(description="The SEND_* command this contact carries out.")
    pending: list[ExportRecord] = Field(default_factory=list)


def interaction_record(
    context: ExportContext,
    attempt_id: str,
    channel: str,
    outcome: str,
    at: datetime,
    provider_ref: str | None = None,
    detail: str | None = None,
    response_ms: float | None = None,
    composed_by: str | None = None,
    compose_fallback: str | None = None,
) -> ExportRecord:
    """The outcome of one contact attempt. The agent emits it when the attempt ends
    with a result, the workflow when it failed for good: same id either way.

    ``composed_by`` ("llm" or "template") and ``compose_fallback`` (why the model's
    text was not sent) say who wrote the message."""
    metadata: dict[str, Any] = {
        "attemptId": attempt_id,
        "stepId": context.step_id,
        "channel": channel,
        "direction": "outbound",
    }
    if provider_ref:
        metadata["providerRef"] = provider_ref
    if detail:
        metadata["detail"] = detail[:300]
    if composed_by:
        metadata["composedBy"] = composed_by
    if compose_fallback:
        metadata["composeFallback"] = compose_fallback[:300]
    return event_record(
        context.origin.model_copy(update={"agent_id": f"{channel}-agent"}),
        message_id(attempt_id, "interaction"),
        EventType.CUSTOMER_INTERACTION,
        outcome,
        at,
        metadata,
        performance=None if response_ms is None else Performance(response_time=response_ms),
        original_command_id=context.command_id,
    )


__all__ = [
    "EventBatch",
    "EventType",
    "ExportContext",
    "ExportRecord",
    "Origin",
    "RecordKind",
    "RetryPolicySpec",
    "Stream",
    "Topic",
    "agent_message_record",
    "command_record",
    "event_record",
    "interaction_record",
    "message_id",
]
