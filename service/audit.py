"""Read an account's campaigns back from Temporal's history and verify every contact.

The workflow history is the source of truth: each contact activity's input holds
the facts and contact history the gate decided on, its result holds the moment
the channel agent handed the message over and the stored revocations it read, and
revocations are signals with their own times (legal events, opt-outs, STOP replies).
The suppression store adds those that never reached the campaign as a signal.
Nothing here trusts what the workflow itself concluded.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import DataConverter

from adapters.suppressions import SuppressionStore
from domain import names
from domain.campaign import InboundReply, OptOutRequest, account_workflow_id
from domain.channels import by_activity
from domain.compliance.audit import AuditedContact, verify_contact
from domain.compliance.facts import LegalEvent
from domain.contact import ContactRequest, ContactResult
from domain.replies import is_stop_keyword
from domain.revocations import Revocation, RevocationKind

_CONTACT_ACTIVITIES = frozenset(by_activity())


class AuditReport(BaseModel):
    tenant_id: str
    account_id: str
    runs: int
    contacts: list[AuditedContact]

    @property
    def violations(self) -> list[AuditedContact]:
        return [c for c in self.contacts if not c.passed]


async def _signalled(
    convert: DataConverter, tenant_id: str, account_id: str, event: HistoryEvent
) -> Revocation | None:
    """The revocation a signal carried, if it carried one."""
    signal = event.workflow_execution_signaled_event_attributes
    at = event.event_time.ToDatetime(tzinfo=UTC)
    common = {
        "tenant_id": tenant_id,
        "account_id": account_id,
        "received_at": at,
        "source": "signal",
    }
    if signal.signal_name == names.SIGNAL_LEGAL:
        [legal] = await convert.decode(signal.input.payloads, [LegalEvent])
        return Revocation(
            revocation_id=legal.revocation_id or f"signal:{event.event_id}",
            kind=RevocationKind(legal.kind.value),
            channel=legal.channel,
            address=legal.address,
            **common,
        )
    if signal.signal_name == names.SIGNAL_OPT_OUT:
        [opt_out] = await convert.decode(signal.input.payloads, [OptOutRequest])
        return Revocation(
            revocation_id=opt_out.revocation_id or f"signal:{event.event_id}",
            kind=RevocationKind.OPT_OUT,
            channel=opt_out.channel,
            address=opt_out.address,
            **common,
        )
    if signal.signal_name == names.SIGNAL_REPLY:
        [reply] = await convert.decode(signal.input.payloads, [InboundReply])
        if is_stop_keyword(reply.text):
            return Revocation(
                revocation_id=f"signal:{event.event_id}",
                kind=RevocationKind.OPT_OUT,
                channel=reply.channel,
                address=reply.from_address,
                **common,
            )
    return None


async def audit_account(
    client: Client, tenant_id: str, account_id: str, store: SuppressionStore | None = None
) -> AuditReport:
    workflow_id = account_workflow_id(tenant_id, account_id)
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    runs.sort(key=lambda r: r.start_time)
    convert = client.data_converter
    stored: list[Revocation] = []
    if store is not None:
        stored = await asyncio.to_thread(store.for_account, tenant_id, account_id)
    # Revocations hold across runs (continue-as-new, a later campaign of the same debt).
    received: list[Revocation] = list(stored)
    sent: list[tuple[str, ContactRequest, ContactResult]] = []
    for run in runs:
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        requests: dict[int, ContactRequest] = {}
        for event in history.events:
            if event.HasField("workflow_execution_signaled_event_attributes"):
                revocation = await _signalled(convert, tenant_id, account_id, event)
                if revocation is not None:
                    received.append(revocation)
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
                if result.outcome.reached and result.sent_at is not None:
                    sent.append((run.run_id, request, result))
    contacts = [
        verify_contact(
            run_id=run_id,
            attempt_id=request.attempt_id,
            channel=request.channel,
            to=request.to,
            sent_at=_moment(result),
            facts=request.compliance.facts,
            history=request.compliance.history,
            received=[*received, *result.after_revocation],
            used=result.revocations,
        )
        for run_id, request, result in sent
    ]
    return AuditReport(
        tenant_id=tenant_id, account_id=account_id, runs=len(runs), contacts=contacts
    )


def _moment(result: ContactResult) -> datetime:
    """When the message left: handed to the provider (older results: when the gate passed it)."""
    moment = result.handed_at or result.sent_at
    assert moment is not None
    return moment
