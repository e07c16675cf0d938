"""One campaign, every surface, the same figures (docs/metrics.md).

A small portfolio runs to its end with payments in full and in part, a promise kept and
a promise broken. Then the portfolio's own last count (its details in the web UI),
``recoup campaign status --json``, ``recoup report --json``, the API's campaign view, the
console's campaign page and the simulated providers must all say the same: accounts
finished and by status, promises made and kept, amount collected, contacts attempted
per channel.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from api.app import create_app
from bootstrap.settings import Settings
from domain import names
from domain.account import Account
from domain.campaign import (
    AccountOutcome,
    CampaignSnapshot,
    InboundReply,
    PaymentReceived,
    account_workflow_id,
)
from domain.channels import Channel
from domain.playbook import Playbook, Step, StopCondition
from domain.portfolio import PortfolioStatus
from service.campaigns import launch_portfolio, record_payment
from service.models import CampaignView
from service.reports import CampaignReport
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.api_support import auth, eventually, new_tenant
from tests.campaign_support import mails_to, status, texts_to
from tests.cli_support import env_for, recoup
from tests.conftest import make_account

DAY = 2.0  # seconds per playbook day
# A notice, a text the next day, and a promise to pay stops outreach until its date.
EMAIL_THEN_SMS = Playbook(
    name="email-then-sms",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="text", day=1, channel=Channel.SMS, template="reminder"),
    ],
    closing_days=1,
    stop_when=[StopCondition.PAID_IN_FULL, StopCondition.PROMISE_TO_PAY],
)

Figures = dict[str, Any]


def from_status(s: PortfolioStatus) -> Figures:
    return {
        "accounts": s.total,
        "finished": s.finished,
        "by_status": {k.value: v for k, v in s.by_status.items() if v},
        "promises_made": s.promised,
        "promises_kept": s.promises_kept,
        "collected": {c: Decimal(a) for c, a in s.collected.items()},
        "attempted": {c.value: n for c, n in s.contacts.items() if n},
    }


def from_report(r: CampaignReport) -> Figures:
    return {
        "accounts": r.accounts,
        "finished": r.finished,
        "by_status": {k: v for k, v in r.statuses.items() if v},
        "promises_made": r.promises_made,
        "promises_kept": r.promises_kept,
        "collected": {c: Decimal(a) for c, a in r.collected.items()},
        "attempted": {c: b.attempts for c, b in r.by_channel.items() if b.attempts},
    }


def from_console(html: str) -> Figures:
    shown = dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))
    assert shown, html[:2000]

    def under(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in shown.items() if k.startswith(prefix)}

    return {
        "accounts": int(shown["progress.total"]),
        "finished": int(shown["progress.finished"]),
        "by_status": {k: int(v) for k, v in under("report.status.").items() if int(v)},
        "promises_made": int(shown["progress.promised"]),
        "promises_kept": int(shown["progress.promises_kept"]),
        "collected": {c: Decimal(a) for c, a in under("progress.collected.").items()},
        "attempted": {c: int(n) for c, n in under("progress.contacts.").items() if int(n)},
    }


async def test_every_surface_shows_the_same_figures(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    tenant, key = new_tenant(settings)
    # The last has no phone: its text is a skipped step, not a contact attempted.
    accounts = [make_account() for _ in range(5)] + [make_account(phones=[])]
    in_full, in_part, kept, broken = accounts[:4]
    campaign_id = "agree"
    portfolio = await launch_portfolio(
        client,
        settings,
        tenant=tenant,
        campaign_id=campaign_id,
        playbook=EMAIL_THEN_SMS,
        accounts=accounts,
        seconds_per_day=DAY,
    )

    def handle(account: Account) -> WorkflowHandle[Any, AccountOutcome]:
        return client.get_workflow_handle(account_workflow_id(tenant.tenant_id, account.account_id))

    async def pay(account: Account, amount: str) -> None:
        payment = PaymentReceived(
            payment_id=f"p-{account.account_id}", amount=Decimal(amount), currency="USD"
        )
        await record_payment(client, tenant.tenant_id, account.account_id, payment)

    async def snapshot(account: Account) -> CampaignSnapshot:
        return await status(handle(account))

    async def attempts(account: Account) -> int:
        try:
            return len((await status(handle(account))).attempts)
        except RPCError:
            return 0  # not started yet

    for account in accounts:  # every first notice out: each campaign is running
        await eventually(partial(attempts, account), lambda n: n >= 1)
    await pay(in_full, "250.00")
    await pay(in_part, "50.00")
    for account in (kept, broken):
        # A promise for tomorrow: outreach stops for two playbook days.
        await handle(account).signal(
            names.SIGNAL_REPLY,
            InboundReply(
                reply_id=f"r-{account.account_id}",
                channel=Channel.SMS,
                text="I will pay the whole balance tomorrow",
            ),
        )
        await eventually(partial(snapshot, account), lambda s: s.status.value == "promised")
    await pay(kept, "250.00")

    # The portfolio ends when its count, from the read model, has every account finished.
    final: PortfolioStatus = await portfolio.result()
    env = env_for(settings)
    shown = await recoup(
        "campaign", "status", campaign_id, "--tenant", tenant.tenant_id, "--json", env=env
    )
    assert shown.code == 0, shown.err
    reported = await recoup("report", campaign_id, "--tenant", tenant.tenant_id, "--json", env=env)
    assert reported.code == 0, reported.err
    app = create_app(settings, client)
    await app.state.service.prepare()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        api = await http.get(f"/v1/campaigns/{campaign_id}", headers=auth(key))
        assert api.status_code == 200, api.text
        form = await http.get("/console/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce is not None
        await http.post("/console/login", data={"api_key": key, "nonce": nonce.group(1)})
        page = await http.get(f"/console/campaigns/{campaign_id}")
        assert page.status_code == 200, page.text[:500]
    app.state.service.close()
    view = CampaignView.model_validate(api.json())
    assert view.progress is not None and view.report is not None

    surfaces = {
        "portfolio's last count": from_status(final),
        "campaign status": from_status(PortfolioStatus.model_validate(json.loads(shown.out))),
        "report": from_report(CampaignReport.model_validate(json.loads(reported.out))),
        "API progress": from_status(view.progress),
        "API report": from_report(view.report),
        "console": from_console(page.text),
    }
    expected = surfaces["report"]
    assert {name: f for name, f in surfaces.items() if f != expected} == {}

    # And the figures are the campaign's: what was paid, promised, and sent.
    assert expected["accounts"] == expected["finished"] == 6
    assert expected["by_status"] == {"paid": 2, "exhausted": 4}
    assert (expected["promises_made"], expected["promises_kept"]) == (2, 1)
    assert json.loads(reported.out)["promises_broken"] == 1
    assert expected["collected"] == {"USD": Decimal("550.00")}
    providers = {
        "email": sum(len(mails_to(smtp_sim, a.emails[0].address)) for a in accounts),
        "sms": sum(len(texts_to(twilio_sim, p.number)) for a in accounts for p in a.phones),
    }
    assert expected["attempted"] == {k: n for k, n in providers.items() if n}
    assert providers["email"] == 6
    skipped = json.loads(reported.out)["by_channel"]["sms"]["skipped"]
    assert skipped >= 1  # the phoneless account's text
    # The portfolio's details in the web UI say when they were counted.
    assert final.counted_at is not None
    assert timedelta(0) <= view.progress.counted_at - final.counted_at  # type: ignore[operator]
