"""The operator's console and ``/docs`` in a real browser (Debian's chromium, driven by
Playwright), against a real API, workers and Temporal dev server.

The console is signed in to through its form, shows a campaign's figures exactly as
``RecoupService.campaign`` returns them (read from the page's ``data-figure`` values),
moves them without a reload, approves a settlement and redrives a dead letter from the
page, shows no debtor's name, address or number on its list pages, and, like ``/docs``,
makes the browser request nothing from another origin. Screenshots are kept in
``test-artifacts/console/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.client import Client

from api.server import running_apis
from bootstrap.devserver import free_port
from bootstrap.settings import Settings
from domain.account import Tenant
from domain.campaign import account_workflow_id
from domain.channels import Channel
from domain.operator import ApprovalStatus
from domain.playbook import Playbook, Step
from domain.resilience import Backoff, RetryOverrides, RetryRule
from service.campaigns import arrange, start_account_campaign
from service.models import CampaignView
from service.operations import RecoupService
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.api_support import account_record, auth, eventually, new_tenant
from tests.arrangement_support import settlement
from tests.campaign_support import mails_to, status
from tests.cli_support import ROOT
from tests.conftest import make_account, serving

# Debian's chromium; `make e2e` installs it where it is missing.
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "console"
# Nothing of Chromium's own may go to the network either (updates, sync, safe browsing).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Email, then SMS, each tried three times 0.1 s apart: a dead letter within seconds.
FAST = RetryOverrides(
    email=RetryRule(max_attempts=3, backoff=Backoff.FIXED, initial_seconds=0.1),
    sms=RetryRule(max_attempts=3, backoff=Backoff.FIXED, initial_seconds=0.1),
)
FIGURES_JS = """() => Object.fromEntries([...document.querySelectorAll('[data-figure]')]
    .map(e => [e.dataset.figure, e.dataset.value]))"""
CHART_JS = """() => [...document.querySelectorAll('#chart g.bucket')].map(
    g => [g.dataset.collected, Number(g.dataset.contacts)])"""


@dataclass
class Console:
    url: str
    service: RecoupService
    settings: Settings
    tenant: Tenant
    key: str
    browser: Browser


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def console(client: Client, settings: Settings, browser: Browser) -> AsyncIterator[Console]:
    """A tenant whose sends give up fast, every worker, and the API on a free port."""
    tenant, key = new_tenant(settings)
    fast = settings.model_copy(
        update={"tenant_retry": {tenant.tenant_id: FAST}, "api_port": free_port()}
    )
    async with (
        serving(client, fast),
        running_apis(fast, client, grpc_enabled=False) as apis,
    ):
        yield Console(apis.http_url, apis.app.state.service, fast, tenant, key, browser)


def shoot(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


def foreign(requests: list[str], origin: str) -> list[str]:
    """Requests the page made to anything but ``origin`` (data: URLs are not requests)."""
    return [u for u in requests if not u.startswith(f"{origin}/") and not u.startswith("data:")]


def expected_figures(view: CampaignView) -> dict[str, str]:
    """Every figure the campaign page must carry, and its exact value, from the service."""
    out: dict[str, str] = {}

    def rate(x: float | None) -> str:
        return "" if x is None else repr(x)

    if (p := view.progress) is not None:
        for name in ("total", "started", "attached", "active", "finished", "promised"):
            out[f"progress.{name}"] = str(getattr(p, name))
        out["progress.promises_kept"] = str(p.promises_kept)
        out |= {f"progress.collected.{c}": str(a) for c, a in p.collected.items()}
        out |= {f"progress.contacts.{ch.value}": str(n) for ch, n in p.contacts.items()}
    if (r := view.report) is not None:
        out |= {
            "report.accounts": str(r.accounts),
            "report.finished": str(r.finished),
            "report.payments": str(r.payments),
            "report.contact_rate": rate(r.contact_rate),
            "report.right_party_rate": rate(r.right_party_rate),
            "report.promises_made": str(r.promises_made),
            "report.promises_kept": str(r.promises_kept),
            "report.promises_broken": str(r.promises_broken),
            "report.opt_out_rate": rate(r.opt_out_rate),
            "report.disputes": str(r.disputes),
        }
        out |= {f"report.opening.{c}": str(a) for c, a in r.opening_balance.items()}
        out |= {f"report.collected.{c}": str(a) for c, a in r.collected.items()}
        out |= {f"report.recovery.{c}": rate(x) for c, x in view.recovery_rate.items()}
        out |= {f"report.status.{s}": str(n) for s, n in r.statuses.items()}
        for kind, table in (("channel", r.by_channel), ("step", r.by_step)):
            for key, b in table.items():
                for field in ("attempts", "reached", "failed", "skipped", "collected"):
                    out[f"report.{kind}.{key}.{field}"] = str(getattr(b, field))
    return out


async def page_figures(page: Page) -> dict[str, str]:
    figures: dict[str, str] = await page.evaluate(FIGURES_JS)
    return figures


async def test_an_operator_runs_the_day_from_the_console(
    console: Console, smtp_sim: SmtpSimulator, twilio_sim: TwilioSimulator
) -> None:
    tenant, key, service = console.tenant, console.key, console.service
    # Three debtors, each with a name, address and number the list pages must not show.
    records = [account_record(name=f"Debtor {uuid.uuid4().hex[:6].upper()}") for _ in range(3)]
    secrets = [str(r[k]) for r in records for k in ("name", "email", "phone")]
    secrets += [str(r["phone"]).removeprefix("+1") for r in records]
    paid, partial, settling = (r["account_id"] for r in records)
    async with httpx.AsyncClient(base_url=console.url, headers=auth(key)) as http:
        body = {"playbook": "demo", "accounts": records, "seconds_per_day": 600}
        started = await http.post("/v1/campaigns", json=body)
        assert started.status_code == 202, started.text
        campaign_id = started.json()["campaign_id"]

        # Day 0: every account's first notice goes out; the next step is days away.
        def emailed(view: CampaignView) -> bool:
            return view.report is not None and sum(
                b.attempts for b in view.report.by_channel.values()
            ) >= len(records)

        await eventually(lambda: service.campaign(tenant, campaign_id), emailed, within=90)

        context = await console.browser.new_context(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        page = await context.new_page()

        # --- signing in: a wrong key is refused, the tenant's key lets in -------------
        await page.goto(f"{console.url}/console/campaigns/{campaign_id}")
        assert urlsplit(page.url).path == "/console/login"
        await page.screenshot(path=shoot("login"))
        await page.fill("#api_key", "rk_nope_nope")
        await page.click("button[type=submit]")
        await expect(page.locator("#problem")).to_contain_text("api_key: the API key is not valid")
        await page.screenshot(path=shoot("login-refused"))
        assert not [c for c in await context.cookies() if c["name"] == "recoup_console"]
        await page.fill("#api_key", key)
        await page.click("button[type=submit]")
        await expect(page.locator("#campaign-id")).to_have_text(campaign_id)
        [session] = [c for c in await context.cookies() if c["name"] == "recoup_console"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert key not in session["value"]

        # --- live progress: payments show up on the open page, with no reload ----------
        await page.evaluate("() => { window.stillThisPage = true; }")
        for account_id, amount in ((paid, "250.00"), (partial, "100.00")):
            payment = {"payment_id": f"pay-{account_id}", "amount": amount, "currency": "USD"}
            response = await http.post(f"/v1/accounts/{account_id}/payments", json=payment)
            assert response.status_code == 202, response.text
        collected = page.locator('[data-figure="report.collected.USD"]')
        await expect(collected).to_have_attribute("data-value", "350.00", timeout=90_000)
        await expect(collected).to_have_text("350.00 USD")
        assert await page.evaluate("() => window.stillThisPage === true")

        # --- the figures are the service's, every one of them ----------------------------
        async def agreeing() -> tuple[dict[str, str], dict[str, str]]:
            before = expected_figures(await service.campaign(tenant, campaign_id))
            shown = await page_figures(page)
            after = expected_figures(await service.campaign(tenant, campaign_id))
            return (shown, before) if before == after else ({}, before)

        shown, expected = await eventually(agreeing, lambda pair: pair[0] == pair[1], within=60)
        assert expected["report.accounts"] == "3" and expected["report.payments"] == "2"
        assert expected["report.collected.USD"] == "350.00"
        chart = await page.evaluate(CHART_JS)
        assert sum(Decimal(amount) for amount, _ in chart) == Decimal("350.00")
        attempts = sum(
            int(v) for k, v in shown.items() if re.fullmatch(r"report\.channel\.\w+\.attempts", k)
        )
        assert sum(contacts for _, contacts in chart) == attempts
        links = await page.eval_on_selector_all(
            "#accounts a.workflow", "links => links.map(a => [a.textContent, a.href])"
        )
        assert sorted(tuple(link) for link in links) == sorted(
            (
                r["account_id"],
                f"{console.settings.ui_url}/workflows/"
                + quote(account_workflow_id(tenant.tenant_id, r["account_id"]), safe=""),
            )
            for r in records
        )
        await page.screenshot(path=shoot("campaign"), full_page=True)
        await page.goto(f"{console.url}/console/campaigns")
        await expect(page.locator(f'tr[data-campaign="{campaign_id}"]')).to_be_visible()
        await page.screenshot(path=shoot("campaigns"), full_page=True)
        list_pages = {"campaigns": await page.content()}
        await page.goto(f"{console.url}/console/campaigns/{campaign_id}")
        list_pages["campaign"] = await page.content()

        # --- a dead letter, redriven from the page -----------------------------------------
        person = make_account(debtor_name=f"Debtor {uuid.uuid4().hex[:6].upper()}")
        secrets += [person.debtor_name, person.emails[0].address, person.phones[0].number]
        smtp_sim.fail_next(3, code=451)  # every email try
        twilio_sim.fail_next(3, status=500)  # every SMS try of the fallback
        failing = Playbook(
            name="console-dlq",
            steps=[
                Step(id="touch", day=0, channel=Channel.EMAIL, template="reminder",
                     fallback=Channel.SMS),
                Step(id="later", day=365, channel=Channel.EMAIL, template="reminder"),
            ],
            closing_days=0,
        )  # fmt: skip
        handle = await start_account_campaign(
            service.client,
            console.settings,
            tenant=tenant,
            campaign_id=f"c-dlq-{uuid.uuid4().hex[:6]}",
            playbook=failing,
            account=person,
            seconds_per_day=600,
        )
        snapshot = await eventually(lambda: status(handle), lambda s: bool(s.dead_letters))
        [letter_id] = snapshot.dead_letters
        await page.goto(f"{console.url}/console/dead-letters")
        row = page.locator(f'tr[data-dead-letter="{letter_id}"]')
        await expect(row).to_have_attribute("data-status", "open")
        await page.screenshot(path=shoot("dead-letters"), full_page=True)
        list_pages["dead-letters"] = await page.content()
        await row.get_by_role("button", name="Redrive").click()
        await expect(page.locator("#done")).to_contain_text(f"{letter_id}: redriven")
        await expect(row).to_have_attribute("data-status", "redriven")
        await page.screenshot(path=shoot("dead-letters-redriven"), full_page=True)
        await eventually(
            lambda: status(handle),
            lambda s: any("redrive-1" in a.attempt_id for a in s.attempts),
        )
        assert len(mails_to(smtp_sim, person.emails[0].address)) == 1

        # --- an approval with its deadline, approved from the page -----------------------
        # 100 of 250 forgives 60%: above what agents may agree alone.
        await arrange(service.client, tenant.tenant_id, settling, settlement("deep", "100.00"))
        [pending] = (
            await eventually(lambda: service.approvals(tenant), lambda a: bool(a.approvals))
        ).approvals
        approval = pending.approval
        await page.goto(f"{console.url}/console/approvals")
        row = page.locator(f'tr[data-account="{settling}"]')
        await expect(row.locator("td.deadline")).to_contain_text(
            f"{approval.expires_at:%Y-%m-%d %H:%M:%S} UTC" if approval.expires_at else "–"
        )
        await page.screenshot(path=shoot("approvals"), full_page=True)
        list_pages["approvals"] = await page.content()
        await row.get_by_label("note").fill("hardship documented")
        await row.get_by_role("button", name="Approve").click()
        await expect(page.locator("#done")).to_contain_text(f"{approval.approval_id}: approved")
        await page.screenshot(path=shoot("approvals-decided"), full_page=True)
        decided = await service.account(tenant, settling)
        [ruling] = [a for a in decided.approvals if a.approval_id == approval.approval_id]
        assert ruling.status is ApprovalStatus.APPROVED
        assert ruling.decided_by == f"console ({key.split('_')[1]})"
        assert ruling.note == "hardship documented"

        # --- breakers: this deployment keeps them per worker, and the page says so --------
        await page.goto(f"{console.url}/console/breakers")
        await expect(page.locator("#problem")).to_contain_text("RECOUP_REDIS_URL is not set")
        await page.screenshot(path=shoot("breakers"))

        # --- no debtor's name, address or number on any list page --------------------
        for name, html in list_pages.items():
            leaked = [s for s in secrets if s in html]
            assert leaked == [], f"{name} shows {leaked}"

        # --- signing out ends the session ---------------------------------------------------
        await page.get_by_role("button", name="Sign out").click()
        assert urlsplit(page.url).path == "/console/login"
        await page.goto(f"{console.url}/console/approvals")
        assert urlsplit(page.url).path == "/console/login"

        assert foreign(requests, console.url) == []
        assert any(u.endswith("/console/static/console.js") for u in requests)
        await context.close()


async def test_docs_load_swagger_ui_from_the_api_itself(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.url) as http:
        html = (await http.get("/docs")).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
        for asset in assets:
            served = await http.get(asset)
            assert served.status_code == 200 and served.content, asset
    assert not re.search(r"https?://", html), "the page names another origin"

    context = await console.browser.new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = await context.new_page()
    await page.goto(f"{console.url}/docs")
    # Swagger UI rendered the OpenAPI document: its title and an operation are on the page.
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Recoup API")
    await expect(page.locator(".opblock-summary-path").first).to_be_visible()
    await page.screenshot(path=shoot("docs"))
    await context.close()
    assert foreign(requests, console.url) == []
