"""The adaptive policy in a real campaign, on the time-skipping test server.

Real playbook days and real local hours: the next-best-action agent picks the
channel and time window that have paid in the account's segment, the campaign waits
for that window in the debtor's time zone, and what the contact led to is learnt.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from adapters.action_stats import ATTRIBUTION, ActionStats
from domain import names
from domain.campaign import CampaignSnapshot, CollectionStatus, PaymentReceived
from domain.channels import Channel
from domain.next_action import ActionOutcome, Arm, TimeWindow, segment_of
from domain.playbook import Playbook, Step, StopCondition
from domain.policy import ContactPolicy
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.conftest import TENANT, make_account, make_settings, serving

PLAYBOOK = Playbook(
    name="two-touches",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="second", day=3, channel=Channel.EMAIL, template="reminder"),
        Step(id="third", day=6, channel=Channel.EMAIL, template="reminder"),
    ],
    closing_days=2,
    stop_when=[StopCondition.PAID_IN_FULL],
)
ZONE = "America/Chicago"


async def test_the_adaptive_policy_contacts_by_what_has_paid_and_learns(
    skipping_env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    tmp_path: Path,
) -> None:
    settings = make_settings(skipping_env, smtp_sim, twilio_sim, tmp_path).model_copy(
        update={
            "contact_policy": ContactPolicy.ADAPTIVE,
            "research_enabled": False,
            "nba_exploration": 0.0,
        }
    )
    account = make_account(timezones=[ZONE])
    segment = segment_of(account)
    best = Arm(channel=Channel.SMS, window=TimeWindow.EVENING)
    stats = ActionStats(settings.sql_url)
    stats.create_tables()
    # Earlier campaigns: evening texts paid in this segment, everything else did not.
    history = [
        ActionOutcome(
            outcome_id=f"past-{arm.key}-{i}",
            tenant_id=TENANT.tenant_id,
            segment=segment,
            arm=arm,
            reward=1.0 if arm == best else 0.0,
            kind="payment" if arm == best else "none",
        )
        for arm in [Arm(channel=c, window=w) for c in Channel for w in TimeWindow]
        for i in range(40)
    ]
    stats.record(history)
    before = {s.arm: s.trials for s in stats.stats(TENANT.tenant_id, segment)}
    client = skipping_env.client
    async with serving(client, settings):
        handle = await start_account_campaign(
            client,
            settings,
            tenant=TENANT,
            campaign_id="adaptive",
            playbook=PLAYBOOK,
            account=account,
        )
        outcome = await handle.result()
        snapshot = await handle.query(names.QUERY_STATUS, result_type=CampaignSnapshot)
    assert outcome.status is CollectionStatus.EXHAUSTED
    notice, *adaptive = snapshot.attempts
    # The validation notice stays where the playbook put it.
    assert (notice.step_id, notice.channel) == ("notice", Channel.EMAIL)
    assert [a.step_id for a in adaptive] == ["second", "third"]
    for attempt in adaptive:
        # No exploration here: the agent exploits what it learnt.
        assert attempt.channel is Channel.SMS
        assert 17 <= attempt.at.astimezone(ZoneInfo(ZONE)).hour < 21
    after = {s.arm: s.trials for s in stats.stats(TENANT.tenant_id, segment)}
    stats.dispose()
    # Both adaptive contacts were learnt from (nothing came of them: reward 0), and so
    # was the validation notice, under the window it went out in.
    assert after[best] == before[best] + 2
    assert sum(after.values()) == sum(before.values()) + 3


async def test_a_payment_after_an_adaptive_contact_is_its_reward(
    skipping_env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    tmp_path: Path,
) -> None:
    settings = make_settings(skipping_env, smtp_sim, twilio_sim, tmp_path).model_copy(
        update={"contact_policy": ContactPolicy.ADAPTIVE, "research_enabled": False}
    )
    account = make_account(timezones=[ZONE])
    segment = segment_of(account)
    client = skipping_env.client
    async with serving(client, settings):
        handle = await start_account_campaign(
            client,
            settings,
            tenant=TENANT,
            campaign_id="adaptive-paid",
            playbook=PLAYBOOK,
            account=account,
        )
        # Wait (in skipped time) until the adaptive touch went out, then pay.
        while True:
            snapshot = await handle.query(names.QUERY_STATUS, result_type=CampaignSnapshot)
            if len(snapshot.attempts) >= 2:
                break
            await skipping_env.sleep(timedelta(hours=6))
        # Both contacts count already, though neither's outcome is known: each agent
        # opened its trial when it made the contact (reward 0 until recorded), a whole
        # trial once its attribution window has passed.
        stats = ActionStats(settings.sql_url)
        now = await skipping_env.get_current_time()
        meanwhile = stats.stats(TENANT.tenant_id, segment, now + ATTRIBUTION)
        stats.dispose()
        assert sum(s.trials for s in meanwhile) == 2
        assert sum(s.reward for s in meanwhile) == 0
        await handle.signal(
            names.SIGNAL_PAYMENT,
            PaymentReceived(payment_id="p-1", amount=account.amount_due, currency="USD"),
        )
        outcome = await handle.result()
    assert outcome.status is CollectionStatus.PAID
    stats = ActionStats(settings.sql_url)
    learnt = stats.stats(TENANT.tenant_id, segment)
    stats.dispose()
    second = snapshot.attempts[1]
    # Both contacts were learnt from: the validation notice (nothing came of it within
    # three days) and the adaptive touch, which the payment rewarded.
    assert sum(s.trials for s in learnt) == 2
    [rewarded] = [s for s in learnt if s.reward > 0]
    assert rewarded.arm.channel is second.channel and rewarded.reward == 1.0
