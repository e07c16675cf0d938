"""Read an account's campaigns back from Temporal's history and verify every contact.

The workflow history is the source of truth: each contact activity's input holds
the facts and contact history the gate decided on, its result holds the moment
the channel agent sent it, and legal events are signals with their own times.
Nothing here trusts what the workflow itself concluded.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client

from domain import agents
from domain.campaign import account_workflow_id
from domain.compliance.audit import AuditedContact, verify_contact
from domain.compliance.facts import LegalEvent
from domain.contact import ContactRequest, ContactResult

_CONTACT_ACTIVITIES = frozenset(agents.CONTACT_ACTIVITY.values())


class AuditReport(BaseModel):
    tenant_id: str
    account_id: str
    runs: int
    contacts: list[AuditedContact]

    @property
    def violations(self) -> list[AuditedContact]:
        return [c for c in self.contacts if not c.passed]


async def audit_account(client: Client, tenant_id: str, account_id: str) -> AuditReport:
    workflow_id = account_workflow_id(tenant_id, account_id)
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    runs.sort(key=lambda r: r.start_time)
    convert = client.data_converter
    contacts: list[AuditedContact] = []
    for run in runs:
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        requests: dict[int, ContactRequest] = {}
        legal: list[tuple[datetime, LegalEvent]] = []
        for event in history.events:
            if event.HasField("workflow_execution_signaled_event_attributes"):
                signal = event.workflow_execution_signaled_event_attributes
                if signal.signal_name == agents.SIGNAL_LEGAL:
                    [legal_event] = await convert.decode(signal.input.payloads, [LegalEvent])
                    legal.append((event.event_time.ToDatetime(tzinfo=UTC), legal_event))
            elif event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name in _CONTACT_ACTIVITIES:
                    [request] = await convert.decode(scheduled.input.payloads, [ContactRequest])
                    requests[event.event_id] = request
            elif event.HasField("activity_task_completed_event_attributes"):
                completed = event.activity_task_completed_event_attributes
                request = requests.get(completed.scheduled_event_id)
                if request is None:
                    continue
                [result] = await convert.decode(completed.result.payloads, [ContactResult])
                if not result.outcome.reached or result.sent_at is None:
                    continue
                contacts.append(
                    verify_contact(
                        run_id=run.run_id,
                        attempt_id=request.attempt_id,
                        channel=request.channel,
                        to=request.to,
                        sent_at=result.sent_at,
                        facts=request.compliance.facts,
                        history=request.compliance.history,
                        legal_events=legal,
                    )
                )
    return AuditReport(
        tenant_id=tenant_id, account_id=account_id, runs=len(runs), contacts=contacts
    )
