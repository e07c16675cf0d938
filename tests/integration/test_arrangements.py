"""The settlement / payment-plan saga against the real payments and CRM simulators.

Every step is checked where it lands (the payment link at the provider, the
adjustment in the ledger, the message in the debtor's mailbox), and so is every
compensation when a step fails for good or an instalment is missed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client, WorkflowHandle

from adapters.templates import TemplateRenderer
from bootstrap.settings import Settings
from domain.arrangements import (
    Arrangement,
    ArrangementKind,
    ArrangementRequest,
    ArrangementStatus,
    ArrangementTerms,
    Instalment,
    SagaStep,
)
from domain.campaign import AccountOutcome, CollectionStatus, PaymentReceived
from domain.channels import Channel
from domain.contact import MessageContext
from domain.playbook import Playbook
from service.campaigns import ArrangementRefused, arrange, record_payment
from simulators.crm import CrmSimulator, SimulatedAdjustment
from simulators.payments import PaymentsSimulator
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.arrangement_support import ON_TIME, PLAYBOOK, in_days, pay, plan, settlement
from tests.campaign_support import eventually, mails_to, start, status
from tests.cli_support import env_for, recoup
from tests.conftest import TENANT, make_account


def booked(crm: CrmSimulator, reference: str) -> list[SimulatedAdjustment]:
    return [a for a in crm.adjustments.values() if a.reference == reference]


async def started(
    client: Client, settings: Settings, smtp_sim: SmtpSimulator, playbook: Playbook = PLAYBOOK
) -> tuple[WorkflowHandle[object, AccountOutcome], str, str]:
    """A campaign whose first notice went out (balance 250.00 USD)."""
    account = make_account()
    address = account.emails[0].address
    handle = await start(client, settings, account, playbook)
    await eventually(lambda: len(mails_to(smtp_sim, address)) == 1)
    return handle, account.account_id, address


async def test_a_settlement_is_booked_confirmed_reminded_and_settled(
    client: Client,
    settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
    payments_sim: PaymentsSimulator,
    crm_sim: CrmSimulator,
) -> None:
    handle, account_id, address = await started(client, settings, smtp_sim, ON_TIME)
    # The simulator serves the whole session: count only this test's links.
    links_before = payments_sim.executed["create_payment_link"]
    request = settlement(f"set-{account_id}", due_in=30)
    accepted = await arrange(client, TENANT.tenant_id, account_id, request)
    assert accepted.status is ArrangementStatus.SETTING_UP
    again = await arrange(client, TENANT.tenant_id, account_id, request)  # a retried call
    assert again.request == accepted.request

    # confirmation, then the reminder (its window opened at once)
    await eventually(lambda: len(mails_to(smtp_sim, address)) == 3)
    confirmation, reminder = mails_to(smtp_sim, address)[1:]
    snapshot = await status(handle)
    arrangement = snapshot.arrangement
    assert arrangement is not None and arrangement.status is ArrangementStatus.ACTIVE
    assert snapshot.status is CollectionStatus.ARRANGED
    assert arrangement.link_url and arrangement.link_url in confirmation
    assert "150.00 USD in full settlement of the balance of 250.00 USD" in confirmation
    assert "payment 1 of 1" in reminder
    assert payments_sim.links[arrangement.link_id or ""].active
    [adjustment] = [
        a for a in crm_sim.adjustments.values() if a.reference == request.arrangement_id
    ]
    assert (adjustment.kind, adjustment.amount, adjustment.status) == (
        "settlement",
        Decimal("100.00"),  # what the creditor forgives
        "posted",
    )
    # One link: the retried call made none.
    assert payments_sim.executed["create_payment_link"] == links_before + 1

    await pay(client, account_id, f"p-{account_id}", "150.00")
    outcome = await handle.result()
    assert (outcome.status, outcome.amount_collected, outcome.balance) == (
        CollectionStatus.SETTLED,
        Decimal("150.00"),
        Decimal("0"),
    )
    assert len(mails_to(smtp_sim, address)) == 3  # no final notice after the settlement


async def test_a_missed_instalment_undoes_the_plan_and_collection_resumes(
    client: Client,
    settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
    payments_sim: PaymentsSimulator,
    crm_sim: CrmSimulator,
) -> None:
    handle, account_id, address = await started(client, settings, smtp_sim)
    request = plan(f"plan-{account_id}")
    await arrange(client, TENANT.tenant_id, account_id, request)

    async def arrangement_status() -> ArrangementStatus | None:
        arrangement = (await status(handle)).arrangement
        return arrangement.status if arrangement else None

    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while await arrangement_status() is not ArrangementStatus.MISSED:
        assert datetime.now(UTC) < deadline, "the missed instalment was never noticed"
    snapshot = await status(handle)
    arrangement = snapshot.arrangement
    assert arrangement is not None
    assert arrangement.compensated == [
        SagaStep.SCHEDULE,
        SagaStep.CONFIRMATION,
        SagaStep.LEDGER,
        SagaStep.PAYMENT_LINK,
    ]
    assert snapshot.status is CollectionStatus.ACTIVE
    texts = mails_to(smtp_sim, address)
    assert any("is no longer in place: payment 1 was not received in time" in t for t in texts)
    assert payments_sim.links[arrangement.link_id or ""].active is False
    [adjustment] = [
        a for a in crm_sim.adjustments.values() if a.reference == request.arrangement_id
    ]
    assert (adjustment.kind, adjustment.status) == ("payment_plan", "reversed")
    # back to collection: the playbook's final notice still goes out
    await eventually(lambda: any("final" in t.lower() for t in mails_to(smtp_sim, address)[-1:]))
    await handle.terminate("test done")


async def test_a_step_that_fails_for_good_compensates_the_steps_before_it(
    client: Client,
    settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
    payments_sim: PaymentsSimulator,
    crm_sim: CrmSimulator,
) -> None:
    handle, account_id, address = await started(client, settings, smtp_sim)
    crm_sim.fail_next(1, status=400, path_prefix="/v1/accounts/")  # the ledger refuses
    await arrange(client, TENANT.tenant_id, account_id, settlement(f"bad-{account_id}"))
    arrangement = await failed_arrangement(handle)
    assert arrangement.completed == [SagaStep.PAYMENT_LINK]
    assert arrangement.compensated == [SagaStep.PAYMENT_LINK]
    assert arrangement.detail is not None and arrangement.detail.startswith("ledger:")
    assert payments_sim.links[arrangement.link_id or ""].active is False
    assert len(mails_to(smtp_sim, address)) == 1  # never confirmed, so nothing to correct
    assert (await status(handle)).status is CollectionStatus.ACTIVE
    await handle.terminate("test done")


async def failed_arrangement(
    handle: WorkflowHandle[object, AccountOutcome],
) -> Arrangement:
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while True:
        arrangement = (await status(handle)).arrangement
        if arrangement is not None and arrangement.status is ArrangementStatus.FAILED:
            return arrangement
        assert datetime.now(UTC) < deadline, "the saga never failed"


async def test_a_refused_payment_link_leaves_nothing_to_undo(
    client: Client,
    settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
    payments_sim: PaymentsSimulator,
    crm_sim: CrmSimulator,
) -> None:
    handle, account_id, address = await started(client, settings, smtp_sim)
    payments_sim.fail_next(1, status=400, path_prefix="/v1/prices")
    request = settlement(f"nolink-{account_id}")
    await arrange(client, TENANT.tenant_id, account_id, request)
    arrangement = await failed_arrangement(handle)
    assert arrangement.completed == arrangement.compensated == []
    assert arrangement.detail is not None and arrangement.detail.startswith("payment_link:")
    assert booked(crm_sim, request.arrangement_id) == []
    assert len(mails_to(smtp_sim, address)) == 1
    await handle.terminate("test done")


async def test_an_undeliverable_confirmation_reverses_the_ledger_and_the_link(
    client: Client,
    settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    payments_sim: PaymentsSimulator,
    crm_sim: CrmSimulator,
) -> None:
    handle, account_id, _ = await started(client, settings, smtp_sim)
    smtp_sim.fail_next(1, code=550)  # the mailbox is gone
    twilio_sim.fail_next(1, status=400)  # and the text is refused
    request = settlement(f"unconfirmed-{account_id}")
    await arrange(client, TENANT.tenant_id, account_id, request)
    arrangement = await failed_arrangement(handle)
    assert arrangement.completed == [SagaStep.PAYMENT_LINK, SagaStep.LEDGER]
    assert arrangement.compensated == [SagaStep.LEDGER, SagaStep.PAYMENT_LINK]
    assert arrangement.detail is not None and arrangement.detail.startswith("confirmation:")
    [adjustment] = booked(crm_sim, request.arrangement_id)
    assert adjustment.status == "reversed"
    assert payments_sim.links[arrangement.link_id or ""].active is False
    await handle.terminate("test done")


async def test_a_plan_paid_in_full_ends_the_campaign_paid(
    client: Client,
    settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
    payments_sim: PaymentsSimulator,
) -> None:
    handle, account_id, address = await started(client, settings, smtp_sim, ON_TIME)
    request = plan(f"paid-{account_id}", due_in=(30, 33))
    await arrange(client, TENANT.tenant_id, account_id, request)
    await eventually(
        lambda: any("confirms the payment plan" in t for t in mails_to(smtp_sim, address))
    )
    for n in (1, 2):
        await record_payment(
            client,
            TENANT.tenant_id,
            account_id,
            PaymentReceived(
                payment_id=f"p{n}-{account_id}", amount=Decimal("125.00"), currency="USD"
            ),
        )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.PAID and outcome.balance == 0
    arrangement = (await status(handle)).arrangement
    assert arrangement is not None and arrangement.status is ArrangementStatus.COMPLETED
    assert arrangement.compensated == []
    assert payments_sim.links[arrangement.link_id or ""].active is True


async def test_arrangements_the_campaign_cannot_accept_are_refused_with_the_reason(
    client: Client, settings: Settings, running: object, smtp_sim: SmtpSimulator
) -> None:
    # a long playbook: the campaign must outlast the CLI calls below
    final = PLAYBOOK.steps[1].model_copy(update={"day": 365})
    long_playbook = PLAYBOOK.model_copy(update={"steps": [PLAYBOOK.steps[0], final]})
    handle, account_id, _ = await started(client, settings, smtp_sim, long_playbook)
    with pytest.raises(ArrangementRefused, match="less than the balance"):
        await arrange(client, TENANT.tenant_id, account_id, settlement("too-much", "250.00"))
    short = ArrangementRequest(
        arrangement_id="short",
        kind=ArrangementKind.PAYMENT_PLAN,
        instalments=[Instalment(due=in_days(2), amount=Decimal("100.00"))],
    )
    with pytest.raises(ArrangementRefused, match=r"plan's total \(100.00\) must equal"):
        await arrange(client, TENANT.tenant_id, account_id, short)
    # the operator's command says the same, and names the field of a bad instalment
    env = env_for(settings)
    bad = await recoup(
        "account", "arrange", account_id, "--tenant", TENANT.tenant_id,
        "--kind", "payment_plan", "-i", f"{in_days(2)}:100.00", env=env,
    )  # fmt: skip
    assert bad.code == 2 and "must equal the balance" in bad.err
    typo = await recoup(
        "account", "arrange", account_id, "--tenant", TENANT.tenant_id,
        "--kind", "settlement", "-i", "2026-13-01:10", env=env,
    )  # fmt: skip
    assert typo.code == 2 and "instalments[0].due" in typo.err
    ok = await recoup(
        "account", "arrange", account_id, "--tenant", TENANT.tenant_id, "--id", "cli-1",
        "--kind", "settlement", "-i", f"{in_days(3)}:200.00", env=env,
    )  # fmt: skip
    assert ok.code == 0 and "cli-1: settlement accepted" in ok.out
    assert (await status(handle)).arrangement is not None
    await handle.terminate("test done")


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
@pytest.mark.parametrize(
    "template", ["arrangement_confirmation", "instalment_reminder", "arrangement_cancelled"]
)
def test_arrangement_messages_render_with_their_terms_and_disclosures(
    template: str, channel: Channel, language: str
) -> None:
    terms = ArrangementTerms(
        kind=ArrangementKind.PAYMENT_PLAN,
        total=Decimal("250.00"),
        instalments=plan("x").instalments,
        link_url="https://buy.stripe.com/test_plink_1",
        instalment_number=2,
        reason="payment 1 was not received in time",
    )
    message = MessageContext(
        debtor_name="Dana Debtor",
        account_id="A-1",
        creditor="Acme",
        collector="Acme Recovery",
        balance=Decimal("250.00"),
        currency="USD",
        due_date=date(2026, 1, 1),
        days_past_due=120,
        arrangement=terms,
    )
    # The renderer refuses a message without its disclosures (TemplateError).
    text = (
        TemplateRenderer(Settings().template_dir).render(template, channel, language, message).text
    )
    if template == "arrangement_cancelled":
        assert "payment 1 was not received in time" in text
    else:
        assert "https://buy.stripe.com/test_plink_1" in text
    if template == "instalment_reminder":
        assert "125.00" in text and "2" in text
