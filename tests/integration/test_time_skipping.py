"""A real-time playbook (days, not seconds) on the time-skipping test server."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from adapters.playbook_files import load_playbook
from bootstrap.settings import Settings
from domain import names
from domain.campaign import CampaignSnapshot, CollectionStatus
from domain.channels import Channel
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.conftest import TENANT, make_account, make_settings
from workers.run import workers


async def test_standard_playbook_runs_its_21_days_in_seconds(
    skipping_env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    tmp_path: Path,
) -> None:
    settings: Settings = make_settings(skipping_env, smtp_sim, twilio_sim, tmp_path)
    playbook = load_playbook("standard", search_dir=settings.playbook_dir)
    account = make_account()
    client = skipping_env.client
    began = time.monotonic()
    async with workers(client, settings) as built:
        for w in built:
            await w.__aenter__()
        try:
            handle = await start_account_campaign(
                client,
                settings,
                tenant=TENANT,
                campaign_id="real-days",
                playbook=playbook,
                account=account,
            )
            outcome = await handle.result()
            snapshot = await handle.query(names.QUERY_STATUS, result_type=CampaignSnapshot)
            started = (await handle.describe()).start_time
        finally:
            for w in built:
                await w.__aexit__(None, None, None)
    assert time.monotonic() - began < 60  # generous: the point is days became seconds
    assert outcome.status is CollectionStatus.EXHAUSTED
    assert [a.step_id for a in snapshot.attempts] == [s.id for s in playbook.steps]
    for attempt, step in zip(snapshot.attempts, playbook.steps, strict=True):
        offset = attempt.at - started
        # Each touch happens on its playbook day (to within the minutes a send takes).
        assert timedelta(days=step.day) <= offset < timedelta(days=step.day, hours=1)
    assert outcome.contacts.get(Channel.EMAIL, 0) >= 1
