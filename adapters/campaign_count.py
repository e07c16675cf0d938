"""Count a campaign where counting scales: Temporal visibility and the SQL read model.

One function, ``count_campaign``, for every reader: the portfolio's counting activity
(its details in the web UI), ``recoup campaign status``, the API's campaign view, the
demo's summary and the console. Each figure is defined once, in docs/metrics.md.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.report import campaign_census
from domain.portfolio import Census, CensusRequest


async def count_campaign(
    client: Client,
    read_model: Engine,
    request: CensusRequest,
    *,
    running: str,
    every: str,
    projected: bool,
) -> Census:
    """Open and indexed account campaigns from visibility (``running`` and ``every``: the
    visibility queries that select the campaign's open and all account campaigns, built by
    ``workflows.search_attributes.campaign_accounts_query``); every other figure from the
    read model (``projected``: whether the exporter fills it, the ``sql`` sink)."""
    census = await asyncio.to_thread(
        campaign_census, read_model, request.tenant_id, request.campaign_id
    )
    census.read_model = projected
    try:
        open_, indexed = await asyncio.gather(
            client.count_workflows(running), client.count_workflows(every)
        )
    except RPCError as exc:
        if exc.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        # The time-skipping test server (recoup simulate) has no visibility store.
        return census.model_copy(
            update={
                "open": max(request.started - census.finished, 0),
                "indexed": census.accounts,
            }
        )
    return census.model_copy(update={"open": open_.count, "indexed": indexed.count})
