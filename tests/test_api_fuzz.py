"""Schemathesis against the served OpenAPI document: no 5xx, every 4xx a problem+json.

The API runs in a thread with its own event loop and Temporal client, on a real
port, because schemathesis calls it synchronously (requests) from this thread.
Both positive cases (valid by the schema) and negative ones (invalid on purpose)
are generated for every documented operation.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.app import create_app
from tests.api_support import auth, new_tenant
from workers.client import connect
from workers.settings import Settings

# The live stream (follow=true) never ends by design; tests/test_api.py covers it.
SKIP = {("GET", "/v1/events")}
EXAMPLES_PER_OPERATION = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def served_api(settings: Settings) -> Iterator[str]:
    served = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": _free_port()})
    holder: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        client = await connect(served)
        app = create_app(served, client)
        server = uvicorn.Server(
            uvicorn.Config(app, host=served.api_host, port=served.api_port, log_level="warning")
        )
        holder["server"] = server
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.02)
        ready.set()
        await task

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(30), "the API did not start"
    yield served.api_url
    holder["server"].should_exit = True
    thread.join(10)


def test_no_operation_answers_5xx_and_every_4xx_is_a_problem(
    served_api: str, settings: Settings
) -> None:
    _, token = new_tenant(settings)
    schema = schemathesis.openapi.from_url(f"{served_api}/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises: a broken schema
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
                # The case's own headers come first: a generated bad key must get a 401.
                headers = {**auth(token), **dict(case.headers or {})}
                response = case.call(base_url=served_api, headers=headers, timeout=30)
                where = f"{case.method} {case.formatted_path} -> {response.status_code}"
                assert response.status_code < 500, f"{where}: {response.text[:500]}"
                if response.status_code >= 400:
                    content_type = next(iter(response.headers.get("content-type", [])), "")
                    assert content_type.startswith("application/problem+json"), where
                    problem = response.json()
                    assert problem["status"] == response.status_code, where
                    assert problem["title"], where

            try:
                check()
            except Unsatisfiable:
                # No parameter or body to make invalid (GET /v1/health): nothing to negate.
                assert mode is GenerationMode.NEGATIVE, operation.path
        tested.append((operation.method.upper(), operation.path))
    assert ("POST", "/v1/campaigns") in tested
    assert len(tested) >= 18
