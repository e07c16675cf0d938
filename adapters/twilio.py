"""Twilio Messages and Calls over its REST API, with failures classified once.

Speaks the plain 2010-04-01 REST protocol with httpx (no Twilio SDK), so the
same client runs against api.twilio.com and against ``simulators.twilio``.
"""

from __future__ import annotations

from typing import Any, TypeVar
from xml.etree import ElementTree

import httpx
from pydantic import BaseModel

from adapters.errors import ProviderError
from adapters.http_api import JsonApiClient

PROVIDER = "twilio"
DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"

# <Say> needs a locale; our accounts carry ISO 639-1 codes. Unlisted codes are
# passed through, which Twilio's basic voices accept for en, es, fr and de.
_SAY_LOCALES = {
    "en": "en-US",
    "es": "es-US",
    "fr": "fr-FR",
    "de": "de-DE",
    "it": "it-IT",
    "pt": "pt-BR",
}
# Every call reports each stage so webhooks can show a live call.
_CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

_M = TypeVar("_M", bound=BaseModel)


class SmsReceipt(BaseModel):
    """What Twilio said when it accepted a message (status usually ``queued``)."""

    sid: str
    status: str


class CallReceipt(BaseModel):
    """What Twilio said when it accepted a call (status usually ``queued``)."""

    sid: str
    status: str


class MessageState(BaseModel):
    """A message's current state: queued, sent, delivered, undelivered, failed, …"""

    sid: str
    status: str
    error_code: int | None = None


class CallState(BaseModel):
    """A call's current state.

    ``status`` is one of queued, ringing, in-progress, completed, busy,
    no-answer, failed, canceled (kept a plain string so a status Twilio adds
    later does not break parsing). ``answered_by`` is only set when machine
    detection was requested; ``duration`` (seconds) once the call has ended.
    """

    sid: str
    status: str
    answered_by: str | None = None
    duration: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_CALL_STATUSES


class TwilioClient(JsonApiClient):
    """An async Twilio REST client for one account and one sending number.

    Creates carry an ``Idempotency-Key`` header derived from the caller's key.
    The simulator honours it, so a retried activity never sends twice; real
    Twilio ignores it, so against production a retry after an ambiguous
    failure (timeout) can still duplicate a message.
    """

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.status_callback_url = status_callback_url
        http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(account_sid, auth_token),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "recoup"},
        )
        super().__init__(http, name="Twilio", provider=PROVIDER)

    def callback_for(self, tenant_id: str | None) -> str | None:
        """The status callback URL; ``{tenant}`` in it is the tenant's id (webhook routes
        are per tenant, and Twilio signs the URL it posts to)."""
        if not self.status_callback_url:
            return None
        return self.status_callback_url.replace("{tenant}", tenant_id or "default")

    async def send_sms(
        self, to: str, body: str, *, idempotency_key: str, tenant_id: str | None = None
    ) -> SmsReceipt:
        form: dict[str, str | list[str]] = {"To": to, "From": self.from_number, "Body": body}
        if callback := self.callback_for(tenant_id):
            form["StatusCallback"] = callback
        data = await self._request("POST", "Messages.json", form, idempotency_key)
        return self._parse(SmsReceipt, data)

    async def place_call(
        self,
        to: str,
        say: str,
        *,
        language: str,
        idempotency_key: str,
        machine_detection: bool = True,
        tenant_id: str | None = None,
    ) -> CallReceipt:
        """Call ``to`` and speak ``say``; the outcome comes later (``get_call``)."""
        form: dict[str, str | list[str]] = {
            "To": to,
            "From": self.from_number,
            "Twiml": say_twiml(say, language),
        }
        if machine_detection:
            form["MachineDetection"] = "Enable"
        if callback := self.callback_for(tenant_id):
            form["StatusCallback"] = callback
            form["StatusCallbackEvent"] = list(_CALL_EVENTS)
        data = await self._request("POST", "Calls.json", form, idempotency_key)
        return self._parse(CallReceipt, data)

    async def get_call(self, sid: str) -> CallState:
        data = await self._request("GET", f"Calls/{sid}.json")
        # Twilio sends the duration as a string ("42"), or null while live.
        return self._parse(CallState, data)

    async def get_message(self, sid: str) -> MessageState:
        data = await self._request("GET", f"Messages/{sid}.json")
        return self._parse(MessageState, data)

    async def _request(
        self,
        method: str,
        path: str,
        form: dict[str, str | list[str]] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        url = f"/{API_VERSION}/Accounts/{self.account_sid}/{path}"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._send(method, url, path, _http_error, data=form, headers=headers)


def say_twiml(text: str, language: str) -> str:
    """``<Response><Say language="en-US">text</Say></Response>``, safely escaped."""
    response = ElementTree.Element("Response")
    say = ElementTree.SubElement(response, "Say", language=_SAY_LOCALES.get(language, language))
    say.text = text
    return ElementTree.tostring(response, encoding="unicode")


def _http_error(method: str, path: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if body.get("code") is not None:
            code = str(body["code"])
        message = str(body.get("message") or message)
    # 408/429 and 5xx pass; any other 4xx (bad number, opted out, bad
    # credentials) fails the same way every time.
    retryable = status in (408, 429) or status >= 500
    label = f"{status} {code}" if code else str(status)
    return ProviderError(
        f"Twilio {method} {path} → {label}: {message}",
        retryable=retryable,
        provider=PROVIDER,
        status_code=status,
        code=code,
    )
