"""``GET /v1/events``: the tenant's live event stream as Server-Sent Events.

Each event is one row of the event log: ``id`` is its position (a client that
reconnects sends it back as ``Last-Event-ID`` and misses nothing), ``event`` its
type, ``data`` the exported message. A comment line every 15 s keeps proxies from
closing an idle stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import ID_PATTERN, CurrentTenant, Service
from api.problems import Problem
from domain.account import Tenant
from service.events import MAX_POSITION
from service.operations import RecoupService, message_json

router = APIRouter(
    prefix="/v1",
    tags=["events"],
    responses={
        code: {"model": Problem, "content": {"application/problem+json": {}}}
        for code in (400, 401, 422, 429)
    },
)

KEEPALIVE_SECONDS = 15.0


async def _events(
    request: Request,
    service: RecoupService,
    tenant: Tenant,
    after: int,
    campaign_id: str | None,
    types: list[str],
    follow: bool,
) -> AsyncIterator[str]:
    last_sent = time.monotonic()
    async for row in service.tail(tenant, after, campaign_id, types, follow):
        if row is not None:
            yield f"id: {row.position}\nevent: {row.type}\ndata: {message_json(row)}\n\n"
            last_sent = time.monotonic()
        elif await request.is_disconnected():
            return
        elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()


@router.get(
    "/events",
    summary="Live event stream (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    tenant: CurrentTenant,
    service: Service,
    campaign_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    type: Annotated[list[str] | None, Query(description="Event types to keep.")] = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_POSITION,
            description="Start after this position (default: now; 0 to 2^63-1).",
        ),
    ] = None,
    follow: Annotated[bool, Query(description="Keep the stream open for new events.")] = True,
    last_event_id: Annotated[
        int | None,
        Header(
            ge=0,
            le=MAX_POSITION,
            description="The last event's id, sent by a reconnecting client (0 to 2^63-1).",
        ),
    ] = None,
) -> StreamingResponse:
    """Without ``after`` the stream starts at the newest event; ``after=0`` replays all."""
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await asyncio.to_thread(service.last_position)
    return StreamingResponse(
        _events(request, service, tenant, start, campaign_id, type or [], follow),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
