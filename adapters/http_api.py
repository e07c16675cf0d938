"""What the HTTP provider clients share: a connection pool, a span per request, failures.

Twilio, the payment provider and the creditor's ledger differ in URLs, bodies and
error formats, which each client keeps; how a transport failure, a garbled answer
or an unexpected resource is reported is the same for all three.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from adapters.errors import ProviderError
from adapters.telemetry import tracer

_M = TypeVar("_M", bound=BaseModel)
HttpError = Callable[[str, str, httpx.Response], ProviderError]


def bearer_http(base_url: str, api_key: str, timeout: float) -> httpx.AsyncClient:
    """An httpx client for a JSON API that takes a bearer key (payments, ledger)."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        headers={
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": "recoup",
        },
    )


class JsonApiClient:
    """Base of a provider client: ``name`` in messages, ``provider`` on its errors."""

    def __init__(self, http: httpx.AsyncClient, *, name: str, provider: str) -> None:
        self._http = http
        self._name = name
        self._provider = provider

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self, method: str, url: str, path: str, http_error: HttpError, **kwargs: Any
    ) -> dict[str, Any]:
        """Make the request; return its JSON object or raise ``ProviderError``.

        ``path`` names the call in messages; ``http_error`` reads the provider's
        own error body for a non-2xx answer.
        """
        # One CLIENT span per request; the provider gets its W3C ``traceparent``.
        with tracer.start_as_current_span(
            f"{self._provider} {method}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "server.address": self._http.base_url.host,
                "recoup.provider": self._provider,
                "recoup.call": path,
            },
        ) as span:
            headers = dict(kwargs.pop("headers", None) or {})
            inject(headers)
            try:
                response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                # Timeouts, refused/reset connections, protocol errors: transient, and
                # safe to retry because every create carries an idempotency key.
                raise ProviderError(
                    f"{self._name} {method} {path}: {type(exc).__name__}: {exc}",
                    retryable=True,
                    provider=self._provider,
                ) from exc
            span.set_attribute("http.response.status_code", response.status_code)
            if not response.is_success:
                raise http_error(method, path, response)
            try:
                data = response.json()
            except ValueError as exc:
                raise self._garbled(response) from exc
            if not isinstance(data, dict):
                raise self._garbled(response)
            return data

    def _garbled(self, response: httpx.Response) -> ProviderError:
        # A 2xx without a JSON object comes from a proxy or a partial outage, not
        # from the provider's API; creates are idempotent, so retrying is safe.
        return ProviderError(
            f"{self._name} answered {response.status_code} with an unreadable body",
            retryable=True,
            provider=self._provider,
            status_code=response.status_code,
        )

    def _parse(self, model: type[_M], data: dict[str, Any]) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ProviderError(
                f"unexpected {self._name} resource: {exc}",
                retryable=True,
                provider=self._provider,
            ) from exc
