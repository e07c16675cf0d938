"""Count a campaign where counting scales: Temporal visibility and the SQL read model.

One function, ``count_campaign``, for every reader: the portfolio's counting activity
(its details in the web UI), ``recoup campaign status``, the API's campaign view, the
demo's summary and the console. Each figure is defined once, in docs/metrics.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import Engine

from adapters.report import campaign_census
from domain.portfolio import Census, CensusRequest

# How many workflows a visibility query selects, or None where the server keeps no
# visibility store (the time-skipping test server of `recoup simulate`). Made from a
# Temporal client by ``bootstrap.client.visibility_count``: adapters do not import Temporal.
VisibilityCount = Callable[[str], Awaitable[int | None]]


async def count_campaign(
    visible: VisibilityCount,
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
    open_, indexed = await asyncio.gather(visible(running), visible(every))
    if open_ is None or indexed is None:
        return census.model_copy(
            update={
                "open": max(request.started - census.finished, 0),
                "indexed": census.accounts,
            }
        )
    return census.model_copy(update={"open": open_, "indexed": indexed})
