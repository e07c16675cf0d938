"""Serving the APIs: HTTP (uvicorn) and gRPC side by side, in one process.

``running_apis`` serves both for the length of a block: ``recoup api`` until
Ctrl-C, ``recoup dev`` next to its workers, tests on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from api.grpc_server import start_grpc
from bootstrap.settings import Settings


@dataclass
class RunningApis:
    app: FastAPI
    http_url: str
    grpc_target: str
    grpc_server: grpc.aio.Server | None


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the embedding process owns Ctrl-C and stops
    everything in order (uvicorn's would re-raise the signal after it stopped)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def running_apis(
    settings: Settings, client: Client, *, grpc_enabled: bool = True
) -> AsyncIterator[RunningApis]:
    """Serve HTTP on ``api_host:api_port`` and gRPC on ``grpc_port`` until the block ends."""
    app = create_app(settings, client)
    await app.state.service.prepare()
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it (port in use, ...)
            raise RuntimeError(f"the HTTP API stopped at start on port {settings.api_port}")
        await asyncio.sleep(0.05)
    grpc_server: grpc.aio.Server | None = None
    if grpc_enabled:
        grpc_server = await start_grpc(
            app.state.service, app.state.auth, settings.api_host, settings.grpc_port
        )
    try:
        yield RunningApis(
            app=app,
            http_url=f"http://{settings.api_host}:{settings.api_port}",
            grpc_target=f"{settings.api_host}:{settings.grpc_port}",
            grpc_server=grpc_server,
        )
    finally:
        if grpc_server is not None:
            await grpc_server.stop(grace=2)
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
