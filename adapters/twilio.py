"""Twilio Messages and Calls over its REST API, with failures classified once.

Speaks the plain 2010-04-01 REST protocol with httpx (no Twilio SDK), so the
same client runs against api.twilio.com and against ``simulators.twilio``.
Besides sending, it hangs calls up and lists what the account sent (Twilio's own
records, which reconciliation compares with ours).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, TypeVar
from xml.etree import ElementTree

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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
# The largest page Twilio serves: fewest round trips for a whole listing.
MAX_PAGE_SIZE = 1000

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


def _rfc2822(value: Any) -> Any:
    """Twilio's dates ("Tue, 03 Dec 2024 10:00:00 +0000") as aware datetimes."""
    if not isinstance(value, str):
        return value
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an RFC 2822 date: {value!r}") from exc
    # "-0000" (no zone information) parses naive; Twilio means GMT by it.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Rfc2822 = Annotated[datetime, BeforeValidator(_rfc2822)]


class MessageRecord(BaseModel):
    """A Message as Twilio's list shows it: to whom, from which number, when, how far.

    ``date_sent`` is None until Twilio has handed the message on (queued, scheduled).
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    sid: str
    to: str
    from_: str = Field(alias="from")
    status: str
    date_created: Rfc2822
    date_sent: Rfc2822 | None = None


class CallRecord(BaseModel):
    """A Call as Twilio's list shows it.

    ``start_time`` is when Twilio dialled (None while queued, or if cancelled before
    dialling); ``end_time`` when it ended; ``answered_by`` only with machine detection.
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    sid: str
    to: str
    from_: str = Field(alias="from")
    status: str
    answered_by: str | None = None
    date_created: Rfc2822
    start_time: Rfc2822 | None = None
    end_time: Rfc2822 | None = None


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

    async def end_call(self, sid: str) -> CallState:
        """Hang ``sid`` up, whatever its state, and return the call as Twilio left it.

        ``Status=completed`` ends a call in progress and cancels one still queued or
        ringing (``canceled``); a call already over comes back unchanged. Not a create,
        so no idempotency key: hanging up twice is harmless.
        """
        data = await self._request("POST", f"Calls/{sid}.json", {"Status": "completed"})
        return self._parse(CallState, data)

    async def list_messages(
        self,
        *,
        to: str | None = None,
        sent_after: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[MessageRecord]:
        """Every message of the account (to ``to``), newest first, all pages.

        With ``sent_after`` (timezone-aware): those whose ``date_sent`` is at or after
        it. Twilio filters by whole UTC days (``DateSent>``), so the day narrows the
        listing and the instant is applied here, to the second: Twilio's times have
        whole seconds, so one sent earlier in that same second is kept too, and none
        sent after it is lost. Like Twilio's filter, it leaves out messages not handed
        on yet (``date_sent`` empty: queued, scheduled).
        """
        filters = {"To": to} if to is not None else {}
        if sent_after is not None:
            filters["DateSent>"] = _utc_day(sent_after, "sent_after")
        found = await self._list("Messages.json", "messages", MessageRecord, filters, page_size)
        if sent_after is None:
            return found
        since = _whole_second(sent_after)
        return [m for m in found if m.date_sent is not None and m.date_sent >= since]

    async def list_calls(
        self,
        *,
        to: str | None = None,
        started_after: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[CallRecord]:
        """Every call of the account (to ``to``), newest first, all pages.

        With ``started_after`` (timezone-aware): those whose ``start_time`` (when Twilio
        dialled) is at or after it, narrowed by day with ``StartTime>`` and applied here
        to the second, as for ``list_messages``. Calls never dialled (cancelled while
        queued) have no start time and are left out, as by Twilio's filter.
        """
        filters = {"To": to} if to is not None else {}
        if started_after is not None:
            filters["StartTime>"] = _utc_day(started_after, "started_after")
        found = await self._list("Calls.json", "calls", CallRecord, filters, page_size)
        if started_after is None:
            return found
        since = _whole_second(started_after)
        return [c for c in found if c.start_time is not None and c.start_time >= since]

    async def _list(
        self, path: str, key: str, model: type[_M], filters: dict[str, str], page_size: int
    ) -> list[_M]:
        """Follow ``next_page_uri`` from the first page to the last (where it is null)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}")
        url: str | None = f"/{API_VERSION}/Accounts/{self.account_sid}/{path}"
        query: dict[str, str] | None = filters | {"PageSize": str(page_size)}
        seen: set[str] = set()
        found: list[_M] = []
        while url is not None:
            seen.add(url)
            data = await self._send("GET", url, path, _http_error, params=query)
            items = data.get(key)
            if not isinstance(items, list):
                raise self._unexpected(f"a page without its {key!r} list", retryable=True)
            found.extend(self._parse(model, item) for item in items)
            query = None  # the next page's URI carries the whole query
            url = self._next_page(data.get("next_page_uri"), seen)
        return found

    def _next_page(self, uri: object, seen: set[str]) -> str | None:
        if uri is None:
            return None
        # A path on this API only: our credentials go with every request, so a page
        # link to another host is refused, and one already followed would never end.
        if not isinstance(uri, str) or not uri.startswith(f"/{API_VERSION}/") or uri in seen:
            raise self._unexpected(f"a next_page_uri it cannot follow: {uri!r}", retryable=False)
        return uri

    def _unexpected(self, what: str, *, retryable: bool) -> ProviderError:
        # A page without its list is a partial answer, like a garbled body; a link
        # elsewhere will be the same on a retry.
        return ProviderError(
            f"Twilio answered with {what}", retryable=retryable, provider=PROVIDER, status_code=200
        )

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


def _utc_day(moment: datetime, name: str) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC).date().isoformat()


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


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
