"""Provider webhooks end to end: signed (and forged, stale, replayed) posts to the real API
served by uvicorn, real campaigns on the dev server, the Twilio and payments simulators.

Signatures in these tests are made by the simulators' own implementations (or by hand
from the providers' documented vectors), never by the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.worker import Worker

from adapters.inbound import InboundStore
from adapters.lob import LobClient
from adapters.payments import PaymentsClient, verify_webhook
from adapters.suppressions import SuppressionStore
from api.app import create_app
from api.signatures import (
    EMAIL_HEADER,
    STRIPE_HEADER,
    TWILIO_HEADER,
    SignatureError,
    stripe_signature_header,
    twilio_signature,
    twilio_url_variants,
    verify_stripe,
    verify_twilio,
)
from api.webhooks import DUPLICATE_HEADER, EMPTY_TWIML
from bootstrap.settings import Settings
from domain.account import PostalAddress, Tenant
from domain.campaign import CampaignSnapshot, CollectionStatus
from domain.channels import Channel
from domain.replies import STOP_KEYWORDS, is_stop_keyword
from domain.revocations import Revocation, RevocationKind
from service import models as m
from service.operations import RecoupService
from simulators.http import EmbeddedServer
from simulators.lob import LobSimulator
from simulators.payments import PaymentsSimulator
from simulators.payments import stripe_signature as sim_stripe_signature
from simulators.twilio import TwilioSimulator
from simulators.twilio import twilio_signature as sim_twilio_signature
from tests.api_support import OUR_NUMBER, account_record, checkout_completed, eventually, sms_in
from tests.conftest import LOB_KEY, PAYMENTS_KEY, TWILIO_SID, TWILIO_TOKEN

PROBLEM = "application/problem+json"

# --- signatures (pure) ------------------------------------------------------------

# Twilio's published example (its helper libraries' tests): token 12345.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_signature_matches_twilios_documented_vectors() -> None:
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    verify_twilio("12345", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    # Repeated names: values sorted, de-duplicated (twilio-python's test vector).
    repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert twilio_signature("12345", DOC_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    # The same as the simulator's independent implementation.
    assert twilio_signature("t", "http://x/y", repeated) == sim_twilio_signature(
        "t", "http://x/y", repeated
    )


@pytest.mark.parametrize(
    ("token", "url", "params", "signature", "reason"),
    [
        ("12345", DOC_URL, DOC_PARAMS, None, "missing"),
        ("12345", DOC_URL, DOC_PARAMS, "  ", "missing"),
        ("12345", DOC_URL, DOC_PARAMS, "not base64!", "malformed"),
        ("12345", DOC_URL, DOC_PARAMS, "c2hvcnQ=", "malformed"),
        ("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE, "mismatch"),
        ("12345", DOC_URL + "&extra=1", DOC_PARAMS, DOC_SIGNATURE, "mismatch"),
        ("12345", DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, DOC_SIGNATURE, "mismatch"),
        ("12345", DOC_URL, {**DOC_PARAMS, "Extra": ""}, DOC_SIGNATURE, "mismatch"),
    ],
)
def test_twilio_verification_names_the_reason(
    token: str, url: str, params: dict[str, str], signature: str | None, reason: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_twilio(token, url, params, signature)
    assert caught.value.reason == reason


def test_twilio_url_is_also_tried_with_and_without_its_default_port() -> None:
    assert twilio_url_variants("https://a.example/x?q=1") == [
        "https://a.example/x?q=1",
        "https://a.example:443/x?q=1",
    ]
    assert twilio_url_variants("http://a.example:80/x") == [
        "http://a.example:80/x",
        "http://a.example/x",
    ]
    assert twilio_url_variants("http://127.0.0.1:8080/x") == ["http://127.0.0.1:8080/x"]
    signed_with_port = twilio_signature("12345", "https://mycompany.com:443/myapp.php", {})
    verify_twilio("12345", "https://mycompany.com/myapp.php", {}, signed_with_port)


def test_stripe_signature_valid_forged_stale_and_malformed() -> None:
    secret, body, now = "whsec_test", b'{"id":"evt_1"}', 1_700_000_000
    header = stripe_signature_header(secret, body, now)
    # Exactly the simulator's header, and what the Stripe adapter's verifier accepts.
    assert header == sim_stripe_signature(secret, body, now)
    verify_webhook(body, header, secret, now=now)
    assert verify_stripe(secret, body, header, 300, now + 300) == now
    # Secret rotation: any v1 may match; other schemes are ignored.
    rotated = f"t={now},v0=abc,v1={'0' * 64},{header.split(',')[1]}"
    assert verify_stripe(secret, body, rotated, 300, now) == now

    def reason(header: str | None, *, at: float = now, payload: bytes = body) -> str:
        with pytest.raises(SignatureError) as caught:
            verify_stripe(secret, payload, header, 300, at)
        return caught.value.reason

    assert reason(None) == "missing"
    assert reason("") == "missing"
    assert reason("v1=abc") == "malformed"
    assert reason(f"t={now}") == "malformed"
    assert reason(f"t=soon,v1={'0' * 64}") == "malformed"
    assert reason(f"t={now},t={now},v1=ab") == "malformed"
    assert reason("garbage") == "malformed"
    assert reason(stripe_signature_header("whsec_other", body, now)) == "mismatch"
    assert reason(header, payload=b'{"id":"evt_2"}') == "mismatch"
    assert reason(header, at=now + 301) == "stale"
    assert reason(header, at=now - 301) == "stale"  # from the future
    # A forged header is a mismatch whatever its age: only genuine ones read stale.
    assert reason(stripe_signature_header("whsec_other", body, now - 9999)) == "mismatch"


def test_every_carrier_opt_out_keyword_is_recognised() -> None:
    assert {
        "STOP",
        "QUIT",
        "CANCEL",
        "END",
        "UNSUBSCRIBE",
        "STOPALL",
        "REVOKE",
        "OPTOUT",
    } == STOP_KEYWORDS
    for keyword in STOP_KEYWORDS:
        for body in (keyword, keyword.lower(), keyword.title(), f"  {keyword.lower()}\n"):
            assert is_stop_keyword(body), body
    # The whole body must be the keyword (Twilio's rule): these are replies.
    for body in ("stop texting me at work", "don't stop", "STOP STOP", "unsubscribe me", ""):
        assert not is_stop_keyword(body), body


def test_a_receipt_released_after_a_failed_delivery_lets_the_retry_through(
    tmp_path: Path,
) -> None:
    store = InboundStore(f"sqlite:///{tmp_path / 'inbound.db'}", b"key")
    try:
        store.create_tables()
        assert store.first_receipt("payments", "evt_1", "acme", "payment")
        assert not store.first_receipt("payments", "evt_1", "acme", "payment")
        store.release("payments", "evt_1")
        assert store.first_receipt("payments", "evt_1", "acme", "payment")
        store.release("payments", "evt_unknown")  # nothing to release: no error
    finally:
        store.dispose()


# --- the API, served for real -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def api_port() -> int:
    return _free_port()


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(tenant_id=f"wh-{uuid.uuid4().hex[:8]}", name="Acme Recovery")


@pytest.fixture
def settings(settings: Settings, api_port: int, tenant: Tenant) -> Settings:
    """The API's public URL is where it listens; Twilio's callbacks go to the tenant's."""
    base = f"http://127.0.0.1:{api_port}"
    return settings.model_copy(
        update={
            "api_public_url": base,
            "twilio_status_callback_url": f"{base}/v1/webhooks/{tenant.tenant_id}"
            "/twilio/sms/status",
        }
    )


