"""The protocol seed's agent-message envelope: routable, auditable, natural-language content.

An agent that hands work or context to another (the phone agent's failed call to
the SMS agent, any agent to the supervisor, an operator's broadcast to a whole
portfolio) says so in an ``AgentMessage``. How each routing and mode maps onto
Temporal and the sinks is in ``docs/events.md``:

- ``direct`` (``to: "account/acme/A-1"``): a signal or update to that one workflow;
- ``role`` (``to: "@sms"``): the role's task queue (``sms-tasks``);
- ``broadcast`` (``to: "@all"``): every account of a portfolio, through its workflow;
- ``topic`` (``to: "#customer-context"``): a stream that subscribers read.

Every envelope is persisted (the SQL read model's ``agent_messages``) and exported
to the live stream, whichever route it took.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MessageKind = Literal["request", "response", "broadcast", "notification"]
Routing = Literal["direct", "role", "broadcast", "topic"]
AgentPriority = Literal["low", "normal", "high", "urgent"]


class MessageMode(StrEnum):
    """How the sender waits (protocol seed), and what it is on Temporal."""

    SYNC = "sync"  # a workflow update: the caller awaits the result (< 30 s)
    ASYNC = "async"  # an activity on the role's task queue: the result comes back later
    FIRE_AND_FORGET = "fire"  # a signal: no response expected
    STREAM = "stream"  # exported events on a topic/stream: continuous updates


class AgentIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    agent_id: str = Field(description="e.g. 'phone-agent', 'supervisor', 'operator:jane'.")
    role: str = Field(description="e.g. 'phone', 'sms', 'email', 'research', 'supervisor'.")


class Attachment(BaseModel):
    """A reference, not the thing: payloads stay small (a transcript is a URI)."""

    name: str
    media_type: str = "application/json"
    uri: str | None = None
    data: dict[str, object] | None = Field(default=None, description="Small structured facts.")


class AgentMessage(BaseModel):
    id: str = Field(description="UUID, derived deterministically by the sending workflow.")
    type: MessageKind
    from_agent: AgentIdentity
    to_agent: AgentIdentity | None = Field(default=None, description="None for a broadcast.")
    to: str = Field(description="'agent-id', '@role', '@all' or '#topic' (the seed's syntax).")
    routing: Routing
    mode: MessageMode = MessageMode.FIRE_AND_FORGET
    action: str = Field(description="e.g. 'task_handoff', 'request_guidance', 'pause_all'.")
    priority: AgentPriority = "normal"
    tenant_id: str = Field(description="The seed's project_id: whose agents these are.")
    campaign_id: str | None = None
    customer_id: str | None = None
    conversation_id: str | None = None
    correlation_id: str | None = None
    content: str = Field(max_length=4000, description="Natural language, for people and LLMs.")
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: datetime
    expires_at: datetime | None = None
    requires_response: bool = False


def route_target(routing: Routing, target: str) -> str:
    """The seed's ``to`` syntax for a target: ``@role``, ``@all``, ``#topic`` or the id."""
    prefix = {"role": "@", "topic": "#", "broadcast": "@", "direct": ""}[routing]
    return f"{prefix}{'all' if routing == 'broadcast' else target}"
