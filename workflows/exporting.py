"""How an account campaign's decisions leave it as events, at little Temporal cost.

Every decision becomes a record in the campaign's outbox (its state, so it
survives continue-as-new) with a message id derived from the run id and a
sequence number: a replay makes the same ids. The outbox leaves in one of two
ways, both idempotent:

- with the next contact: the channel agent writes the pending records and its
  own outcome to the event log in the activity that makes the contact (no extra
  action per touch);
- before the campaign waits (for the next step, a payment, calling hours) or
  finishes, if anything is still pending: one ``export_events`` activity.

So a quiet campaign pays one export per signal it reacts to and one at the end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain import agents
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
    from domain.campaign import AccountCampaignInput, CampaignState
    from domain.events import (
        EventBatch,
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
# The event log is Recoup's own database: keep trying (a broker outage never gets here).
EXPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=1),
)


class Exporting:
    _inp: AccountCampaignInput
    _state: CampaignState

    def _origin(self, agent_id: str = AGENT_ID) -> Origin:
        info = workflow.info()
        return Origin(
            tenant_id=self._inp.tenant.tenant_id,
            campaign_id=self._inp.campaign_id,
            customer_id=self._state.account.account_id,
            workflow_id=info.workflow_id,
            agent_id=agent_id,
            trace_id=self._inp.trace_id or trace_id_for(info.workflow_id),
        )

    def _next_message_id(self) -> str:
        self._state.event_seq += 1
        return message_id(workflow.info().run_id, str(self._state.event_seq))

    def _emit(self, type: EventType, status: str, metadata: dict[str, Any] | None = None) -> str:
        """Record an event in the outbox; returns its message id."""
        msg_id = self._next_message_id()
        self._state.outbox.append(
            event_record(self._origin(), msg_id, type, status, workflow.now(), metadata)
        )
        return msg_id

    def _emit_record(self, record: ExportRecord) -> None:
        self._state.outbox.append(record)

    def _emit_command(self, command: Command, target: str) -> str:
        msg_id = self._next_message_id()
        self._state.outbox.append(
            command_record(self._origin(), msg_id, command, target, workflow.now())
        )
        return msg_id

    def _emit_escalation(self, facts: dict[str, Any]) -> str:
        """An ESCALATE command to the escalation agent: a person should look at this."""
        account = self._state.account
        return self._emit_command(
            Command(
                type=CommandType.ESCALATE,
                campaign_id=self._inp.campaign_id,
                customer_id=account.account_id,
                priority=priority_for(account.priority),
                context=facts,
            ),
            target="escalation-agent",
        )

    def _emit_agent_message(
        self,
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
        origin = self._origin(from_agent.agent_id)
        message = AgentMessage(
            id=self._next_message_id(),
            type=kind,
            from_agent=from_agent,
            to_agent=to_agent,
            to=route_target(routing, to),
            routing=routing,
            mode=mode,
            action=action,
            priority=priority,
            tenant_id=origin.tenant_id,
            campaign_id=origin.campaign_id,
            customer_id=origin.customer_id,
            conversation_id=origin.conversation_id,
            correlation_id=correlation_id,
            content=content[:4000],
            attachments=attachments or [],
            created_at=workflow.now(),
            requires_response=requires_response,
        )
        self._state.outbox.append(agent_message_record(origin, message))
        return message.id

    def _take_pending(self) -> list[ExportRecord]:
        """The outbox as it is now, for a contact to carry (cleared once it succeeded)."""
        return list(self._state.outbox)

    def _exported(self, records: list[ExportRecord]) -> None:
        """Drop ``records`` from the outbox: the event log has them."""
        done = {r.message_id for r in records}
        self._state.outbox = [r for r in self._state.outbox if r.message_id not in done]

    async def _export_pending(self) -> None:
        """Write whatever is still pending to the event log (one activity), if anything."""
        pending = self._take_pending()
        if not pending:
            return
        await workflow.execute_activity(
            agents.EXPORT_EVENTS,
            EventBatch(records=pending),
            task_queue=self._inp.queues.export,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=EXPORT_RETRY,
            summary=f"export {len(pending)} event(s)",
        )
        self._exported(pending)
