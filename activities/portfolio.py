"""Reads the accounts of a portfolio stored at launch, a page at a time."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.portfolio_store import PortfolioStore
from domain import names
from domain.portfolio import PortfolioPage, PortfolioPageRequest


class PortfolioLoader:
    def __init__(self, store: PortfolioStore, where: str) -> None:
        self._store = store
        self._where = where

    @activity.defn(name=names.LOAD_PORTFOLIO_PAGE)
    async def load_portfolio_page(self, request: PortfolioPageRequest) -> PortfolioPage:
        accounts = await asyncio.to_thread(
            self._store.page,
            request.tenant_id,
            request.campaign_id,
            request.offset,
            request.limit,
        )
        if not accounts and request.offset == 0:
            # Launched into another store than this worker reads: say so, and keep
            # retrying (visible in the UI) until the configuration is fixed.
            raise ApplicationError(
                f"portfolio {request.tenant_id}/{request.campaign_id} is not in the store "
                f"this worker reads ({self._where}); launch and worker must share "
                "RECOUP_DATABASE_URL (or RECOUP_DATA_DIR)",
                type="PortfolioNotFound",
            )
        return PortfolioPage(
            accounts=accounts,
            next_offset=request.offset + len(accounts),
            exhausted=len(accounts) < request.limit,
        )
