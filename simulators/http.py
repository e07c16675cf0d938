"""Plumbing shared by the HTTP simulators: serving, scripted outages, idempotency.

Each simulator is an ASGI app served by uvicorn as a task on the caller's event
loop, so tests and demos need no extra process and can inspect the simulator's
state directly. What differs between providers (URLs, auth, error bodies)
stays in each simulator; what is the same mechanism lives here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import Generator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn
from starlette.types import ASGIApp

_KNOWN_STATUSES = frozenset(s.value for s in HTTPStatus)


class EmbeddedServer:
    """``app`` served on the running event loop; ``name`` is used in error messages.

    Can be started again after ``stop``, on a new port unless one is given.
    """

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self._app = app
        self._name = name
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._base_url: str | None = None

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"{self._name} not started")
        return self._base_url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); return the base URL."""
        if self._server is not None:
            raise RuntimeError(f"{self._name} already started")
        # Binding here, not in uvicorn, makes a busy port raise OSError to the
        # caller instead of uvicorn calling sys.exit() inside a task.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = self._server = _QuietServer(config)
        task = self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                self._server = self._task = None
                sock.close()
                await task
                raise RuntimeError(f"{self._name} exited during startup")
            await asyncio.sleep(0.005)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self._base_url = f"http://{shown}:{bound}"
        return self._base_url

    async def stop(self) -> None:
        """Shut the server down (waits for in-flight requests, at most ~1 s)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = self._base_url = None


def basic_credentials(header: str | None) -> tuple[str, str]:
    """User and password of an ``Authorization: Basic`` header; empty ones if it is not."""
    if not header or not header.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class _Failure:
    status: int
    path_prefix: str | None


class FailurePlan:
    """Scripted outages: the next requests (optionally only under a path) fail.

    Simulators consult it before authenticating or reading the request, like a
    failing load balancer in front of the API: nothing is executed and nothing
    is remembered under the request's idempotency key, so a retry with the
    same key runs the request for real.
    """

    def __init__(self) -> None:
        self._pending: list[_Failure] = []

    def add(self, n: int, status: int, path_prefix: str | None = None) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        if not 400 <= status <= 599 or status not in _KNOWN_STATUSES:
            raise ValueError(f"{status} is not a known HTTP error status")
        self._pending.extend(_Failure(status, path_prefix) for _ in range(n))

    def clear(self) -> None:
        self._pending.clear()

    def take(self, path: str) -> int | None:
        """The status to fail a request for ``path`` with, consuming it; or None."""
        for index, failure in enumerate(self._pending):
            if failure.path_prefix is None or path.startswith(failure.path_prefix):
                del self._pending[index]
                return failure.status
        return None

    def __len__(self) -> int:
        return len(self._pending)


@dataclass(frozen=True)
class StoredResponse:
    """What a request sent with an idempotency key answered the first time."""

    method: str
    path: str
    params: Any
    status: int
    body: Any
    request_id: str


class IdempotencyMismatch(Exception):
    """A key came back with another endpoint or other parameters than its first use."""

    def __init__(self, key: str, first: StoredResponse, *, same_endpoint: bool) -> None:
        super().__init__(key)
        self.key = key
        self.first = first
        self.same_endpoint = same_endpoint


class IdempotencyStore:
    """Responses by idempotency key, compared against the request that reuses the key.

    Lookup and save must happen without an ``await`` in between (the handlers
    validate and execute synchronously), so concurrent retries of one key on
    the single event loop cannot both execute.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, StoredResponse] = {}

    def lookup(self, key: str, method: str, path: str, params: Any) -> StoredResponse | None:
        """The stored response to replay, None for a fresh key; raises on a mismatch."""
        first = self._by_key.get(key)
        if first is None:
            return None
        if (first.method, first.path) != (method, path):
            raise IdempotencyMismatch(key, first, same_endpoint=False)
        if first.params != params:
            raise IdempotencyMismatch(key, first, same_endpoint=True)
        return first

    def save(self, key: str, response: StoredResponse) -> None:
        self._by_key[key] = response


class JsonApiSimulator:
    """What the payments and CRM simulators share: their server, outages and replays.

    A subclass builds its ASGI app and calls ``super().__init__(app, name=...)``;
    its handlers consult ``self._failures`` and ``self._idempotency``.
    """

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self._failures = FailurePlan()
        self._idempotency = IdempotencyStore()
        self._server = EmbeddedServer(app, name=name)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); return the base URL."""
        return await self._server.start(host, port)

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def fail_next(self, n: int, status: int = 503, path_prefix: str | None = None) -> None:
        """Fail the next ``n`` requests (any method) under ``path_prefix`` with ``status``.

        The request is not executed and its idempotency key is not used up.
        """
        self._failures.add(n, status, path_prefix)

    def clear_failures(self) -> None:
        self._failures.clear()
