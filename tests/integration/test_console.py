"""The console's reads on SQLite and PostgreSQL, and what its sessions refuse, over ASGI.

The browser walk through the console is ``tests/e2e/test_console.py``; here, the parts a
browser would not show: the read model's pages and time buckets on both databases, a
form without its session's CSRF token, a changed cookie, a revoked key, a redirect to
another site, another tenant's dead letter, and a breaker store that does not answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlmodel import Session
from temporalio.client import Client

from adapters.console_queries import campaign_accounts, campaign_timeline, tenant_campaigns
from adapters.event_log import EventLog
from adapters.read_model import project
from api.app import create_app
from bootstrap.devserver import free_port
from bootstrap.root import Root
from bootstrap.settings import Settings
from domain.channels import Channel
from domain.compliance.model import ComplianceFacts
from domain.contact import ComplianceContext, ContactRequest, MessageContext
from domain.dead_letters import DeadLetter, FailedSend
from domain.events import EventType, ExportRecord, Origin, event_record, message_id
from tests.api_support import new_tenant
from tests.conftest import DAYTIME_ZONE
from tests.portfolio_support import POSTGRES_URL

T0 = datetime(2026, 12, 1, 15, tzinfo=UTC)


# --- the read model's pages and buckets ------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    url = f"sqlite:///{tmp_path / 'rm.db'}" if request.param == "sqlite" else POSTGRES_URL
    events = EventLog(url)
    events.create_tables()
    yield events
    events.dispose()


def record(
    origin: Origin, seq: int, at: datetime, type: EventType, status: str, meta: dict[str, Any]
) -> ExportRecord:
    msg = message_id(origin.tenant_id, f"{origin.campaign_id}/{origin.customer_id}", str(seq))
    return event_record(origin, msg, type, status, at, meta)


def campaign_records(tenant: str, campaign: str, start: datetime) -> list[ExportRecord]:
    """Three accounts: a started event, a sent and a skipped step each, and payments of
    10, 20 and 30 USD spread over an hour and a half."""
    out: list[ExportRecord] = []
    for n, customer in enumerate(["A-3", "A-1", "A-2"]):
        origin = Origin(
            tenant_id=tenant,
            campaign_id=campaign,
            customer_id=customer,
            workflow_id=f"account/{tenant}/{customer}",
            agent_id="campaign-workflow",
        )
        step = {"channel": "email", "stepId": "notice"}
        attempt = f"{origin.workflow_id}/{campaign}"  # attempt ids are unique in the table
        at = start + timedelta(minutes=n)
        out += [
            record(origin, 1, at, EventType.CAMPAIGN_PROGRESS, "started",
                   {"currency": "USD", "balance": "300.00", "stepsTotal": 2}),
            record(origin, 2, at, EventType.CUSTOMER_INTERACTION, "sent",
                   {**step, "attemptId": f"{attempt}/notice"}),
            record(origin, 3, at + timedelta(minutes=30), EventType.CUSTOMER_INTERACTION,
                   "skipped", {**step, "attemptId": f"{attempt}/later", "stepId": "later"}),
            record(origin, 4, start + timedelta(minutes=45 * n), EventType.PAYMENT, "received",
                   {"paymentId": f"p-{campaign}-{customer}", "amount": f"{10 * (n + 1)}.00",
                    "currency": "USD", "amountPaid": f"{10 * (n + 1)}.00", "balance": "290.00"}),
        ]  # fmt: skip
    return sorted(out, key=lambda r: r.occurred_at)


def test_the_console_reads_pages_and_buckets_from_the_read_model(log: EventLog) -> None:
    tenant, other = f"con-{uuid.uuid4().hex[:8]}", f"con-{uuid.uuid4().hex[:8]}"
    with Session(log.engine) as session:
        project(session, campaign_records(tenant, "older", T0))
        project(session, campaign_records(tenant, "newer", T0 + timedelta(days=1)))
        project(session, campaign_records(other, "theirs", T0 + timedelta(days=2)))
        session.commit()

    page = tenant_campaigns(log.engine, tenant, limit=1)
    assert page.total == 2 and [c.campaign_id for c in page.campaigns] == ["newer"]
    assert [c.campaign_id for c in tenant_campaigns(log.engine, tenant, 1, 1).campaigns] == [
        "older"
    ]

    accounts = campaign_accounts(log.engine, tenant, "older", limit=2, offset=1)
    assert [a.account_id for a in accounts] == ["A-2", "A-3"]
    assert accounts[0].balance == Decimal("290.00") and accounts[0].steps_total == 2

    # Payments at 0, 45 and 90 minutes; contacts at 0, 1 and 2 (skipped steps are none).
    timeline = campaign_timeline(log.engine, tenant, "older", buckets=6)
    assert 1 <= len(timeline.buckets) <= 6
    assert timeline.buckets[0].start == T0
    assert timeline.buckets[-1].end > T0 + timedelta(minutes=90) >= timeline.buckets[-1].start
    assert sum(b.contacts for b in timeline.buckets) == 3
    assert timeline.buckets[0].contacts == 3  # all within the first quarter of an hour
    collected = [b.collected.get("USD", Decimal(0)) for b in timeline.buckets]
    assert sum(collected) == Decimal("60.00")
    assert collected[0] == Decimal("10.00") and collected[-1] == Decimal("30.00")
    assert campaign_timeline(log.engine, other, "older").buckets == []


# --- sessions, forms and tenants -----------------------------------------------------


@dataclass
class Browserless:
    """An HTTP client that signs in to the console as a browser would (cookies kept)."""

    app: FastAPI
    http: httpx.AsyncClient

    async def sign_in(self, key: str, next: str = "") -> httpx.Response:
        form = await self.http.get("/console/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce is not None, form.text
        return await self.http.post(
            "/console/login", data={"api_key": key, "nonce": nonce.group(1), "next": next}
        )

    async def csrf(self, path: str = "/console/approvals") -> str:
        page = await self.http.get(path)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None, page.text
        return token.group(1)


@pytest_asyncio.fixture
async def browserless(client: Client, settings: Settings) -> AsyncIterator[Browserless]:
    app = create_app(settings, client)
    await app.state.service.prepare()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        yield Browserless(app, http)
    app.state.service.close()


def dead_letter(tenant_id: str, address: str) -> DeadLetter:
    """A dead letter whose provider's error names the debtor's address and number."""
    account_id = f"A-{uuid.uuid4().hex[:8]}"
    request = ContactRequest(
        attempt_id=f"account/{tenant_id}/{account_id}/run/notice/email",
        tenant_id=tenant_id,
        account_id=account_id,
        channel=Channel.EMAIL,
        to=address,
        template="reminder",
        message=MessageContext(
            debtor_name="Rae Retry",
            account_id=account_id,
            creditor="Acme",
            collector="Acme",
            balance=Decimal("10.00"),
            currency="USD",
            due_date=date(2026, 1, 1),
            days_past_due=90,
        ),
        compliance=ComplianceContext(facts=ComplianceFacts(timezones=[DAYTIME_ZONE])),
    )
    return DeadLetter(
        dead_letter_id=f"dlq_{uuid.uuid4().hex[:16]}",
        tenant_id=tenant_id,
        account_id=account_id,
        campaign_id="c-console",
        workflow_id=f"account/{tenant_id}/{account_id}",
        step_id="notice",
        template="reminder",
        created_at=datetime.now(UTC),
        failures=[
            FailedSend(
                channel=Channel.EMAIL,
                to=address,
                attempt_id=request.attempt_id,
                error_type="PermanentProviderError",
                error=f"550 5.1.1 <{address}> unknown; also tried +1 415 555 0199",
                attempts=3,
            )
        ],
        request=request,
    )


async def test_a_page_without_a_session_asks_to_sign_in_and_a_wrong_key_is_refused(
    browserless: Browserless, settings: Settings
) -> None:
    _, key = new_tenant(settings)
    http = browserless.http
    bounced = await http.get("/console/approvals")
    assert bounced.status_code == 303
    assert bounced.headers["location"] == "/console/login?next=%2Fconsole%2Fapprovals"

    # A sign-in form from nowhere (no nonce cookie to match) is refused.
    forged = await http.post("/console/login", data={"api_key": key, "nonce": "x"})
    assert forged.status_code == 401 and "expired or came from another site" in forged.text
    wrong = await browserless.sign_in("rk_nope_nope")
    assert wrong.status_code == 401 and "api_key: the API key is not valid" in wrong.text
    assert "recoup_console" not in http.cookies

    # Signed in, the browser goes where it was sent: a console page, never another site.
    away = await browserless.sign_in(key, next="https://evil.example/console/")
    assert away.status_code == 303 and away.headers["location"] == "/console/campaigns"
    cookie = away.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert key not in cookie
    back = await browserless.sign_in(key, next="/console/dead-letters")
    assert back.headers["location"] == "/console/dead-letters"
    page = await http.get("/console/dead-letters")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]

    # A changed cookie is no session.
    session = http.cookies["recoup_console"]
    http.cookies.set("recoup_console", session[:-4] + "AAAA", domain="recoup.test", path="/console")
    assert (await http.get("/console/approvals")).status_code == 303


async def test_forms_need_their_sessions_token_and_a_revoked_key_ends_the_session(
    browserless: Browserless, settings: Settings
) -> None:
    tenant, key = new_tenant(settings)
    _, other_key = new_tenant(settings)
    http = browserless.http
    await browserless.sign_in(other_key)
    their_token = await browserless.csrf()
    await browserless.sign_in(key)
    mine = await browserless.csrf()
    assert mine != their_token

    decide = "/console/approvals/A-1/settlement-1"
    for token in ("", their_token):
        refused = await http.post(decide, data={"decision": "approve", "csrf": token})
        assert refused.status_code == 403 and "csrf" in refused.text
    unknown = await http.post(decide, data={"decision": "approve", "csrf": mine})
    assert unknown.status_code == 404  # the form was good; the account has no campaign
    odd = await http.post(decide, data={"decision": "maybe", "csrf": mine})
    assert odd.status_code == 422 and "decision: must be approve or deny" in odd.text

    store = browserless.app.state.service.tenants
    store.revoke(key.split("_")[1])
    ended = await http.get("/console/campaigns")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/console/login")
    assert "recoup_console" not in http.cookies  # the session was ended with the key
    assert tenant.tenant_id  # (the tenant stays; only its key is gone)


async def test_another_tenants_dead_letter_is_not_found_and_errors_show_no_address(
    browserless: Browserless, settings: Settings
) -> None:
    mine, key = new_tenant(settings)
    theirs, their_key = new_tenant(settings)
    address = f"rae.{uuid.uuid4().hex[:6]}@example.com"
    with Root(settings) as root:
        root.dead_letters.record(dead_letter(mine.tenant_id, address))
        other = dead_letter(theirs.tenant_id, address)
        root.dead_letters.record(other)
    http = browserless.http
    await browserless.sign_in(key)
    page = await http.get("/console/dead-letters")
    assert other.dead_letter_id not in page.text
    assert address not in page.text and "555 0199" not in page.text
    assert "[address]" in page.text and "[number]" in page.text
    token = await browserless.csrf("/console/dead-letters")
    steal = await http.post(
        f"/console/dead-letters/{other.dead_letter_id}/redrive", data={"csrf": token}
    )
    assert steal.status_code == 404 and "dead_letter_id: no dead letter" in steal.text
    await browserless.sign_in(their_key)
    assert other.dead_letter_id in (await http.get("/console/dead-letters")).text


async def test_a_breaker_store_that_does_not_answer_is_said_on_the_page(
    client: Client, settings: Settings
) -> None:
    nobody = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_app(nobody, client)
    await app.state.service.prepare()
    _, key = new_tenant(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        browserless = Browserless(app, http)
        await browserless.sign_in(key)
        page = await http.get("/console/breakers")
    await app.state.service.aclose()
    assert page.status_code == 200
    assert "circuit breaker store" in page.text and "is unavailable" in page.text