@dataclass
class Hooks:
    service: RecoupService
    http: httpx.AsyncClient
    base: str
    tenant: Tenant
    settings: Settings

    def url(self, route: str, tenant_id: str | None = None) -> str:
        return f"{self.base}/v1/webhooks/{tenant_id or self.tenant.tenant_id}/{route}"

    async def twilio(
        self,
        route: str,
        params: dict[str, str],
        *,
        tenant_id: str | None = None,
        signed_for: str | None = None,
        token: str = TWILIO_TOKEN,
        signature: str | None = "sign",
    ) -> httpx.Response:
        """POST ``params`` as Twilio does, signed for ``signed_for`` (default: this URL)."""
        url = self.url(route, tenant_id)
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature == "sign":
            headers[TWILIO_HEADER] = sim_twilio_signature(token, signed_for or url, params)
        elif signature is not None:
            headers[TWILIO_HEADER] = signature
        return await self.http.post(url, data=params, headers=headers)

    async def signed_json(
        self,
        route: str,
        event: dict[str, Any],
        secret: str,
        header: str,
        *,
        tenant_id: str | None = None,
        at: int | None = None,
        payload: bytes | None = None,
    ) -> httpx.Response:
        body = payload or json.dumps(event, separators=(",", ":")).encode()
        signature = sim_stripe_signature(secret, body, int(time.time()) if at is None else at)
        return await self.http.post(
            self.url(route, tenant_id),
            content=body,
            headers={"Content-Type": "application/json", header: signature},
        )

    async def payment(self, event: dict[str, Any], **kw: Any) -> httpx.Response:
        secret = self.settings.payments_webhook_secret.get_secret_value()
        return await self.signed_json("payments", event, secret, STRIPE_HEADER, **kw)

    async def email(self, event: dict[str, Any], **kw: Any) -> httpx.Response:
        secret = self.settings.email_webhook_secret.get_secret_value()
        return await self.signed_json("email", event, secret, EMAIL_HEADER, **kw)

    async def start(self, tenant: Tenant | None = None, **record: Any) -> str:
        """Start a real campaign (standard playbook, real-time days) for a flat record."""
        request = m.StartAccountCampaign(
            campaign_id=f"c-{uuid.uuid4().hex[:8]}",
            playbook="standard",
            account=account_record(**record),
        )
        started = await self.service.start_account_campaign(tenant or self.tenant, request)
        return started.account_id

    async def snapshot(self, account_id: str, tenant: Tenant | None = None) -> CampaignSnapshot:
        return await self.service.account(tenant or self.tenant, account_id)

    async def until(
        self, account_id: str, accept: Any, tenant: Tenant | None = None
    ) -> CampaignSnapshot:
        snapshot: CampaignSnapshot = await eventually(
            lambda: self.snapshot(account_id, tenant), accept
        )
        return snapshot

    async def new_tenant(self) -> Tenant:
        other = Tenant(tenant_id=f"wh-{uuid.uuid4().hex[:8]}", name="Other Recovery")
        await asyncio.to_thread(self.service.tenants.create_tenant, other)
        return other


