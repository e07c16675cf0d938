"""AccountCampaign against the real dev server, workers and simulators."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from bootstrap.settings import Settings
from domain import names
from domain.account import PhoneContact
from domain.campaign import (
    AccountCampaignInput,
    AccountOutcome,
    CampaignSnapshot,
    CollectionStatus,
    InboundReply,
    PaymentReceived,
)
from domain.channels import Channel
from domain.contact import ContactOutcome
from domain.playbook import Step
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.campaign_support import (
    DAY,
    cadence,
    calls_to,
    eventually,
    mails_to,
    replies_read,
    start,
    status,
    texts_to,
)
from tests.conftest import TENANT, make_account
from workflows import ALL_WORKFLOWS


async def test_playbook_runs_every_step_on_its_channel(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    email, phone = account.emails[0].address, account.phones[0].number
    handle = await start(client, settings, account)
    outcome = await handle.result()

    assert outcome.status is CollectionStatus.EXHAUSTED
    assert outcome.balance == Decimal("250.00")
    assert outcome.contacts == {Channel.EMAIL: 2, Channel.SMS: 1, Channel.PHONE: 1}
    mails = mails_to(smtp_sim, email)
    assert len(mails) == 2
    assert all("debt collector" in text for text in mails)
    assert all("250.00" in text for text in mails)
    assert len(texts_to(twilio_sim, phone)) == 1
    assert "Reply STOP to opt out." in texts_to(twilio_sim, phone)[0]
    assert calls_to(twilio_sim, phone) == 1

    # The recorded history replays with the current code: the workflow is deterministic.
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        await handle.fetch_history()
    )

    snapshot = await status(handle)
    assert [a.step_id for a in snapshot.attempts] == ["notice", "text", "call", "final"]
    assert snapshot.attempts[2].outcome is ContactOutcome.CONVERSATION
    # Each step waits for its day, counted from the campaign's start.
    started = (await handle.describe()).start_time
    for attempt, day in zip(snapshot.attempts, (0, 1, 2, 3), strict=True):
        assert (attempt.at - started).total_seconds() >= day * DAY
    # Every contact passed the compliance gate when planned and when sent.
    planned = [d for d in snapshot.decisions if d.stage == "plan"]
    assert [d.step_id for d in planned] == ["notice", "text", "call", "final"]
    assert all(d.allowed and d.ruleset.startswith("us-federal@") for d in planned)


async def test_full_payment_ends_campaign_with_no_further_contact(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    email, phone = account.emails[0].address, account.phones[0].number
    handle = await start(
        client,
        settings,
        account,
        cadence(
            steps=[
                Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
                Step(id="text", day=2, channel=Channel.SMS, template="reminder"),
            ]
        ),
    )
    await eventually(lambda: len(mails_to(smtp_sim, email)) == 1)
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p-1", amount=Decimal("250.00"), currency="USD"),
    )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.PAID
    assert outcome.amount_collected == Decimal("250.00")
    assert outcome.balance == 0
    # Well past the SMS's day: nothing more was sent.
    await asyncio.sleep(DAY * 3)
    assert texts_to(twilio_sim, phone) == []
    assert len(mails_to(smtp_sim, email)) == 1


async def test_partial_payment_lowers_the_balance_later_messages_quote(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    phone = account.phones[0].number
    # Days of 2 s: the payment lands well before the SMS step falls due, even on a busy
    # machine (with 0.25 s days the SMS could already be on its way, quoting 250.00).
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="c-test",
        playbook=cadence(),
        account=account,
        seconds_per_day=2,
    )
    await eventually(lambda: len(mails_to(smtp_sim, account.emails[0].address)) == 1)
    payment = PaymentReceived(payment_id="p-1", amount=Decimal("100.00"), currency="USD")
    await handle.signal(names.SIGNAL_PAYMENT, payment)
    await handle.signal(names.SIGNAL_PAYMENT, payment)  # redelivered: counted once
    snapshot = await status(handle)
    assert snapshot.balance == Decimal("150.00")
    assert snapshot.amount_paid == Decimal("100.00")
    assert snapshot.status in {CollectionStatus.ACTIVE, CollectionStatus.SCHEDULED}

    await eventually(lambda: len(texts_to(twilio_sim, phone)) == 1)
    assert "150.00" in texts_to(twilio_sim, phone)[0]
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p-2", amount=Decimal("150.00"), currency="USD"),
    )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.PAID
    assert outcome.amount_collected == Decimal("250.00")


async def test_second_start_for_the_same_account_attaches(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account()
    first = await start(client, settings, account)
    second = await start(client, settings, account)
    assert first.id == second.id == f"account/acme/{account.account_id}"
    assert second.result_run_id == first.result_run_id
    await first.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p", amount=Decimal("250.00"), currency="USD"),
    )
    await first.result()
    # Visibility is eventually consistent; a duplicate would show as two executions.
    await asyncio.sleep(1.0)
    found = [w async for w in client.list_workflows(f"RecoupAccount = '{account.account_id}'")]
    assert len(found) == 1


async def test_stop_reply_opts_out_sms_and_falls_back_to_email(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account(
        phones=[PhoneContact(number="+14155550123", sms_consent=True, voice_consent=False)]
    )
    account = account.model_copy(update={"account_id": f"A-{uuid.uuid4().hex[:8]}"})
    handle = await start(
        client,
        settings,
        account,
        cadence(
            steps=[
                Step(id="text", day=0, channel=Channel.SMS, template="reminder"),
                # Three seconds after the first: the STOP must arrive before it, even
                # on a loaded machine.
                Step(
                    id="text-again",
                    day=12,
                    channel=Channel.SMS,
                    template="reminder",
                    fallback=Channel.EMAIL,
                ),
            ]
        ),
    )
    await eventually(lambda: len(texts_to(twilio_sim, "+14155550123")) >= 1)
    sent_before = len(texts_to(twilio_sim, "+14155550123"))
    await handle.signal(
        names.SIGNAL_REPLY,
        InboundReply(reply_id="r-1", channel=Channel.SMS, text="STOP", from_address="+14155550123"),
    )
    outcome = await handle.result()
    assert len(texts_to(twilio_sim, "+14155550123")) == sent_before
    assert len(mails_to(smtp_sim, account.emails[0].address)) == 1
    assert outcome.contacts[Channel.EMAIL] == 1


async def test_opting_out_of_every_channel_ends_the_campaign(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account(phones=[])
    handle = await start(
        client,
        settings,
        account,
        cadence(
            steps=[
                Step(id="notice", day=1, channel=Channel.EMAIL, template="first_notice"),
            ]
        ),
    )
    await handle.signal(
        names.SIGNAL_REPLY,
        InboundReply(reply_id="r-1", channel=Channel.EMAIL, text="stop"),
    )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.OPTED_OUT
    assert outcome.contacts == {}


async def test_promise_pauses_outreach_until_it_is_broken(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
) -> None:
    account = make_account(phones=[])
    email = account.emails[0].address
    handle = await start(
        client,
        settings,
        account,
        cadence(
            steps=[
                Step(id="a", day=0, channel=Channel.EMAIL, template="first_notice"),
                Step(id="b", day=1, channel=Channel.EMAIL, template="reminder"),
            ],
            promise_grace_days=3,
            closing_days=0,
        ),
    )
    await eventually(lambda: len(mails_to(smtp_sim, email)) == 1)
    await handle.signal(
        names.SIGNAL_REPLY,
        # A date ten days off (eleven playbook days with the day itself: 2.75 s), not a
        # weekday: on a Thursday "Friday" is two days (0.5 s) off, less than the check
        # below takes on a loaded machine.
        InboundReply(reply_id="r-1", channel=Channel.EMAIL, text="I will pay in 10 days"),
    )
    # Read in the reader activity, then acted on.
    snapshot = await replies_read(handle)
    assert snapshot.status is CollectionStatus.PROMISED
    assert snapshot.promise_until is not None
    # Day 1 comes and goes inside the promise: no second email yet.
    await asyncio.sleep(DAY * 1.8)
    assert len(mails_to(smtp_sim, email)) == 1
    outcome = await handle.result()
    # Broken promise: outreach resumed with step b.
    assert len(mails_to(smtp_sim, email)) == 2
    assert outcome.status is CollectionStatus.EXHAUSTED
    assert outcome.promises == 1


async def test_continue_as_new_keeps_the_campaign_state(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account(phones=[])
    playbook = cadence(
        steps=[
            Step(id="later", day=300, channel=Channel.EMAIL, template="reminder"),
        ],
        closing_days=0,
    )
    # A small history limit (an operator setting) makes 40 replies force continue-as-new.
    handle = await client.start_workflow(
        names.ACCOUNT_CAMPAIGN,
        AccountCampaignInput(
            tenant=TENANT,
            campaign_id="c-can",
            account=account,
            playbook=playbook,
            seconds_per_day=DAY,
            queues=settings.queues,
            max_history_events=100,
        ),
        id=f"account/acme/{account.account_id}",
        task_queue=settings.queues.campaigns,
        result_type=AccountOutcome,
    )
    for i in range(40):
        await handle.signal(
            names.SIGNAL_REPLY,
            InboundReply(reply_id=f"r-{i}", channel=Channel.EMAIL, text=f"question {i}"),
        )
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p-1", amount=Decimal("50.00"), currency="USD"),
    )
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p-2", amount=Decimal("200.00"), currency="USD"),
    )
    outcome = await handle.result()
    latest = client.get_workflow_handle(handle.id)
    description = await latest.describe()
    assert description.run_id != handle.first_execution_run_id  # it continued as new
    snapshot = await latest.query(names.QUERY_STATUS, result_type=CampaignSnapshot)
    assert snapshot.replies == 40
    assert snapshot.amount_paid == Decimal("250.00")
    assert outcome.status is CollectionStatus.PAID
    assert outcome.amount_collected == Decimal("250.00")
    assert outcome.contacts == {}
