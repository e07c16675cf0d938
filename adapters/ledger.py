"""The creditor's CRM/ledger over its JSON REST API, with failures classified once.

Where an arrangement is booked: an adjustment posted to the account, and
reversed if the arrangement is undone (a saga's compensation). Every POST
carries the caller's idempotency key, so a retried post or reversal never
books twice. Runs against the real CRM and against ``simulators.crm``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from adapters.errors import ProviderError
from adapters.http_api import JsonApiClient, bearer_http

PROVIDER = "ledger"

_M = TypeVar("_M", bound=BaseModel)


class Adjustment(BaseModel):
    """An adjustment as the CRM reports it; ``status`` is ``posted`` or ``reversed``."""

    id: str
    account_id: str
    kind: str
    amount: Decimal
    currency: str
    reference: str
    memo: str
    status: str
    created_at: datetime
    reversed_at: datetime | None = None
    reversal_reason: str | None = None


class _AdjustmentList(BaseModel):
    data: list[Adjustment]


class LedgerClient(JsonApiClient):
    """An async client for one CRM tenant's ledger API."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        super().__init__(bearer_http(base_url, api_key, timeout), name="ledger", provider=PROVIDER)

    async def post_adjustment(
        self,
        *,
        account_id: str,
        kind: str,
        amount: Decimal,
        currency: str,
        reference: str,
        memo: str,
        idempotency_key: str,
    ) -> Adjustment:
        """Book ``amount`` against ``account_id``; the CRM validates kind and amount."""
        body = {
            "kind": kind,
            # A decimal string, never a float: "1234.50" must arrive as written.
            "amount": f"{amount:f}",
            "currency": currency,
            "reference": reference,
            "memo": memo,
        }
        path = f"/v1/accounts/{_segment(account_id)}/adjustments"
        return self._parse(Adjustment, await self._request("POST", path, body, idempotency_key))

    async def reverse_adjustment(
        self, adjustment_id: str, *, reason: str, idempotency_key: str
    ) -> Adjustment:
        """Undo an adjustment; reversing a reversed one returns it unchanged."""
        path = f"/v1/adjustments/{_segment(adjustment_id)}/reversal"
        data = await self._request("POST", path, {"reason": reason}, idempotency_key)
        return self._parse(Adjustment, data)

    async def adjustments(self, account_id: str) -> list[Adjustment]:
        data = await self._request("GET", f"/v1/accounts/{_segment(account_id)}/adjustments")
        return self._parse(_AdjustmentList, data).data

    async def account(self, account_id: str) -> dict[str, Any] | None:
        """The CRM's record of ``account_id`` (balance, currency, …), None if unknown."""
        try:
            return await self._request("GET", f"/v1/accounts/{_segment(account_id)}")
        except ProviderError as err:
            if err.status_code == 404:
                return None
            raise

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._send(method, path, path, _http_error, json=body, headers=headers)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _http_error(method: str, path: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        if error.get("code") is not None:
            code = str(error["code"])
        message = str(error.get("message") or message)
        if error.get("field"):
            message += f" (field: {error['field']})"
    # 5xx, 429 and 408 pass; any other 4xx (bad token, invalid adjustment,
    # idempotency key reused for another request) fails the same way every time.
    retryable = status in (408, 429) or status >= 500
    label = f"{status} {code}" if code else str(status)
    return ProviderError(
        f"ledger {method} {path} → {label}: {message}",
        retryable=retryable,
        provider=PROVIDER,
        status_code=status,
        code=code,
    )
