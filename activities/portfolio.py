"""Reads the accounts of a portfolio stored at launch, a page at a time."""

from __future__ import annotations

import asyncio

from temporalio import activity

from adapters.portfolio_store import PortfolioStore
from domain import agents
from domain.portfolio import PortfolioPage, PortfolioPageRequest


class PortfolioLoader:
    def __init__(self, store: PortfolioStore) -> None:
        self._store = store

    @activity.defn(name=agents.LOAD_PORTFOLIO_PAGE)
    async def load_portfolio_page(self, request: PortfolioPageRequest) -> PortfolioPage:
        accounts = await asyncio.to_thread(
            self._store.page,
            request.tenant_id,
            request.campaign_id,
            request.offset,
            request.limit,
        )
        return PortfolioPage(
            accounts=accounts,
            next_offset=request.offset + len(accounts),
            exhausted=len(accounts) < request.limit,
        )