@pytest_asyncio.fixture
async def hooks(
    client: Client, settings: Settings, api_port: int, tenant: Tenant
) -> AsyncIterator[Hooks]:
    app = create_app(settings, client)
    service: RecoupService = app.state.service
    await service.prepare()
    await asyncio.to_thread(service.tenants.create_tenant, tenant)
    server = EmbeddedServer(app, name="Recoup API")
    base = await server.start(port=api_port)
    assert base == settings.api_url
    try:
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as http:
            yield Hooks(service, http, base, tenant, settings)
    finally:
        await server.stop()
        service.close()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejected(provider: str, reason: str) -> float:
    return metric("recoup_webhooks_rejected_total", provider=provider, reason=reason)


def accepted(provider: str, kind: str, outcome: str) -> float:
    return metric("recoup_webhooks_total", provider=provider, kind=kind, outcome=outcome)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def phone() -> str:
    return f"+1415555{uuid.uuid4().int % 10000:04d}"


# --- Twilio ----------------------------------------------------------------------------


async def test_inbound_stop_opts_the_number_out_on_every_account_at_once(
    hooks: Hooks, running: list[Worker], twilio_sim: TwilioSimulator
) -> None:
    number = phone()
    # Two accounts share the number; by SMS only (no email, no voice consent).
    first = await hooks.start(email="", phone=number, voice_consent=False)
    second = await hooks.start(email="", phone=number, voice_consent=False)
    await eventually(
        lambda: asyncio.sleep(0, [m for m in twilio_sim.messages if m.to == number]),
        lambda sent: len(sent) == 2,
    )
    # The simulator's own signed status callbacks reach the tenant's status URL.
    await eventually(
        lambda: asyncio.sleep(0, accepted("twilio", "sms_status", "recorded")),
        lambda n: n >= 6,  # queued, sent, delivered, for each of the two messages
    )
    for account in (first, second):
        assert (await hooks.snapshot(account)).status is CollectionStatus.ACTIVE

    before = accepted("twilio", "sms_stop", "signalled")
    response = await hooks.twilio("twilio/sms/inbound", sms_in(number, "  Stop \n"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    assert DUPLICATE_HEADER not in response.headers
    assert accepted("twilio", "sms_stop", "signalled") == before + 1

    # SMS was their only usable channel: both campaigns end opted out.
    for account in (first, second):
        snap = await hooks.until(account, lambda s: s.status is CollectionStatus.OPTED_OUT)
        assert snap.replies == 0  # an opt-out, not a conversation


async def test_every_keyword_reaches_the_opt_out_path(hooks: Hooks) -> None:
    # Unknown number: each keyword is classified as an opt-out (no campaign to tell).
    for keyword in sorted(STOP_KEYWORDS):
        before = accepted("twilio", "sms_stop", "unmatched")
        body = keyword.lower() if len(keyword) % 2 else f" {keyword} "
        response = await hooks.twilio("twilio/sms/inbound", sms_in(phone(), body))
        assert response.status_code == 200, response.text
        assert accepted("twilio", "sms_stop", "unmatched") == before + 1, keyword


async def test_an_inbound_sms_is_one_reply_even_when_posted_twice(
    hooks: Hooks, running: list[Worker]
) -> None:
    number = phone()
    account = await hooks.start(phone=number)
    await hooks.until(account, lambda s: s.steps_done >= 1)
    params = sms_in(number, "Can you send me the details of this debt?")
    replayed = rejected("twilio", "replayed")

    first = await hooks.twilio("twilio/sms/inbound", params)
    second = await hooks.twilio("twilio/sms/inbound", params)  # Twilio's retry

    assert first.status_code == second.status_code == 200
    assert first.text == second.text == EMPTY_TWIML
    assert DUPLICATE_HEADER not in first.headers
    assert second.headers[DUPLICATE_HEADER] == "true"
    assert rejected("twilio", "replayed") == replayed + 1
    snap = await hooks.until(account, lambda s: s.replies >= 1)
    await asyncio.sleep(0.5)  # a second signal would have landed by now
    snap = await hooks.snapshot(account)
    assert snap.replies == 1
    assert snap.status is CollectionStatus.ACTIVE  # a question: the standard playbook goes on


async def test_forged_unsigned_and_tampered_twilio_posts_are_rejected_and_counted(
    hooks: Hooks, running: list[Worker]
) -> None:
    number = phone()
    account = await hooks.start(email="", phone=number, voice_consent=False)
    await hooks.until(account, lambda s: s.steps_done >= 1)
    stop = sms_in(number, "STOP")
    counts = {r: rejected("twilio", r) for r in ("missing", "mismatch", "malformed")}

    forged = await hooks.twilio("twilio/sms/inbound", stop, token="not-the-auth-token")
    body = problem(forged, 401)
    assert body["field"] == TWILIO_HEADER
    assert body["invalid_params"] == [{"name": TWILIO_HEADER, "reason": "mismatch"}]
    assert rejected("twilio", "mismatch") == counts["mismatch"] + 1

    unsigned = await hooks.twilio("twilio/sms/inbound", stop, signature=None)
    assert problem(unsigned, 401)["invalid_params"][0]["reason"] == "missing"
    assert rejected("twilio", "missing") == counts["missing"] + 1

    garbage = await hooks.twilio("twilio/sms/inbound", stop, signature="%%%")
    assert problem(garbage, 401)["invalid_params"][0]["reason"] == "malformed"

    # Signed for "hello", delivered saying STOP: the parameters are signed too.
    signature = sim_twilio_signature(
        TWILIO_TOKEN, hooks.url("twilio/sms/inbound"), {**stop, "Body": "hello"}
    )
    tampered = await hooks.twilio("twilio/sms/inbound", stop, signature=signature)
    assert problem(tampered, 401)["invalid_params"][0]["reason"] == "mismatch"
    assert rejected("twilio", "mismatch") == counts["mismatch"] + 2

    await asyncio.sleep(0.5)
    assert (await hooks.snapshot(account)).status is CollectionStatus.ACTIVE  # untouched


async def test_a_twilio_signature_for_tenant_a_does_not_work_for_tenant_b(
    hooks: Hooks, running: list[Worker]
) -> None:
    other = await hooks.new_tenant()
    number = phone()
    # Tenant B has an account with the same number.
    account = await hooks.start(other, email="", phone=number, voice_consent=False)
    await hooks.until(account, lambda s: s.steps_done >= 1, other)
    stop = sms_in(number, "STOP")
    before = rejected("twilio", "mismatch")

    response = await hooks.twilio(
        "twilio/sms/inbound",
        stop,
        tenant_id=other.tenant_id,
        signed_for=hooks.url("twilio/sms/inbound"),  # tenant A's URL
    )
    assert problem(response, 401)["invalid_params"][0]["reason"] == "mismatch"
    assert rejected("twilio", "mismatch") == before + 1
    await asyncio.sleep(0.5)
    assert (await hooks.snapshot(account, other)).status is CollectionStatus.ACTIVE


async def test_unknown_tenant_is_404_after_a_valid_signature(hooks: Hooks) -> None:
    before = rejected("twilio", "unknown_tenant")
    response = await hooks.twilio(
        "twilio/sms/inbound", sms_in(phone(), "hi"), tenant_id="no-such-tenant"
    )
    body = problem(response, 404)
    assert body["field"] == "tenant_id"
    assert rejected("twilio", "unknown_tenant") == before + 1
    # Without a valid signature the tenant's existence is not even looked at.
    unsigned = await hooks.twilio(
        "twilio/sms/inbound", sms_in(phone(), "hi"), tenant_id="no-such-tenant", signature=None
    )
    problem(unsigned, 401)


async def test_status_callbacks_are_recorded_once_and_21610_opts_out(
    hooks: Hooks, running: list[Worker]
) -> None:
    number = phone()
    account = await hooks.start(email="", phone=number, voice_consent=False)
    await hooks.until(account, lambda s: s.steps_done >= 1)
    sid = "SM" + uuid.uuid4().hex
    delivered = {
        "AccountSid": TWILIO_SID,
        "ApiVersion": "2010-04-01",
        "From": OUR_NUMBER,
        "MessageSid": sid,
        "MessageStatus": "delivered",
        "SmsSid": sid,
        "SmsStatus": "delivered",
        "To": number,
    }
    # (The campaign's own SMS makes the simulator post callbacks meanwhile: count replays.)
    replayed = rejected("twilio", "replayed")
    first = await hooks.twilio("twilio/sms/status", delivered)
    again = await hooks.twilio("twilio/sms/status", delivered)
    assert first.json() == {
        "accepted": True,
        "duplicate": False,
        "kind": "sms_status",
        "outcome": "recorded",
        "accounts": 0,
    }
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert rejected("twilio", "replayed") == replayed + 1

    # A call's callback may arrive on either status URL (one StatusCallback per client).
    call = {"AccountSid": TWILIO_SID, "CallSid": "CA" + uuid.uuid4().hex}
    for route, status in (("twilio/voice/status", "ringing"), ("twilio/sms/status", "completed")):
        response = await hooks.twilio(route, {**call, "CallStatus": status})
        assert response.json()["kind"] == "voice_status"
        assert response.json()["outcome"] == "recorded"

    # Twilio 21610: the number texted STOP to us before; never text it again.
    failed = {**delivered, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    response = await hooks.twilio("twilio/sms/status", failed)
    assert response.json()["outcome"] == "signalled"
    await hooks.until(account, lambda s: s.status is CollectionStatus.OPTED_OUT)

    missing = await hooks.twilio("twilio/sms/status", {"AccountSid": TWILIO_SID})
    assert problem(missing, 422)["field"] == "MessageSid"


# --- payments ----------------------------------------------------------------------------


async def test_a_payment_through_the_simulators_link_pays_the_campaign(
    hooks: Hooks, running: list[Worker]
) -> None:
    account = await hooks.start()
    sim = PaymentsSimulator(
        PAYMENTS_KEY,
        webhook_url=hooks.url("payments"),
        webhook_secret=hooks.settings.payments_webhook_secret.get_secret_value(),
    )
    await sim.start()
    payments = PaymentsClient(sim.base_url, PAYMENTS_KEY)
    try:
        # What activities.payments asks for: the link carries tenant and account.
        link = await payments.create_payment_link(
            amount=Decimal("250.00"),
            currency="USD",
            description="Balance",
            metadata={"tenant_id": hooks.tenant.tenant_id, "account_id": account},
            idempotency_key=f"test/{account}",
        )
        paid = await sim.pay(link.id)
    finally:
        await payments.aclose()
        await sim.stop()
    assert paid.webhook_status == 200
    snap = await hooks.until(account, lambda s: s.status is CollectionStatus.PAID)
    assert snap.amount_paid == Decimal("250.00")
    assert snap.balance == 0


async def test_stale_and_forged_payment_events_are_rejected(
    hooks: Hooks, running: list[Worker]
) -> None:
    account = await hooks.start()
    event = checkout_completed(hooks.tenant.tenant_id, account, 25_000)
    tolerance = hooks.settings.webhook_tolerance_seconds
    stale_before = rejected("payments", "stale")
    mismatch_before = rejected("payments", "mismatch")

    stale = await hooks.payment(event, at=int(time.time()) - tolerance - 5)
    body = problem(stale, 401)
    assert body["field"] == STRIPE_HEADER
    assert body["invalid_params"][0]["reason"] == "stale"
    assert rejected("payments", "stale") == stale_before + 1

    forged = await hooks.signed_json("payments", event, "whsec_guessed", STRIPE_HEADER)
    assert problem(forged, 401)["invalid_params"][0]["reason"] == "mismatch"
    assert rejected("payments", "mismatch") == mismatch_before + 1

    unsigned = await hooks.http.post(hooks.url("payments"), json=event)
    assert problem(unsigned, 401)["invalid_params"][0]["reason"] == "missing"

    await asyncio.sleep(0.5)
    snap = await hooks.snapshot(account)
    assert snap.amount_paid == 0 and snap.status is CollectionStatus.ACTIVE

    # The same event, fresh and genuine, is then accepted: nothing was claimed.
    fresh = await hooks.payment(event)
    assert fresh.json()["outcome"] == "signalled"
    await hooks.until(account, lambda s: s.status is CollectionStatus.PAID)


async def test_a_replayed_payment_event_is_a_2xx_duplicate_and_counts_once(
    hooks: Hooks, running: list[Worker]
) -> None:
    account = await hooks.start()
    event = checkout_completed(hooks.tenant.tenant_id, account, 10_000)  # a partial payment
    replayed = rejected("payments", "replayed")

    first = await hooks.payment(event)
    assert first.status_code == 200 and first.json()["outcome"] == "signalled"
    # Stripe re-signs each retry with a new timestamp: still the same event.
    second = await hooks.payment(event, at=int(time.time()) + 1)
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert rejected("payments", "replayed") == replayed + 1

    snap = await hooks.until(account, lambda s: s.amount_paid > 0)
    await asyncio.sleep(0.5)
    snap = await hooks.snapshot(account)
    assert snap.amount_paid == Decimal("100.00")
    assert snap.balance == Decimal("150.00")
    assert snap.status is CollectionStatus.ACTIVE


async def test_a_payment_event_for_tenant_a_does_nothing_at_tenant_b(
    hooks: Hooks, running: list[Worker]
) -> None:
    other = await hooks.new_tenant()
    account = await hooks.start()
    event = checkout_completed(hooks.tenant.tenant_id, account, 25_000)
    before = rejected("payments", "tenant_mismatch")

    # A provider that sends every event to every endpoint must get a 2xx, and nothing happens.
    response = await hooks.payment(event, tenant_id=other.tenant_id)
    assert response.status_code == 200
    assert response.json()["accepted"] is False
    assert response.json()["outcome"] == "tenant_mismatch"
    assert rejected("payments", "tenant_mismatch") == before + 1
    await asyncio.sleep(0.5)
    assert (await hooks.snapshot(account)).amount_paid == 0

    # Tenant A's endpoint then gets it, not mistaken for a duplicate.
    response = await hooks.payment(event)
    assert response.json()["outcome"] == "signalled"
    await hooks.until(account, lambda s: s.status is CollectionStatus.PAID)


async def test_payment_events_we_do_not_act_on_are_acknowledged(hooks: Hooks) -> None:
    refund = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "created": int(time.time()),
        "type": "balance.available",
        "data": {"object": {"object": "balance", "available": []}},
    }
    response = await hooks.payment(refund)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"

    foreign = checkout_completed(hooks.tenant.tenant_id, "A-1", 100)
    foreign["data"]["object"]["metadata"] = {"order": "42"}  # not one of our links
    response = await hooks.payment(foreign)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"

    broken = checkout_completed(hooks.tenant.tenant_id, "A-1", 0)
    body = problem(await hooks.payment(broken), 422)
    assert body["field"] == "data.object.amount_total"

    not_json = await hooks.payment({}, payload=b"{not json")
    assert problem(not_json, 422)["title"] == "Invalid input"


# --- email --------------------------------------------------------------------------------


def email_event(tenant_id: str, type_: str, address: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"em-{uuid.uuid4().hex}",
        "type": type_,
        "tenant_id": tenant_id,
        "email": address,
        **extra,
    }


async def test_hard_bounce_and_complaint_opt_the_address_out(
    hooks: Hooks, running: list[Worker]
) -> None:
    tenant_id = hooks.tenant.tenant_id
    bounced_address = f"b.{uuid.uuid4().hex[:8]}@example.com"
    complained_address = f"c.{uuid.uuid4().hex[:8]}@example.com"
    soft_address = f"s.{uuid.uuid4().hex[:8]}@example.com"
    # Email only: losing the address leaves no channel.
    bounced = await hooks.start(email=bounced_address, phone="")
    complained = await hooks.start(email=complained_address, phone="")
    soft = await hooks.start(email=soft_address, phone="")
    for account in (bounced, complained, soft):
        await hooks.until(account, lambda s: s.steps_done >= 1)

    response = await hooks.email(email_event(tenant_id, "bounce", bounced_address.upper()))
    assert response.json()["outcome"] == "signalled"
    response = await hooks.email(email_event(tenant_id, "complaint", complained_address))
    assert response.json()["outcome"] == "signalled"
    response = await hooks.email(email_event(tenant_id, "bounce", soft_address, bounce_type="soft"))
    assert response.json()["outcome"] == "ignored"

    await hooks.until(bounced, lambda s: s.status is CollectionStatus.OPTED_OUT)
    await hooks.until(complained, lambda s: s.status is CollectionStatus.OPTED_OUT)
    assert (await hooks.snapshot(soft)).status is CollectionStatus.ACTIVE


async def test_an_email_reply_is_recorded_once_and_bad_events_are_named(
    hooks: Hooks, running: list[Worker]
) -> None:
    tenant_id = hooks.tenant.tenant_id
    address = f"r.{uuid.uuid4().hex[:8]}@example.com"
    account = await hooks.start(email=address)
    await hooks.until(account, lambda s: s.steps_done >= 1)
    reply = email_event(tenant_id, "reply", address, text="Who is the original creditor?")

    first = await hooks.email(reply)
    second = await hooks.email(reply)
    assert first.json()["outcome"] == "signalled"
    assert second.status_code == 200 and second.json()["duplicate"] is True
    await hooks.until(account, lambda s: s.replies >= 1)
    await asyncio.sleep(0.5)
    assert (await hooks.snapshot(account)).replies == 1

    forged = await hooks.signed_json("email", reply, "whsec_guessed", EMAIL_HEADER)
    assert problem(forged, 401)["field"] == EMAIL_HEADER

    # Signed for tenant A, posted to tenant B: acknowledged, ignored.
    other = await hooks.new_tenant()
    moved = await hooks.email(
        email_event(tenant_id, "complaint", address), tenant_id=other.tenant_id
    )
    assert moved.json()["outcome"] == "tenant_mismatch"

    invalid = await hooks.email(email_event(tenant_id, "reply", address))  # no text
    assert problem(invalid, 422)["title"] == "Invalid input"
    wrong_type = await hooks.email(email_event(tenant_id, "opened", address))
    assert problem(wrong_type, 422)["field"] == "type"
    await asyncio.sleep(0.3)
    assert (await hooks.snapshot(account)).status is CollectionStatus.ACTIVE


# --- letters (Lob) -------------------------------------------------------------------------


def lob_signed(secret: str, raw: bytes, at_ms: int | None = None) -> dict[str, str]:
    """Lob's headers for ``raw``, signed by hand (Lob's scheme, not the code under test)."""
    timestamp = str(int(time.time() * 1000) if at_ms is None else at_ms)
    signed = timestamp.encode() + b"." + raw
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "Lob-Signature": digest,
        "Lob-Signature-Timestamp": timestamp,
    }


def lob_event(tenant_id: str, account_id: str, type_: str, **metadata: str) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:20]}",
        "event_type": {"id": type_, "resource": "letters", "object": "event_type"},
        "body": {
            "id": f"ltr_{uuid.uuid4().hex[:20]}",
            "object": "letter",
            "to": {"address_line1": "1 MAIN ST", "address_city": "AUSTIN",
                   "address_state": "TX", "address_zip": "78701"},
            "metadata": {"tenant_id": tenant_id, "account_id": account_id, **metadata},
        },
        "date_created": "2026-01-01T00:00:00.000Z",
        "object": "event",
    }  # fmt: skip


