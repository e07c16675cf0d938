"""Provider webhooks: SMS and voice (Twilio), email events, payments (Stripe), letters (Lob).

Every webhook lives under ``/v1/webhooks/{tenant_id}/`` and is checked in this order:

1. **Signature** (``api.signatures``), before anything else, so an unsigned probe
   learns nothing (not even whether the tenant exists). Missing, malformed,
   mismatching or stale: 401 problem+json naming the header, with the reason.
2. **Tenant**: unknown → 404 (field ``tenant_id``).
3. **Payload**: not what the provider sends → 422 naming the field.
4. **Tenant binding**: Twilio signs the URL, which holds the tenant. Stripe, Lob and
   email events sign only the body, so the body must name the tenant (the payment
   link's or the letter's ``metadata.tenant_id``, the email event's ``tenant_id``). An
   event of another tenant is answered 200 (a provider delivering every event to every
   endpoint must not retry it) and ignored.
5. **Exactly once**: the provider's event id (Twilio: ``MessageSid``, or
   ``MessageSid:MessageStatus`` / ``CallSid:CallStatus`` for status callbacks) is
   recorded before the campaign is told; a redelivery is answered 200
   ``{"duplicate": true}`` and changes nothing. Providers retry on non-2xx, so a
   duplicate must be 2xx. If Temporal cannot take the signal (503), the record
   is released so the provider's retry is not mistaken for a duplicate.

Routes (all POST):

- ``twilio/sms/inbound``: a debtor's SMS. A body that is one opt-out keyword (STOP,
  QUIT, CANCEL, END, UNSUBSCRIBE, STOPALL, REVOKE, OPTOUT; the whole body, trimmed,
  case-insensitive, as Twilio's own opt-out handling matches; a trailing ``.`` or
  ``!`` is tolerated, as ``domain.replies`` does) opts the sending number out of SMS
  at once on every account of the tenant it reaches; any other text is a reply
  (``reply_id`` = the MessageSid) to each of them. Answered with empty TwiML.
- ``twilio/sms/status`` and ``twilio/voice/status``: status callbacks. Recorded and
  counted (the campaign learns a send's outcome from the channel agent, not from
  callbacks), except a message that failed with Twilio error 21610 (the recipient
  texted STOP to our number earlier): that number is opted out of SMS. The Twilio
  adapter gives messages and calls one ``StatusCallback`` URL, so both routes
  accept both kinds.
- ``email``: ``X-Recoup-Email-Signature`` (Stripe's scheme, the email webhook
  secret) over a JSON event ``{id, type, tenant_id, email, bounce_type, text,
  occurred_at}``: a hard bounce or a complaint opts the address out of email; a
  soft bounce is only counted; a reply is recorded on every account the address
  reaches.
- ``payments``: ``Stripe-Signature`` over a Stripe event.
  ``checkout.session.completed`` (paid) and ``checkout.session.async_payment_succeeded``
  carry the payment link's metadata (``tenant_id``, ``account_id``: what
  ``activities.payments`` puts there) and record a payment with
  ``payment_id`` = the PaymentIntent id, so the two events of one checkout count
  once. ``payment_intent.succeeded`` counts when it carries that metadata; other
  types are acknowledged and ignored.

- ``lob``: ``Lob-Signature`` (hex HMAC-SHA256 with the Lob webhook secret over
  ``"{Lob-Signature-Timestamp}.{raw body}"``, the timestamp within the tolerance) over a
  Lob event ``{id, event_type: {id}, body: <letter>}``; the letter's metadata (what
  ``activities.letter`` puts there) names the tenant, the account and the address's
  ledger key (``to``). ``letter.returned_to_sender`` opts that address out of letters
  (mail came back: the address is not usable); ``letter.delivered`` and the other
  tracking events (``letter.mailed``, ``letter.in_transit``, …) are recorded and
  counted, once per Lob event id.

Metrics: ``recoup_webhooks_total{provider,kind,outcome}`` for every event acted on or
acknowledged, ``recoup_webhooks_rejected_total{provider,reason}`` for every one not
acted on (signature reasons, ``unknown_tenant``, ``invalid``, ``too_large``,
``tenant_mismatch``, ``replayed``, ``unavailable``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.problems import InvalidParam, Problem, problem_response
from api.signatures import (
    EMAIL_HEADER,
    STRIPE_HEADER,
    TWILIO_HEADER,
    SignatureError,
    verify_stripe,
    verify_twilio,
)
from domain.account import EmailAddress, Tenant
from domain.channels import Channel
from domain.errors import dotted
from domain.replies import is_stop_keyword
from service import models as m
from service.letters import SIGNATURE_HEADER as LOB_HEADER
from service.letters import TIMESTAMP_HEADER as LOB_TIMESTAMP_HEADER
from service.letters import LobSignatureError, one_line
from service.letters import verify_signature as verify_lob_signature
from service.operations import RecoupService, ServiceError, Unavailable
from service.payments import from_minor_units

log = logging.getLogger(__name__)

Provider = Literal["twilio", "email", "payments", "lob"]

WEBHOOKS = Counter(
    "recoup_webhooks",
    "Provider webhooks accepted, by provider, kind and what came of them",
    ["provider", "kind", "outcome"],
)
WEBHOOKS_REJECTED = Counter(
    "recoup_webhooks_rejected",
    "Provider webhooks not acted on (bad signature, unknown tenant, replay, ...), by reason",
    ["provider", "reason"],
)

MAX_BODY_BYTES = 1 << 20
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
DUPLICATE_HEADER = "X-Recoup-Duplicate"
# Twilio: "Attempt to send to unsubscribed recipient" (the number texted STOP to us).
TWILIO_UNSUBSCRIBED = "21610"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_NOT_ID = re.compile(r"[^A-Za-z0-9._:-]+")
_PAID_CHECKOUT = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 404, 413, 422, 503)
}


# --- bodies ----------------------------------------------------------------------


class WebhookAck(BaseModel):
    """What a webhook answers (Twilio's inbound messages get empty TwiML instead)."""

    accepted: bool = True
    duplicate: bool = False
    kind: str
    outcome: str = Field(
        description="signalled, recorded, unmatched (no account has the address), "
        "no_campaign (none running), ignored, tenant_mismatch."
    )
    accounts: int = Field(default=0, description="Campaigns told.")


class EmailEvent(BaseModel):
    """An email event, as the email provider (or its relay) posts it."""

    id: str = Field(min_length=1, max_length=200, description="Unique; a redelivery repeats it.")
    type: Literal["bounce", "complaint", "reply"]
    tenant_id: str = Field(min_length=1, max_length=128)
    email: EmailAddress = Field(
        description="The debtor's address: the recipient of a bounced or complained-of "
        "message, the sender of a reply."
    )
    bounce_type: Literal["hard", "soft"] = "hard"
    text: str | None = Field(default=None, max_length=10_000, description="A reply's text.")
    occurred_at: datetime | None = None

    @model_validator(mode="after")
    def _reply_has_text(self) -> EmailEvent:
        if self.type == "reply" and not (self.text and self.text.strip()):
            raise ValueError("a reply needs a non-empty text")
        return self


class _StripeObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: str
    metadata: dict[str, str] = Field(default_factory=dict)
    currency: str | None = None
    amount_total: int | None = None  # checkout.session
    amount_received: int | None = None  # payment_intent
    payment_intent: str | None = None
    payment_status: str | None = None


class _StripeData(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: dict[str, Any]


class StripeEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    type: str
    created: int
    data: _StripeData


class _LobEventType(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=100)


class _LobLetter(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    to: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)


class LobEvent(BaseModel):
    """A Lob webhook event: its id, its type and the resource (a letter) as it is now."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200, description="Unique; a redelivery repeats it.")
    event_type: _LobEventType
    body: dict[str, Any]
    date_created: str | None = None


# --- outcomes ------------------------------------------------------------------


class _Rejection(Exception):
    """A webhook answered with a problem and counted under ``reason``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        reason: str,
        *,
        field: str | None = None,
        invalid: list[InvalidParam] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.reason = reason
        self.field = field
        self.invalid = invalid or []


Signal = Callable[[str], Awaitable[m.Accepted]]


class _Receiver:
    def __init__(self, service: RecoupService) -> None:
        self.service = service
        self._tenants: dict[str, Tenant] = {}

    # --- Twilio --------------------------------------------------------------

    async def twilio_status(self, request: Request, tenant_id: str) -> Response:
        return await self._guard(request, "twilio", lambda: self._twilio_status(request, tenant_id))

    async def twilio_inbound(self, request: Request, tenant_id: str) -> Response:
        return await self._guard(
            request, "twilio", lambda: self._twilio_inbound(request, tenant_id)
        )

    async def _twilio_params(
        self, request: Request, tenant_id: str
    ) -> tuple[Tenant, dict[str, str]]:
        self._check_size(request)
        try:
            form = await request.form()
        except Exception as exc:  # a body the form parser refuses
            raise _Rejection(
                400, "Bad request", f"the body is not form-encoded: {exc}", "invalid"
            ) from exc
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        settings = self.service.settings
        try:
            verify_twilio(
                settings.twilio_auth_token,
                self._public_url(request),
                pairs,
                request.headers.get(TWILIO_HEADER),
            )
        except SignatureError as exc:
            raise _signature_rejection(exc, TWILIO_HEADER) from exc
        tenant = await self._tenant(tenant_id)
        return tenant, dict(pairs)

    async def _twilio_status(self, request: Request, tenant_id: str) -> Response:
        tenant, params = await self._twilio_params(request, tenant_id)
        message_sid = params.get("MessageSid") or params.get("SmsSid")
        if message_sid:
            status = params.get("MessageStatus") or params.get("SmsStatus")
            if not status:
                raise _missing("MessageStatus")
            kind, event_id = "sms_status", f"{message_sid}:{status}"
            unsubscribed = params.get("ErrorCode") == TWILIO_UNSUBSCRIBED
            if status not in {"failed", "undelivered"} or not unsubscribed:
                return await self._record("twilio", tenant, kind, event_id)
            to = params.get("To")
            if not to:
                raise _missing("To")
            accounts = await self._accounts(tenant, to)
            opt_out = m.OptOutIn(
                channel=Channel.SMS, address=to, reason="SMS unsubscribed (Twilio 21610)"
            )
            signals = [self._opt_out("twilio", tenant, opt_out, event_id)] * len(accounts)
            return await self._deliver("twilio", tenant, kind, event_id, accounts, signals)
        call_sid = params.get("CallSid")
        if call_sid:
            status = params.get("CallStatus")
            if not status:
                raise _missing("CallStatus")
            return await self._record("twilio", tenant, "voice_status", f"{call_sid}:{status}")
        raise _missing("MessageSid", "a status callback names a MessageSid or a CallSid")

    async def _twilio_inbound(self, request: Request, tenant_id: str) -> Response:
        tenant, params = await self._twilio_params(request, tenant_id)
        sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
        if not sid:
            raise _missing("MessageSid")
        sender = params.get("From")
        if not sender:
            raise _missing("From")
        text = params.get("Body", "")
        if not text.strip():
            media = params.get("NumMedia", "0")
            if media in {"", "0"}:
                ack = await self._ignored("twilio", "sms_inbound", "an empty message")
                return _twiml(ack)
            text = f"[a message with {media} media attachment(s) and no text]"
        accounts = await self._accounts(tenant, sender)
        if is_stop_keyword(text):
            body = m.OptOutIn(
                channel=Channel.SMS, address=sender, reason=f"SMS keyword {text.strip()[:20]}"
            )
            signals = [self._opt_out("twilio", tenant, body, sid)] * len(accounts)
            ack = await self._deliver_ack("twilio", tenant, "sms_stop", sid, accounts, signals)
        else:
            reply = m.ReplyIn(
                reply_id=_identifier(sid),
                channel=Channel.SMS,
                text=text[:10_000],
                from_address=sender,
                received_at=datetime.now(UTC),
            )
            signals = [self._reply("twilio", tenant, reply)] * len(accounts)
            ack = await self._deliver_ack("twilio", tenant, "sms_inbound", sid, accounts, signals)
        return _twiml(ack)

    # --- email -----------------------------------------------------------------

    async def email(self, request: Request, tenant_id: str) -> Response:
        return await self._guard(request, "email", lambda: self._email(request, tenant_id))

    async def _email(self, request: Request, tenant_id: str) -> Response:
        secret = self.service.settings.email_webhook_secret.get_secret_value()
        tenant, body = await self._signed_json(request, tenant_id, secret, EMAIL_HEADER)
        event = _parse(EmailEvent, body)
        kind = f"email_{event.type}"
        if event.tenant_id != tenant.tenant_id:
            return self._other_tenant("email", kind, "tenant_id")
        if event.type == "bounce" and event.bounce_type == "soft":
            return JSONResponse((await self._ignored("email", kind, "a soft bounce")).model_dump())
        accounts = await self._accounts(tenant, event.email)
        if event.type == "reply":
            assert event.text is not None
            reply = m.ReplyIn(
                reply_id=_identifier(event.id),
                channel=Channel.EMAIL,
                text=event.text,
                from_address=event.email,
                received_at=event.occurred_at or datetime.now(UTC),
            )
            signals = [self._reply("email", tenant, reply)] * len(accounts)
        else:
            reason = "hard bounce" if event.type == "bounce" else "spam complaint"
            opt_out = m.OptOutIn(channel=Channel.EMAIL, address=event.email, reason=reason)
            signals = [self._opt_out("email", tenant, opt_out, event.id)] * len(accounts)
        return await self._deliver("email", tenant, kind, event.id, accounts, signals)

    # --- payments ----------------------------------------------------------------

    async def payments(self, request: Request, tenant_id: str) -> Response:
        return await self._guard(request, "payments", lambda: self._payments(request, tenant_id))

    async def _payments(self, request: Request, tenant_id: str) -> Response:
        secret = self.service.settings.payments_webhook_secret.get_secret_value()
        tenant, body = await self._signed_json(request, tenant_id, secret, STRIPE_HEADER)
        event = _parse(StripeEvent, body)
        if event.type not in _PAID_CHECKOUT and event.type != "payment_intent.succeeded":
            ack = await self._ignored("payments", "other", f"event type {event.type}")
            return JSONResponse(ack.model_dump())
        try:
            obj = _StripeObject.model_validate(event.data.object)
        except ValidationError as exc:
            raise _validation(exc, prefix="data.object") from exc
        if event.type in _PAID_CHECKOUT:
            if event.type == "checkout.session.completed" and obj.payment_status != "paid":
                # Delayed methods complete unpaid; async_payment_succeeded follows.
                ack = await self._ignored("payments", "checkout", "a checkout not yet paid")
                return JSONResponse(ack.model_dump())
            minor, amount_field = obj.amount_total, "data.object.amount_total"
            payment_id = obj.payment_intent or obj.id
        else:  # payment_intent.succeeded
            minor, amount_field = obj.amount_received, "data.object.amount_received"
            payment_id = obj.id
        kind = "payment"
        tenant_of_event = obj.metadata.get("tenant_id")
        account_id = obj.metadata.get("account_id")
        if tenant_of_event is None or account_id is None:
            # Not a payment for one of our links (the provider account may serve more).
            ack = await self._ignored("payments", kind, "no tenant_id/account_id metadata")
            return JSONResponse(ack.model_dump())
        if tenant_of_event != tenant.tenant_id:
            return self._other_tenant("payments", kind, "data.object.metadata.tenant_id")
        if minor is None or minor <= 0:
            raise _invalid(amount_field, "a paid event needs a positive amount")
        if not obj.currency:
            raise _invalid("data.object.currency", "a paid event names its currency")
        try:
            payment = m.PaymentIn(
                payment_id=_identifier(payment_id),
                amount=from_minor_units(minor, obj.currency).quantize(Decimal("0.01")),
                currency=obj.currency.upper(),
                paid_at=datetime.fromtimestamp(event.created, UTC),
            )
        except ValidationError as exc:
            raise _validation(exc, prefix="data.object") from exc

        async def record(account: str) -> m.Accepted:
            # No currency check: the payment link was made in the account's currency,
            # and refusing a paid event would only make the provider send it again.
            return await self.service.record_payment(
                tenant, account, payment, source="webhook", check_currency=False
            )

        return await self._deliver("payments", tenant, kind, event.id, [account_id], [record])

    # --- letters (Lob) -------------------------------------------------------------

    async def lob(self, request: Request, tenant_id: str) -> Response:
        return await self._guard(request, "lob", lambda: self._lob(request, tenant_id))

    async def _lob(self, request: Request, tenant_id: str) -> Response:
        self._check_size(request)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
        settings = self.service.settings
        try:
            verify_lob_signature(
                settings.lob_webhook_secret.get_secret_value(),
                request.headers.get(LOB_TIMESTAMP_HEADER),
                body,
                request.headers.get(LOB_HEADER),
                settings.webhook_tolerance_seconds,
            )
        except LobSignatureError as exc:
            raise _signature_rejection(SignatureError(exc.reason, exc.detail), LOB_HEADER) from exc
        tenant = await self._tenant(tenant_id)
        event = _parse(LobEvent, body)
        event_type = event.event_type.id
        if not event_type.startswith("letter."):
            ack = await self._ignored("lob", "other", f"event type {event_type}")
            return JSONResponse(ack.model_dump())
        kind = event_type.replace(".", "_").replace("-", "_")[:64]
        try:
            letter = _LobLetter.model_validate(event.body)
        except ValidationError as exc:
            raise _validation(exc, prefix="body") from exc
        tenant_of_letter = letter.metadata.get("tenant_id")
        account_id = letter.metadata.get("account_id")
        if tenant_of_letter is None or account_id is None:
            # Not a letter Recoup sent (the Lob account may serve more than Recoup).
            ack = await self._ignored("lob", kind, "no tenant_id/account_id metadata")
            return JSONResponse(ack.model_dump())
        if tenant_of_letter != tenant.tenant_id:
            return self._other_tenant("lob", kind, "body.metadata.tenant_id")
        if event_type != "letter.returned_to_sender":
            # Delivered, mailed, in transit, …: the campaign counted the letter when it
            # was handed over; its progress is recorded and counted here.
            return await self._record("lob", tenant, kind, event.id)
        # The post office could not deliver it: that address is not used again. The
        # ledger's key for it travels in the metadata; Lob may standardise the address
        # it shows (upper case, abbreviations), which would not match the key.
        address = letter.metadata.get("to") or one_line(letter.to)
        if not address:
            raise _missing("body.metadata.to", "a returned letter names its address")
        opt_out = m.OptOutIn(
            channel=Channel.LETTER,
            address=address[:320],
            reason=f"letter {letter.id} returned to sender (Lob)",
        )
        signal = self._opt_out("lob", tenant, opt_out, event.id)
        return await self._deliver("lob", tenant, kind, event.id, [account_id], [signal])

    # --- shared steps ----------------------------------------------------------------

    async def _guard(
        self, request: Request, provider: Provider, work: Callable[[], Awaitable[Response]]
    ) -> Response:
        try:
            return await work()
        except _Rejection as exc:
            WEBHOOKS_REJECTED.labels(provider, exc.reason).inc()
            log.warning(
                "%s webhook %s rejected (%s): %s",
                provider,
                request.url.path,
                exc.reason,
                exc.detail,
            )
            headers = {"Retry-After": "5"} if exc.status == 503 else None
            return problem_response(
                request,
                exc.status,
                exc.title,
                exc.detail,
                field=exc.field,
                invalid=exc.invalid,
                headers=headers,
            )

    def _check_size(self, request: Request) -> None:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise _too_large()

    async def _signed_json(
        self, request: Request, tenant_id: str, secret: str, header: str
    ) -> tuple[Tenant, bytes]:
        self._check_size(request)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
        try:
            verify_stripe(
                secret,
                body,
                request.headers.get(header),
                self.service.settings.webhook_tolerance_seconds,
                time.time(),
                header_name=header,
            )
        except SignatureError as exc:
            raise _signature_rejection(exc, header) from exc
        return await self._tenant(tenant_id), body

    def _public_url(self, request: Request) -> str:
        """The URL the provider posted to, as it saw it (behind a proxy too)."""
        query = request.url.query
        return self.service.settings.api_url + request.url.path + (f"?{query}" if query else "")

    async def _tenant(self, tenant_id: str) -> Tenant:
        # Tenants are never deleted or renamed (the tenant store has no such operation),
        # so a tenant found once is remembered: a webhook saves a database read and a
        # thread hop. Unknown ids are not remembered: a tenant created later is found.
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = await asyncio.to_thread(self.service.tenants.get_tenant, tenant_id)
        if tenant is None:
            raise _Rejection(
                404, "Not found", f"no tenant {tenant_id!r}", "unknown_tenant", field="tenant_id"
            )
        self._tenants[tenant_id] = tenant
        return tenant

    async def _accounts(self, tenant: Tenant, address: str) -> list[str]:
        return await asyncio.to_thread(self.service.inbound.accounts_for, tenant.tenant_id, address)

    def _opt_out(
        self, provider: Provider, tenant: Tenant, body: m.OptOutIn, event_id: str
    ) -> Signal:
        async def signal(account: str) -> m.Accepted:
            return await self.service.opt_out(
                tenant, account, body, source=f"webhook:{provider}", ref=event_id
            )

        return signal

    def _reply(self, provider: Provider, tenant: Tenant, body: m.ReplyIn) -> Signal:
        async def signal(account: str) -> m.Accepted:
            return await self.service.record_reply(
                tenant, account, body, source=f"webhook:{provider}"
            )

        return signal

    async def _ignored(self, provider: Provider, kind: str, why: str) -> WebhookAck:
        log.info("%s webhook %s acknowledged and ignored: %s", provider, kind, why)
        WEBHOOKS.labels(provider, kind, "ignored").inc()
        return WebhookAck(kind=kind, outcome="ignored")

    def _other_tenant(self, provider: Provider, kind: str, field: str) -> Response:
        WEBHOOKS_REJECTED.labels(provider, "tenant_mismatch").inc()
        log.warning("%s webhook %s names another tenant in %s: ignored", provider, kind, field)
        ack = WebhookAck(accepted=False, kind=kind, outcome="tenant_mismatch")
        return JSONResponse(ack.model_dump())

    async def _claim(self, provider: Provider, tenant: Tenant, kind: str, event_id: str) -> bool:
        first = await asyncio.to_thread(
            self.service.inbound.first_receipt, provider, event_id, tenant.tenant_id, kind
        )
        if not first:
            WEBHOOKS_REJECTED.labels(provider, "replayed").inc()
            log.info("%s webhook %s %s is a redelivery: ignored", provider, kind, event_id)
        return first

    async def _record(
        self, provider: Provider, tenant: Tenant, kind: str, event_id: str
    ) -> Response:
        if not await self._claim(provider, tenant, kind, event_id):
            return JSONResponse(
                WebhookAck(duplicate=True, kind=kind, outcome="duplicate").model_dump()
            )
        WEBHOOKS.labels(provider, kind, "recorded").inc()
        return JSONResponse(WebhookAck(kind=kind, outcome="recorded").model_dump())

    async def _deliver(
        self,
        provider: Provider,
        tenant: Tenant,
        kind: str,
        event_id: str,
        accounts: Sequence[str],
        signals: Sequence[Signal],
    ) -> Response:
        ack = await self._deliver_ack(provider, tenant, kind, event_id, accounts, signals)
        return JSONResponse(ack.model_dump())

    async def _deliver_ack(
        self,
        provider: Provider,
        tenant: Tenant,
        kind: str,
        event_id: str,
        accounts: Sequence[str],
        signals: Sequence[Signal],
    ) -> WebhookAck:
        """Claim the event, then tell each account's campaign; once per event id."""
        if not await self._claim(provider, tenant, kind, event_id):
            return WebhookAck(duplicate=True, kind=kind, outcome="duplicate")
        results = await asyncio.gather(
            *(signal(account) for account, signal in zip(accounts, signals, strict=True)),
            return_exceptions=True,
        )
        told = 0
        for result in results:
            if isinstance(result, Unavailable):
                # Let the provider's retry through: it must not read as a duplicate.
                await asyncio.to_thread(self.service.inbound.release, provider, event_id)
                raise _Rejection(
                    503, "Temporal is unavailable", result.detail, "unavailable"
                ) from result
            if isinstance(result, ServiceError):
                continue  # that account's campaign has finished or never ran
            if isinstance(result, BaseException):
                await asyncio.to_thread(self.service.inbound.release, provider, event_id)
                raise result
            told += 1
        outcome = "signalled" if told else "no_campaign" if accounts else "unmatched"
        WEBHOOKS.labels(provider, kind, outcome).inc()
        return WebhookAck(kind=kind, outcome=outcome, accounts=told)


def webhooks_router(service: RecoupService) -> APIRouter:
    """The provider webhooks of ``service``'s deployment (no API key: signatures instead)."""
    receiver = _Receiver(service)
    router = APIRouter(prefix="/v1/webhooks/{tenant_id}", tags=["webhooks"], responses=_PROBLEMS)
    twiml = {200: {"content": {"text/xml": {}}, "description": "Empty TwiML"}}
    ack: dict[int | str, dict[str, Any]] = {200: {"model": WebhookAck}}

    @router.post(
        "/twilio/sms/inbound",
        summary="Twilio: a debtor's SMS (X-Twilio-Signature)",
        response_class=Response,
        responses=cast(dict[int | str, dict[str, Any]], twiml),
    )
    async def twilio_sms_inbound(request: Request, tenant_id: str) -> Response:
        """STOP-family keywords opt the number out of SMS; other text is a reply.

        Answers empty TwiML; a redelivered MessageSid also carries
        ``X-Recoup-Duplicate: true`` and changes nothing.
        """
        return await receiver.twilio_inbound(request, tenant_id)

    @router.post(
        "/twilio/sms/status",
        summary="Twilio: message status callback (X-Twilio-Signature)",
        response_class=JSONResponse,
        responses=ack,
    )
    async def twilio_sms_status(request: Request, tenant_id: str) -> Response:
        return await receiver.twilio_status(request, tenant_id)

    @router.post(
        "/twilio/voice/status",
        summary="Twilio: call status callback (X-Twilio-Signature)",
        response_class=JSONResponse,
        responses=ack,
    )
    async def twilio_voice_status(request: Request, tenant_id: str) -> Response:
        return await receiver.twilio_status(request, tenant_id)

    @router.post(
        "/email",
        summary="Email events: bounce, complaint, reply (X-Recoup-Email-Signature)",
        response_class=JSONResponse,
        responses=ack,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EmailEvent.model_json_schema()}},
            }
        },
    )
    async def email(request: Request, tenant_id: str) -> Response:
        return await receiver.email(request, tenant_id)

    @router.post(
        "/payments",
        summary="Payment events, Stripe-compatible (Stripe-Signature)",
        response_class=JSONResponse,
        responses=ack,
    )
    async def payments(request: Request, tenant_id: str) -> Response:
        return await receiver.payments(request, tenant_id)

    @router.post(
        "/lob",
        summary="Lob: letter events, delivered, returned to sender, … (Lob-Signature)",
        response_class=JSONResponse,
        responses=ack,
    )
    async def lob(request: Request, tenant_id: str) -> Response:
        """``letter.returned_to_sender`` opts the letter's address out of letters; the
        other letter events are recorded, once per Lob event id."""
        return await receiver.lob(request, tenant_id)

    return router


