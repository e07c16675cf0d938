"""The messaging seed's command and event messages, as consumers receive them.

These models are the published contract (``docs/schemas/``). They are written to
accept every message the seed's JSON Schemas accept, so a producer that follows
the seed can share a topic with Recoup: extra properties are allowed at every
level, and where the seed's schema constrains nothing (its ``retryPolicy`` and
``performance`` list properties without a ``properties`` keyword, which JSON
Schema ignores) any JSON value is accepted. What Recoup itself emits is stricter
(``domain.events`` builds it) and also valid under the seed's schemas.

Field names are the seed's camelCase on the wire; Python code uses snake_case.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    # Extra properties are allowed (the seed allows them) and survive a round trip.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def wire(self) -> dict[str, Any]:
        """The JSON object as it goes on the wire: camelCase, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_wire(cls, body: str | bytes) -> Self:
        """Parse a message off the wire by its camelCase names only.

        Python code may build models by field name; a consumer must not, or another
        producer's extra property ``campaign_id`` would be read as ``campaignId``.
        """
        return cls.model_validate_json(body, by_name=False)


class CommandType(StrEnum):
    SEND_EMAIL = "SEND_EMAIL"
    MAKE_CALL = "MAKE_CALL"
    SEND_SMS = "SEND_SMS"
    ESCALATE = "ESCALATE"
    # Recoup's own: the seed has no letters (docs/events.md, "Commands").
    SEND_LETTER = "SEND_LETTER"


class CommandPriority(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class BackoffStrategy(StrEnum):
    """The seed names FIXED and EXPONENTIAL; its SMS agent retries linearly, so LINEAR too."""

    FIXED = "FIXED"
    EXPONENTIAL = "EXPONENTIAL"
    LINEAR = "LINEAR"


class RetryPolicySpec(_Wire):
    max_retries: int | None = None
    backoff_strategy: BackoffStrategy | None = None


class Performance(_Wire):
    response_time: float | None = Field(default=None, description="Milliseconds.")
    memory_usage: float | None = Field(default=None, description="Bytes.")
    cpu_usage: float | None = Field(default=None, description="Seconds of CPU.")


class Correlation(_Wire):
    conversation_id: str | None = None
    workflow_id: str | None = None
    parent_message_id: str | None = None
    original_command_id: str | None = None
    trace_id: str | None = Field(default=None, description="Recoup: the X-Trace-ID header.")


class Command(_Wire):
    type: CommandType
    campaign_id: str
    customer_id: str
    priority: CommandPriority | None = None
    scheduled_for: datetime | None = None
    context: dict[str, Any] | None = None
    # The seed's schema for it constrains nothing; Recoup sends a RetryPolicySpec.
    retry_policy: RetryPolicySpec | JsonValue = None


class CommandMessage(_Wire):
    """An agent command (seed: "Agent Command Schema")."""

    message_id: UUID
    message_type: Literal["COMMAND"] = "COMMAND"
    timestamp: datetime
    source: str
    target: str
    command: Command
    correlation: Correlation | None = None


class Event(_Wire):
    type: str = Field(description="One of EventType for Recoup's events; any string is accepted.")
    campaign_id: str | None = None
    customer_id: str | None = None
    status: str
    metadata: dict[str, Any] | None = None
    # The seed's schema for it constrains nothing; Recoup sends a Performance.
    performance: Performance | JsonValue = None


class EventMessage(_Wire):
    """An agent event (seed: "Agent Event Schema")."""

    message_id: UUID
    message_type: Literal["EVENT"] = "EVENT"
    timestamp: datetime
    source: str
    event: Event
    correlation: Correlation | None = None