async def post_lob(
    hooks: Hooks, event: dict[str, Any], *, secret: str | None = None, **kw: Any
) -> httpx.Response:
    raw = json.dumps(event, separators=(",", ":")).encode()
    key = secret or hooks.settings.lob_webhook_secret.get_secret_value()
    tenant_id = kw.pop("tenant_id", None)
    return await hooks.http.post(
        hooks.url("lob", tenant_id), content=raw, headers=lob_signed(key, raw, **kw)
    )


def letter_revocations(settings: Settings, tenant_id: str, account_id: str) -> list[Revocation]:
    store = SuppressionStore(settings.sql_url)
    try:
        return store.for_account(tenant_id, account_id)
    finally:
        store.dispose()


async def test_lob_events_from_the_simulator_are_verified_and_acted_on_once(
    hooks: Hooks,
) -> None:
    """The simulator mails two letters and posts every event it makes to the API: the
    delivered one is recorded, the returned one retires its address for letters."""
    tenant_id = hooks.tenant.tenant_id
    secret = hooks.settings.lob_webhook_secret.get_secret_value()
    sim = LobSimulator(
        LOB_KEY, webhook_url=hooks.url("lob"), webhook_secret=secret, day_seconds=None
    )
    await sim.start()
    delivered_before = accepted("lob", "letter_delivered", "recorded")
    returned_before = accepted("lob", "letter_returned_to_sender", "no_campaign")
    home = PostalAddress(line1="12 Home St", city="Austin", state="TX", zip="78701")
    away = PostalAddress(line1="9 Return To Sender Ave", city="Austin", state="TX", zip="78702")
    try:
        async with LobClient(
            sim.base_url, LOB_KEY, from_name="Acme Recovery", from_address=home
        ) as lob:
            for account_id, to in (("L-home", home), ("L-away", away)):
                meta = {"tenant_id": tenant_id, "account_id": account_id, "to": to.one_line()}
                await lob.send_letter(to, "Lou", "<p>Notice</p>", account_id, meta)
        await sim.advance(timedelta(days=10))
    finally:
        await sim.stop()
    assert accepted("lob", "letter_delivered", "recorded") == delivered_before + 1
    assert accepted("lob", "letter_returned_to_sender", "no_campaign") == returned_before + 1
    # The returned letter's address, as the ledger keys it, is opted out of letters.
    [revocation] = letter_revocations(hooks.settings, tenant_id, "L-away")
    assert revocation.kind is RevocationKind.OPT_OUT and revocation.channel is Channel.LETTER
    assert revocation.address == away.one_line() and revocation.source == "webhook:lob"
    assert letter_revocations(hooks.settings, tenant_id, "L-home") == []

    # A redelivery of the same event changes nothing and is a 2xx duplicate.
    [returned] = [e for e in sim.webhooks_posted
                  if e["event_type"]["id"] == "letter.returned_to_sender"]  # fmt: skip
    again = await post_lob(hooks, returned)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(letter_revocations(hooks.settings, tenant_id, "L-away")) == 1


