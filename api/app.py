"""The HTTP API application: ``/v1`` routes, live events, webhooks, codec server, health.

``create_app(settings, client)`` builds it around a connected Temporal client and a
composition root (``bootstrap/root.py``) for its stores
(``recoup api`` connects, then serves it with uvicorn next to the gRPC server).
OpenAPI is served at ``/openapi.json`` and the interactive docs at ``/docs`` (from local
files: ``api/docs.py``); the operator's console at ``/console`` (``api/console``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel
from temporalio.client import Client

from api import problems, routes, stream
from api.auth import Authenticator, RateLimiter
from api.codec import codec_cors_options, codec_router
from api.console import STATIC_PATH, console_router, console_static
from api.deps import current_tenant, tenant_from_path_key
from api.docs import install_docs
from api.telemetry import instrument_api
from api.webhooks import webhooks_router
from bootstrap.root import Root
from bootstrap.settings import Settings
from service.operations import RecoupService

API_VERSION = "1.0.0"
UI_CODEC_PREFIX = "/codec/key/{api_key}"


class Health(BaseModel):
    status: str
    temporal: bool
    database: bool


def create_app(settings: Settings, client: Client) -> FastAPI:
    # The app's stores come from one root, closed when the app stops.
    root = Root(settings, client=client)
    service = RecoupService.build(client, settings, root)
    auth = Authenticator(service.tenants, RateLimiter(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.prepare()
        try:
            yield
        finally:
            await service.aclose()

    app = FastAPI(
        title="Recoup API",
        version=API_VERSION,
        summary="Start, read and steer collection campaigns; receive provider webhooks.",
        description=(
            "Every request carries a tenant API key (`Authorization: Bearer rk_…`); the "
            "tenant comes from the key. Errors are RFC 9457 problem details "
            "(`application/problem+json`) naming the field at fault."
        ),
        lifespan=lifespan,
        # Served by install_docs from local files; FastAPI's would load from CDNs.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.auth = auth
    problems.install(app)
    problems.document(app)
    app.include_router(routes.router)
    app.include_router(stream.router)
    app.include_router(webhooks_router(service))
    app.include_router(codec_router(settings, current_tenant))
    install_docs(app, "Recoup API")
    app.include_router(console_router(settings))
    app.mount(STATIC_PATH, console_static(), name="console-static")
    # The web UI sends no credentials to a codec server (it has no setting for it without
    # its own login), so its endpoint carries the key: {api}/codec/key/rk_…
    app.include_router(codec_router(settings, tenant_from_path_key, prefix=UI_CODEC_PREFIX))
    # The Temporal web UI calls the codec server from the browser.
    app.add_middleware(CORSMiddleware, **codec_cors_options(settings))
    instrument_api(app)

    @app.get("/v1/health", tags=["operations"], summary="Liveness and dependencies")
    async def health() -> Health:
        temporal = await _temporal_ok(client)
        database = await _database_ok(service)
        return Health(
            status="ok" if temporal and database else "degraded",
            temporal=temporal,
            database=database,
        )

    return app


async def _temporal_ok(client: Client) -> bool:
    try:
        return bool(await client.service_client.check_health())
    except Exception:  # unreachable, or not serving: reported, not raised
        return False


async def _database_ok(service: RecoupService) -> bool:
    try:
        await asyncio.to_thread(service.last_position)
    except Exception:  # the health answer says so; the probe must not 500
        return False
    return True


def openapi_document(settings: Settings, client: Any) -> dict[str, Any]:
    """The OpenAPI document (for ``recoup api --openapi`` and docs)."""
    return create_app(settings, client).openapi()
