"""``recoup api``: serve the HTTP API (OpenAPI at /docs) and the gRPC service."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.app import create_app
from api.server import running_apis
from bootstrap.client import connect
from bootstrap.tracing import setup_tracing
from cli.common import console, fail, load_settings, refuse_foreign_keys, run, whereabouts
from cli.stack import PortInUse, ensure_free, stop_event


def api(
    host: Annotated[str | None, typer.Option(help="Bind address (RECOUP_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (RECOUP_API_PORT).")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="gRPC port (RECOUP_GRPC_PORT).")] = None,
    grpc: Annotated[bool, typer.Option("--grpc/--no-grpc", help="Serve gRPC too.")] = True,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the OpenAPI document and exit.")
    ] = False,
) -> None:
    """Serve the CRM-facing APIs against RECOUP_TEMPORAL_ADDRESS until Ctrl-C.

    HTTP: /v1 routes, /docs, /console (the operator's console), /v1/events (SSE),
    /v1/webhooks, /codec, /metrics.
    gRPC: recoup.v1.Recoup, with health and reflection. Keys: `recoup tenant create`.
    """
    updates = {
        k: v
        for k, v in {"api_host": host, "api_port": port, "grpc_port": grpc_port}.items()
        if v is not None
    }
    settings = load_settings().model_copy(update=updates)

    async def main() -> None:
        setup_tracing(settings)
        # Beside a running `recoup dev`, the API sends to its workers: it refuses keys
        # they lack, as every such command does. Alone, it may make the key ring.
        beside_dev = whereabouts(settings).dev is not None
        if beside_dev:
            refuse_foreign_keys(settings)
        try:
            client = await connect(settings, create_keys=not beside_dev)
        except RuntimeError as exc:  # TemporalConnectError names the address and TLS mode
            fail(str(exc))
        if openapi:
            print(json.dumps(create_app(settings, client).openapi(), indent=2))
            return
        try:
            ensure_free(settings.api_port, "HTTP API")
            if grpc:
                ensure_free(settings.grpc_port, "gRPC API")
        except PortInUse as exc:
            fail(str(exc))
        stop = stop_event()
        async with running_apis(settings, client, grpc_enabled=grpc):
            # Printed once both listen: a script may wait for this line.
            console.print(
                f"HTTP API on {settings.api_url} (docs at {settings.api_url}/docs, console "
                f"at {settings.api_url}/console)"
                + (f"; gRPC on {settings.api_host}:{settings.grpc_port}" if grpc else "")
                + "; Ctrl-C stops"
            )
            await stop.wait()

    run(main())
