"""Pause, resume or cancel a whole campaign, however many accounts it has.

Two moves (the protocol seed's broadcast route, on what Temporal already has):

1. the campaign's portfolio holds, releases or stops its launcher (the
   ``steer_launch`` update answers once no page of starts is in flight, with how many
   account campaigns it started);
2. a Temporal batch operation signals every running account campaign whose
   ``RecoupCampaign`` is the campaign. It runs on the server, at the server's batch
   rate (``worker.batcherRPS``), shows in the web UI's batch operations page, and its
   counts say how many campaigns it reached.

Visibility is eventually consistent: before the batch selects, this waits until it has
indexed every campaign the launcher started, so that none just started is missed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from pydantic import BaseModel, Field
from temporalio.api.batch.v1 import BatchOperationSignal
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    DescribeBatchOperationResponse,
    StartBatchOperationRequest,
)
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from domain import names
from domain.campaign import portfolio_workflow_id
from domain.operator import (
    CancelRequest,
    LaunchAction,
    LaunchControl,
    LaunchState,
    PauseRequest,
    ResumeRequest,
)
from service.errors import NoSuchCampaign
from workflows import search_attributes as sa

# How long the batch waits for visibility to index the campaigns just started.
INDEX_WAIT_SECONDS = 60.0
# Another batch operation holds the namespace's slot (a cluster allows one by default).
SLOT_WAIT_SECONDS = 300.0

SIGNALS = {
    LaunchAction.PAUSE: names.SIGNAL_PAUSE,
    LaunchAction.RESUME: names.SIGNAL_RESUME,
    LaunchAction.CANCEL: names.SIGNAL_CANCEL,
}


class BatchFailed(RuntimeError):
    """The server refused or failed the batch operation."""


class Steered(BaseModel):
    """What steering a campaign did."""

    campaign_id: str
    action: LaunchAction
    launcher: LaunchState | None = Field(
        default=None, description="The portfolio's launcher after the change (None: no portfolio)."
    )
    job_id: str = Field(description="The batch operation's id (web UI: Batch operations).")
    done: bool = Field(description="False when not waited for: the batch is still running.")
    selected: int = Field(description="Running account campaigns the batch selected.")
    reached: int = Field(description="Of those, signalled.")
    failed: int = Field(description="Of those, not signalled (most often: ended meanwhile).")
    seconds: float


Progress = Callable[[DescribeBatchOperationResponse], None]


async def steer_campaign(
    client: Client,
    tenant_id: str,
    campaign_id: str,
    action: LaunchAction,
    request: PauseRequest | ResumeRequest | CancelRequest,
    *,
    wait: bool = True,
    progress: Progress | None = None,
) -> Steered:
    """Steer the campaign's launcher, then signal its running accounts in one batch.

    ``wait``: until the batch has finished (the CLI); else return once it started (the
    API answers 202 with the job id). Raises ``NoSuchCampaign`` and ``BatchFailed``.
    """
    began = time.monotonic()
    reason = getattr(request, "reason", None) or getattr(request, "note", "") or action.value
    launcher = await _steer_launcher(
        client,
        tenant_id,
        campaign_id,
        LaunchControl(action=action, reason=reason, operator=request.operator),
    )
    every = sa.campaign_accounts_query(tenant_id, campaign_id, running=False)
    running = sa.campaign_accounts_query(tenant_id, campaign_id, running=True)
    if launcher is not None:
        await _indexed(client, every, launcher.started)
    elif not (await client.count_workflows(running)).count:
        raise NoSuchCampaign(f"no running campaign {campaign_id!r}")
    job_id = await _start_batch(
        client,
        running,
        SIGNALS[action],
        request,
        f"{action.value} campaign {campaign_id} ({request.operator}): {reason}"[:900],
    )
    described = await _describe(client, job_id)
    while wait and described.state == BatchOperationState.BATCH_OPERATION_STATE_RUNNING:
        if progress is not None:
            progress(described)
        await asyncio.sleep(0.5)
        described = await _describe(client, job_id)
    if described.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED:
        raise BatchFailed(f"batch operation {job_id} failed: {described.reason}")
    return Steered(
        campaign_id=campaign_id,
        action=action,
        launcher=launcher,
        job_id=job_id,
        done=described.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED,
        selected=described.total_operation_count,
        reached=described.complete_operation_count,
        failed=described.failure_operation_count,
        seconds=round(time.monotonic() - began, 2),
    )


async def _steer_launcher(
    client: Client, tenant_id: str, campaign_id: str, control: LaunchControl
) -> LaunchState | None:
    """The portfolio's launcher after ``control``; None when there is no running portfolio
    (accounts started one by one, or a portfolio that has ended)."""
    handle = client.get_workflow_handle(portfolio_workflow_id(tenant_id, campaign_id))
    try:
        state: LaunchState = await handle.execute_update(
            names.UPDATE_STEER_LAUNCH, control, result_type=LaunchState
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    except WorkflowUpdateFailedError as exc:
        raise BatchFailed(f"the portfolio refused {control.action.value}: {exc.cause}") from exc
    return state


async def _indexed(client: Client, query: str, started: int) -> None:
    """Wait (bounded) until visibility holds every campaign the launcher started."""
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    while (await client.count_workflows(query)).count < started:
        if time.monotonic() > deadline:
            return  # go on: the batch reaches what is indexed, and says how many
        await asyncio.sleep(0.2)


async def _start_batch(
    client: Client,
    query: str,
    signal: str,
    arg: PauseRequest | ResumeRequest | CancelRequest,
    reason: str,
) -> str:
    payloads = await client.data_converter.encode([arg])
    job_id = str(uuid.uuid4())
    request = StartBatchOperationRequest(
        namespace=client.namespace,
        visibility_query=query,
        job_id=job_id,
        reason=reason,
        signal_operation=BatchOperationSignal(
            signal=signal, input=Payloads(payloads=payloads), identity=client.identity
        ),
    )
    deadline = time.monotonic() + SLOT_WAIT_SECONDS
    while True:
        try:
            await client.workflow_service.start_batch_operation(request)
            return job_id
        except RPCError as exc:
            # One batch at a time per namespace unless the cluster allows more.
            if exc.status is not RPCStatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise BatchFailed(f"the server refused the batch operation: {exc.message}") from exc
            await asyncio.sleep(1.0)


async def _describe(client: Client, job_id: str) -> DescribeBatchOperationResponse:
    request = DescribeBatchOperationRequest(namespace=client.namespace, job_id=job_id)
    for _ in range(50):
        try:
            return await client.workflow_service.describe_batch_operation(request)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.1)  # just started: not yet visible to describe
    return await client.workflow_service.describe_batch_operation(request)