# --- helpers ----------------------------------------------------------------------


def _twiml(ack: WebhookAck) -> Response:
    headers = {DUPLICATE_HEADER: "true"} if ack.duplicate else None
    return Response(EMPTY_TWIML, media_type="text/xml", headers=headers)


def _identifier(raw: str) -> str:
    """A provider id as our Identifier: as is when it fits, else readable and unique."""
    if _ID.fullmatch(raw):
        return raw
    clean = _NOT_ID.sub("-", raw).lstrip(".:-")[:100] or "id"
    return f"{clean}.{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def _signature_rejection(exc: SignatureError, header: str) -> _Rejection:
    return _Rejection(
        401,
        "Invalid webhook signature",
        f"{exc.reason}: {exc.detail}",
        exc.reason,
        field=header,
        invalid=[InvalidParam(name=header, reason=exc.reason)],
    )


def _missing(field: str, detail: str | None = None) -> _Rejection:
    return _invalid(field, detail or f"the webhook has no {field}")


def _invalid(field: str, reason: str) -> _Rejection:
    return _Rejection(
        422,
        "Invalid input",
        reason,
        "invalid",
        field=field,
        invalid=[InvalidParam(name=field, reason=reason)],
    )


def _too_large() -> _Rejection:
    return _Rejection(
        413, "Payload too large", f"a webhook body is at most {MAX_BODY_BYTES} bytes", "too_large"
    )


def _validation(exc: ValidationError, prefix: str = "") -> _Rejection:
    invalid = [
        InvalidParam(
            name=".".join(p for p in (prefix, dotted(list(e["loc"]))) if p and p != "(root)")
            or "(body)",
            reason=str(e["msg"]),
        )
        for e in exc.errors()
    ]
    return _Rejection(
        422,
        "Invalid input",
        "the webhook body is not a valid event",
        "invalid",
        field=invalid[0].name if invalid else None,
        invalid=invalid,
    )


_Model = TypeVar("_Model", bound=BaseModel)


def _parse(model: type[_Model], body: bytes) -> _Model:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _validation(exc) from exc
