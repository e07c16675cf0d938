"""The creditor's CRM record of an account, read over its JSON REST API for the research agent.

``GET {base_url}{path}`` with ``Authorization: Bearer {api_key}``; ``path`` is a
template (default ``/v1/accounts/{account_id}``, the CRM/ledger API that
``adapters.ledger`` books arrangements on) and may name ``{tenant_id}`` for a CRM that
scopes accounts by creditor (``/v1/tenants/{tenant_id}/accounts/{account_id}``).
Runs against the real CRM and against ``simulators.crm``.

A record is read leniently: CRMs are edited by hand, so an unknown channel, a date that
is not a date or a missing field becomes "not known", never an error; fields this client
does not know are ignored.

Public surface
--------------

``CrmRecords(base_url, api_key, timeout=10.0, path=DEFAULT_PATH)``
    An async context manager; ``aclose`` releases the connection pool.

``await record(tenant_id, account_id) -> CrmRecord | None``
    The record, or None when the CRM does not know the account (404).

Every other failure is a ``CrmUnavailable`` (an ``adapters.errors.ProviderError`` with
``provider="crm"``): ``retryable`` True for timeouts, refused connections, 408, 429,
5xx and an answer that is no JSON object; False for any other 4xx (a bad key, no access),
which no retry mends.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from adapters.errors import ProviderError
from adapters.http_api import JsonApiClient, bearer_http
from domain.channels import Channel

PROVIDER = "crm"
DEFAULT_PATH = "/v1/accounts/{account_id}"
DEFAULT_TIMEOUT = 10.0
_NOTE_MAX = 300
_NOTES_MAX = 10

_CHANNEL_ALIASES = {
    "email": Channel.EMAIL,
    "e-mail": Channel.EMAIL,
    "mail": Channel.EMAIL,
    "sms": Channel.SMS,
    "text": Channel.SMS,
    "phone": Channel.PHONE,
    "call": Channel.PHONE,
    "voice": Channel.PHONE,
}


class CrmUnavailable(ProviderError):
    """The CRM did not answer with a record or a 404; ``retryable`` says if it may later."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message, retryable=retryable, provider=PROVIDER, status_code=status_code, code=code
        )


class CrmRecord(BaseModel):
    """What the creditor's CRM knows about an account, as far as research uses it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str
    balance: Decimal | None = None
    currency: str | None = None
    preferred_channel: Channel | None = None
    preferred_contact_time: str | None = None
    language: str | None = None
    do_not_call: bool = False
    dispute_on_file: bool = False
    hardship_on_file: bool = False
    notes: list[str] = []
    customer_since: date | None = None

    @field_validator("balance", mode="before")
    @classmethod
    def _balance(cls, value: Any) -> Decimal | None:
        try:
            return None if value is None else Decimal(str(value))
        except InvalidOperation:
            return None

    @field_validator("preferred_channel", mode="before")
    @classmethod
    def _channel(cls, value: Any) -> Channel | None:
        if not isinstance(value, str):
            return None
        return _CHANNEL_ALIASES.get(value.strip().lower())

    @field_validator("currency", "preferred_contact_time", "language", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()[:100]

    @field_validator("do_not_call", "dispute_on_file", "hardship_on_file", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool:
        # A flag the CRM stores as text ("Y", "true") counts; anything unclear is False.
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.strip().lower() in {"y", "yes", "true", "1"}
        return bool(value == 1)

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        notes = [" ".join(str(n).split())[:_NOTE_MAX] for n in items if isinstance(n, str)]
        return [n for n in notes if n][:_NOTES_MAX]

    @field_validator("customer_since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> date | None:
        if not isinstance(value, str):
            return None
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None


class CrmRecords(JsonApiClient):
    """An async client for the creditor's CRM records."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        path: str = DEFAULT_PATH,
    ) -> None:
        if "{account_id}" not in path:
            raise ValueError("path must contain {account_id}")
        super().__init__(bearer_http(base_url, api_key, timeout), name="CRM", provider=PROVIDER)
        self._path = path

    async def record(self, tenant_id: str, account_id: str) -> CrmRecord | None:
        """The CRM's record of ``account_id``; None if the CRM does not know it."""
        path = self._path.format(tenant_id=_segment(tenant_id), account_id=_segment(account_id))
        try:
            data = await self._send("GET", path, path, _http_error)
        except CrmUnavailable as err:
            if err.status_code == 404:
                return None
            raise
        except ProviderError as err:
            # Transport failures and unreadable bodies, as the base classifies them.
            raise CrmUnavailable(
                str(err), retryable=err.retryable, status_code=err.status_code
            ) from err
        try:
            return CrmRecord.model_validate({**data, "account_id": account_id})
        except ValidationError as err:
            # The validators make almost anything readable; what is left will not change.
            raise CrmUnavailable(f"unexpected CRM record: {err}", retryable=False) from err


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
    # 5xx, 429 and 408 pass; any other 4xx (bad token, no access) fails every time.
    retryable = status in (408, 429) or status >= 500
    label = f"{status} {code}" if code else str(status)
    return CrmUnavailable(
        f"CRM {method} {path} → {label}: {message}",
        retryable=retryable,
        status_code=status,
        code=code,
    )
