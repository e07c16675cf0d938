"""The ``/v1`` routes: start, read and steer campaigns for the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, status

from api.deps import AccountId, ApprovalId, CampaignId, CurrentTenant, Service
from api.problems import Problem
from domain.campaign import CampaignSnapshot
from domain.operator import Approval
from service import models as m
from service.events import MAX_POSITION

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 404, 409, 422, 429, 503)
}

router = APIRouter(prefix="/v1", responses=_ERRORS)

IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="A retried request with the same key returns the first result; the same "
        "key with any other body is a 409 naming what differs.",
    ),
]


# --- campaigns ---------------------------------------------------------------


@router.post(
    "/campaigns",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["campaigns"],
    summary="Start a campaign for a portfolio of accounts",
)
async def start_campaign(
    body: m.StartCampaign,
    tenant: CurrentTenant,
    service: Service,
    idempotency_key: IdempotencyKey = None,
) -> m.CampaignStarted:
    """Valid accounts start; invalid ones are listed in ``rejected`` with field and problem.

    Idempotent: the same ``campaign_id`` (or ``Idempotency-Key``) with the same body
    returns the first start's workflow and run instead of starting another; with any
    other body (playbook, options, accounts) it is a 409 naming each field that differs.
    """
    return await service.start_campaign(tenant, body, idempotency_key)


@router.get("/campaigns/{campaign_id}", tags=["campaigns"], summary="Campaign progress and KPIs")
async def get_campaign(
    campaign_id: CampaignId, tenant: CurrentTenant, service: Service
) -> m.CampaignView:
    return await service.campaign(tenant, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/pause",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["campaigns"],
    summary="Pause every account of a campaign",
    description="Holds the campaign's launcher, then starts a Temporal batch operation that "
    "pauses every running account campaign of it; answers once the batch has started "
    "(`job_id`; its counts grow while it runs).",
)
async def pause_campaign(
    campaign_id: CampaignId, body: m.PauseIn, tenant: CurrentTenant, service: Service
) -> m.CampaignSteered:
    return await service.pause_campaign(tenant, campaign_id, body)


@router.post(
    "/campaigns/{campaign_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["campaigns"],
    summary="Resume a paused campaign",
)
async def resume_campaign(
    campaign_id: CampaignId, body: m.ResumeIn, tenant: CurrentTenant, service: Service
) -> m.CampaignSteered:
    return await service.resume_campaign(tenant, campaign_id, body)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["campaigns"],
    summary="Cancel a campaign: no more starts, every running account ends as cancelled",
)
async def cancel_campaign(
    campaign_id: CampaignId, body: m.CancelIn, tenant: CurrentTenant, service: Service
) -> m.CampaignSteered:
    return await service.cancel_campaign(tenant, campaign_id, body)


# --- accounts ------------------------------------------------------------------


@router.post(
    "/accounts",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Start one account's campaign",
)
async def start_account(
    body: m.StartAccountCampaign, tenant: CurrentTenant, service: Service
) -> m.AccountCampaignStarted:
    """Idempotent by account: a second start returns the campaign already running for it."""
    return await service.start_account_campaign(tenant, body)


@router.get("/accounts/{account_id}", tags=["accounts"], summary="Account campaign status")
async def get_account(
    account_id: AccountId, tenant: CurrentTenant, service: Service
) -> CampaignSnapshot:
    return await service.account(tenant, account_id)


@router.get("/accounts/{account_id}/history", tags=["accounts"], summary="The account's events")
async def get_history(
    account_id: AccountId,
    tenant: CurrentTenant,
    service: Service,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_POSITION,
            description="Events after this position (0 to 2^63-1: a 400 otherwise).",
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> m.AccountHistory:
    return await service.history(tenant, account_id, after, limit)


@router.post(
    "/accounts/{account_id}/payments",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Record a payment (idempotent by payment_id)",
)
async def record_payment(
    account_id: AccountId, body: m.PaymentIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    """A payment in another currency than the account's is a 422 naming ``currency``."""
    return await service.record_payment(tenant, account_id, body)


@router.post(
    "/accounts/{account_id}/replies",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Record an inbound reply (idempotent by reply_id)",
)
async def record_reply(
    account_id: AccountId, body: m.ReplyIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    return await service.record_reply(tenant, account_id, body)


@router.post(
    "/accounts/{account_id}/disputes",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Open a dispute: collection pauses until verification",
)
async def open_dispute(
    account_id: AccountId, body: m.DisputeIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    return await service.open_dispute(tenant, account_id, body)


@router.post(
    "/accounts/{account_id}/cease",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Record a cease request (or attorney representation): contact stops",
)
async def cease(
    account_id: AccountId, body: m.CeaseIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    return await service.cease(tenant, account_id, body)


@router.post(
    "/accounts/{account_id}/opt-outs",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Opt a channel (or one address) out",
)
async def opt_out(
    account_id: AccountId, body: m.OptOutIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    return await service.opt_out(tenant, account_id, body)


@router.post(
    "/accounts/{account_id}/pause",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Pause outreach to an account",
)
async def pause_account(
    account_id: AccountId, body: m.PauseIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    return await service.pause_account(tenant, account_id, body)


@router.post(
    "/accounts/{account_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["accounts"],
    summary="Resume outreach to an account",
)
async def resume_account(
    account_id: AccountId, body: m.ResumeIn, tenant: CurrentTenant, service: Service
) -> m.Accepted:
    return await service.resume_account(tenant, account_id, body)


# --- approvals -----------------------------------------------------------------


@router.get("/approvals", tags=["approvals"], summary="Decisions waiting for a person")
async def list_approvals(tenant: CurrentTenant, service: Service) -> m.ApprovalList:
    return await service.approvals(tenant)


@router.post(
    "/accounts/{account_id}/approvals/{approval_id}",
    tags=["approvals"],
    summary="Approve or reject (idempotent: a decided approval is returned as it is)",
)
async def decide_approval(
    account_id: AccountId,
    approval_id: ApprovalId,
    body: m.DecisionIn,
    tenant: CurrentTenant,
    service: Service,
) -> Approval:
    return await service.decide(tenant, account_id, approval_id, body)
