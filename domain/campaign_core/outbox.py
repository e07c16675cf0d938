"""What leaves a campaign: events, commands and agent envelopes, into its outbox.

Every record gets a message id derived from the run id and a sequence number kept in
the state, so a replay makes the same ids. The shell empties the outbox into the event
log: with the next contact (the channel agent writes it with its own outcome), or in one
``export_events`` activity before the campaign waits.
"""

from __future__ import annotations

from typing import Any

from domain.agent_messages import (
    AgentIdentity,
    AgentMessage,
    AgentPriority,
    Attachment,
    MessageKind,
    MessageMode,
    Routing,
    route_target,
)
from domain.campaign_core.campaign import Campaign
from domain.events import (
    EventType,
    ExportRecord,
    Origin,
    agent_message_record,
    command_record,
    event_record,
    message_id,
    priority_for,
    trace_id_for,
)
from domain.messages import Command, CommandType

AGENT_ID = "campaign-workflow"


def origin(c: Campaign, agent_id: str = AGENT_ID) -> Origin:
    return Origin(
        tenant_id=c.inp.tenant.tenant_id,
        campaign_id=c.inp.campaign_id,
        customer_id=c.state.account.account_id,
        workflow_id=c.host.workflow_id,
        agent_id=agent_id,
        trace_id=c.inp.trace_id or trace_id_for(c.host.workflow_id),
    )


def next_message_id(c: Campaign) -> str:
    c.state.event_seq += 1
    return message_id(c.host.run_id, str(c.state.event_seq))


def emit(c: Campaign, type: EventType, status: str, metadata: dict[str, Any] | None = None) -> str:
    """Record an event in the outbox; returns its message id."""
    msg_id = next_message_id(c)
    c.state.outbox.append(event_record(origin(c), msg_id, type, status, c.now(), metadata))
    return msg_id


def emit_record(c: Campaign, record: ExportRecord) -> None:
    c.state.outbox.append(record)


def emit_command(c: Campaign, command: Command, target: str) -> str:
    msg_id = next_message_id(c)
    c.state.outbox.append(command_record(origin(c), msg_id, command, target, c.now()))
    return msg_id


def emit_escalation(c: Campaign, facts: dict[str, Any]) -> str:
    """An ESCALATE command to the escalation agent: a person should look at this."""
    account = c.state.account
    return emit_command(
        c,
        Command(
            type=CommandType.ESCALATE,
            campaign_id=c.inp.campaign_id,
            customer_id=account.account_id,
            priority=priority_for(account.priority),
            context=facts,
        ),
        target="escalation-agent",
    )


def emit_agent_message(
    c: Campaign,
    *,
    from_agent: AgentIdentity,
    to: str,
    routing: Routing,
    action: str,
    content: str,
    kind: MessageKind = "notification",
    mode: MessageMode = MessageMode.FIRE_AND_FORGET,
    priority: AgentPriority = "normal",
    to_agent: AgentIdentity | None = None,
    attachments: list[Attachment] | None = None,
    requires_response: bool = False,
    correlation_id: str | None = None,
) -> str:
    """Hand work or context to another agent (protocol seed envelope), for the record."""
    where = origin(c, from_agent.agent_id)
    message = AgentMessage(
        id=next_message_id(c),
        type=kind,
        from_agent=from_agent,
        to_agent=to_agent,
        to=route_target(routing, to),
        routing=routing,
        mode=mode,
        action=action,
        priority=priority,
        tenant_id=where.tenant_id,
        campaign_id=where.campaign_id,
        customer_id=where.customer_id,
        conversation_id=where.conversation_id,
        correlation_id=correlation_id,
        content=content[:4000],
        attachments=attachments or [],
        created_at=c.now(),
        requires_response=requires_response,
    )
    c.state.outbox.append(agent_message_record(where, message))
    return message.id


def take_pending(c: Campaign) -> list[ExportRecord]:
    """The outbox as it is now, for a contact to carry (cleared once it succeeded)."""
    return list(c.state.outbox)


def exported(c: Campaign, records: list[ExportRecord]) -> None:
    """Drop ``records`` from the outbox: the event log has them."""
    done = {r.message_id for r in records}
    c.state.outbox = [r for r in c.state.outbox if r.message_id not in done]