async def test_forged_stale_and_misbound_lob_events_are_refused(hooks: Hooks) -> None:
    tenant_id = hooks.tenant.tenant_id
    event = lob_event(tenant_id, "L-1", "letter.delivered")
    forged = await post_lob(hooks, event, secret="guessed")
    assert problem(forged, 401)["field"] == "Lob-Signature"
    an_hour_ago = int((time.time() - 3600) * 1000)
    stale = await post_lob(hooks, event, at_ms=an_hour_ago)
    assert "stale" in problem(stale, 401)["detail"]
    unsigned = await hooks.http.post(hooks.url("lob"), json=event)
    assert "missing" in problem(unsigned, 401)["detail"]
    unknown = await post_lob(hooks, event, tenant_id="no-such-tenant")
    assert problem(unknown, 404)["field"] == "tenant_id"

    # Signed, but for a letter of another tenant: acknowledged and ignored.
    other = await hooks.new_tenant()
    moved = await post_lob(hooks, event, tenant_id=other.tenant_id)
    assert moved.status_code == 200 and moved.json()["outcome"] == "tenant_mismatch"
    # Not a letter Recoup sent, not a letter event, not an event: each said plainly.
    foreign = lob_event(tenant_id, "L-1", "letter.delivered")
    foreign["body"]["metadata"] = {}
    assert (await post_lob(hooks, foreign)).json()["outcome"] == "ignored"
    postcard = lob_event(tenant_id, "L-1", "postcard.delivered")
    assert (await post_lob(hooks, postcard)).json()["outcome"] == "ignored"
    broken = {k: v for k, v in event.items() if k != "event_type"}
    assert problem(await post_lob(hooks, broken), 422)["field"] == "event_type"

    good = await post_lob(hooks, event)
    assert good.json() == {"accepted": True, "duplicate": False, "kind": "letter_delivered",
                           "outcome": "recorded", "accounts": 0}  # fmt: skip
    assert (await post_lob(hooks, event)).json()["duplicate"] is True
    mailed = await post_lob(hooks, lob_event(tenant_id, "L-1", "letter.in_transit"))
    assert mailed.json()["kind"] == "letter_in_transit"
    assert mailed.json()["outcome"] == "recorded"
