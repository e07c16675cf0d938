"""The use cases only the operator's console has (``api/console``), for one tenant.

A campaign's figures are not here: the console reads ``RecoupService.campaign`` as the
API, ``recoup campaign status`` and ``recoup report`` do. What is here: the tenant's
campaigns and a page of a campaign's accounts from the read model, the chart's time
buckets, the tenant's dead letters and a redrive that refuses another tenant's letter,
and the breakers as far as this process can see them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from temporalio.client import Client

from adapters.console_queries import (
    AccountRow,
    Bucket,
    CampaignPage,
    CampaignRow,
    Timeline,
    campaign_accounts,
    campaign_timeline,
    tenant_campaigns,
)
from adapters.tenants import parse_token
from bootstrap.root import Root
from bootstrap.settings import Settings
from domain.account import Tenant
from domain.dead_letters import DeadLetter
from service import breakers
from service.breakers import BreakerSnapshot
from service.dead_letters import redrive
from service.errors import BreakerStoreUnavailable

__all__ = [
    "AccountRow",
    "BreakerBoard",
    "Bucket",
    "CampaignPage",
    "CampaignRow",
    "NoSuchDeadLetter",
    "Timeline",
    "accounts",
    "breaker_board",
    "campaigns",
    "dead_letters",
    "key_id",
    "redrive_letter",
    "timeline",
]


class NoSuchDeadLetter(LookupError):
    """No dead letter of the tenant has this id (another tenant's is not found either)."""

    def __init__(self, tenant_id: str, dead_letter_id: str) -> None:
        super().__init__(f"no dead letter {dead_letter_id!r} in tenant {tenant_id!r}")


class BreakerBoard(BaseModel):
    """The breakers as the workers share them, or why they cannot be shown."""

    shared: bool = Field(
        description="Kept in Redis (RECOUP_REDIS_URL), where every worker sees them."
    )
    breakers: list[BreakerSnapshot] = Field(default_factory=list)
    problem: str | None = Field(default=None, description="Why no state can be shown.")
    read_at: datetime


def key_id(api_key: str) -> str | None:
    """The id of an API key (``rk_<key id>_<secret>``): what a decision made in the
    console is signed with, so that the audit names the key and never the secret."""
    parsed = parse_token(api_key)
    return parsed[0] if parsed else None


async def campaigns(root: Root, tenant: Tenant, limit: int, offset: int = 0) -> CampaignPage:
    return await asyncio.to_thread(
        tenant_campaigns, root.events.engine, tenant.tenant_id, limit, offset
    )


async def accounts(
    root: Root, tenant: Tenant, campaign_id: str, limit: int, offset: int = 0
) -> list[AccountRow]:
    return await asyncio.to_thread(
        campaign_accounts, root.events.engine, tenant.tenant_id, campaign_id, limit, offset
    )


async def timeline(root: Root, tenant: Tenant, campaign_id: str, buckets: int = 24) -> Timeline:
    return await asyncio.to_thread(
        campaign_timeline, root.events.engine, tenant.tenant_id, campaign_id, buckets
    )


async def dead_letters(root: Root, tenant: Tenant, limit: int = 500) -> list[DeadLetter]:
    """The tenant's dead letters, oldest first (as ``recoup dlq list``), ``limit`` at most."""
    # The API migrated the database at start-up (RecoupService.prepare): no
    # ``dead_letter_store``, which migrates again, on every page.
    return await asyncio.to_thread(root.dead_letters.list, tenant_id=tenant.tenant_id, limit=limit)


async def redrive_letter(
    client: Client, root: Root, tenant: Tenant, dead_letter_id: str
) -> DeadLetter:
    """Redrive the tenant's dead letter ``dead_letter_id``; raises ``NoSuchDeadLetter``, or
    ``RedriveRefused`` with the campaign's reason."""
    store = root.dead_letters
    letter = await asyncio.to_thread(store.get, dead_letter_id)
    if letter is None or letter.tenant_id != tenant.tenant_id:
        raise NoSuchDeadLetter(tenant.tenant_id, dead_letter_id)
    return await redrive(client, store, letter)


async def breaker_board(root: Root, settings: Settings) -> BreakerBoard:
    """Every breaker from the shared store; without one, say that each worker keeps its own
    (this process's memory would show only the API's, which calls no provider)."""
    now = datetime.now(UTC)
    if not settings.redis_url:
        return BreakerBoard(
            shared=False,
            read_at=now,
            problem="breakers are kept in each worker's memory (RECOUP_REDIS_URL is not "
            "set): the API cannot see them. Give the workers and the API the same Redis "
            "to see them here.",
        )
    try:
        snapshots = await breakers.snapshots(root)
    except BreakerStoreUnavailable as exc:
        return BreakerBoard(shared=True, read_at=now, problem=f"{exc} (RECOUP_REDIS_URL)")
    return BreakerBoard(shared=True, read_at=now, breakers=snapshots)
