"""Retry schedules, fallback, dead letters and the sent-ledger, against real providers.

Schedules are checked where they are decided (the agent's failure carries the
delay Temporal waits), and end to end with a tenant's shortened rules so the
dev server runs the whole retry, fallback and dead-letter path in seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailAgent
from activities.sms import SmsAgent
from adapters.breakers import (
    BreakerConfig,
    Breakers,
    BreakerState,
    MemoryBreakerStore,
    RedisBreakerStore,
)
from adapters.contact_ledger import ContactLedger
from adapters.dead_letter_store import DeadLetterStore
from adapters.smtp import SmtpMailer
from adapters.templates import TemplateRenderer
from adapters.twilio import TwilioClient
from bench.brokers import RedisServer
from bootstrap.devserver import free_port
from bootstrap.metrics import breaker_metrics, runtime_for
from bootstrap.settings import Settings
from domain import names
from domain.campaign import CollectionStatus
from domain.channels import Channel
from domain.compliance.model import ComplianceFacts
from domain.contact import ComplianceContext, ContactOutcome, ContactRequest, MessageContext
from domain.dead_letters import DeadLetterStatus
from domain.playbook import Playbook, Step
from domain.resilience import Backoff, RetryOverrides, RetryRule, RetryRules
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.campaign_support import (
    calls_to,
    eventually,
    mails_to,
    start,
    status,
    texts_to,
)
from tests.cli_support import env_for, recoup
from tests.conftest import DAYTIME_ZONE, TENANT, TWILIO_SID, TWILIO_TOKEN, make_account
from workers.run import Role, workers

REDIS_URL = "redis://127.0.0.1:6379/0"
FAST = RetryOverrides(
    email=RetryRule(max_attempts=3, backoff=Backoff.EXPONENTIAL, initial_seconds=0.1),
    sms=RetryRule(max_attempts=3, backoff=Backoff.LINEAR, initial_seconds=0.1),
    phone=RetryRule(max_attempts=2, backoff=Backoff.FIXED, initial_seconds=0.1),
)


def seconds(deltas: list[timedelta]) -> list[float]:
    return [d.total_seconds() for d in deltas]


# --- the rules ---------------------------------------------------------------


def test_default_rules_are_the_seeds() -> None:
    rules = RetryRules()
    assert (rules.email.max_attempts, seconds(rules.email.schedule)) == (3, [1, 4])
    assert (rules.sms.max_attempts, seconds(rules.sms.schedule)) == (3, [5, 10])
    assert (rules.phone.max_attempts, seconds(rules.phone.schedule)) == (2, [30])
    # The seed's third delays (16 s, 15 s) follow when a deployment allows a fourth try.
    four = rules.email.model_copy(update={"max_attempts": 4})
    assert seconds(four.schedule) == [1, 4, 16]
    assert seconds(rules.sms.model_copy(update={"max_attempts": 4}).schedule) == [5, 10, 15]


def test_tenant_overrides_replace_only_the_channels_they_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "RECOUP_TENANT_RETRY",
        '{"acme": {"sms": {"max_attempts": 5, "backoff": "fixed", "initial_seconds": 2}}}',
    )
    settings = Settings()
    acme = settings.retry_rules("acme")
    assert acme.sms == RetryRule(max_attempts=5, backoff=Backoff.FIXED, initial_seconds=2)
    assert acme.email == RetryRules().email
    assert settings.retry_rules("other") == RetryRules()


def test_a_bad_override_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_TENANT_RETRY", '{"acme": {"sms": {"max_attempts": 0}}}')
    with pytest.raises(ValueError, match=r"acme\.sms\.max_attempts"):
        Settings()


# --- the agents time their own retries -----------------------------------------


def request_for(channel: Channel, to: str) -> ContactRequest:
    return ContactRequest(
        attempt_id=f"account/acme/r-{uuid.uuid4().hex[:8]}/run/notice/{channel}",
        tenant_id="acme",
        account_id="r",
        channel=channel,
        to=to,
        template="reminder",
        message=MessageContext(
            debtor_name="Rae Retry",
            account_id="r",
            creditor="Acme",
            collector="Acme",
            balance=Decimal("10.00"),
            currency="USD",
            due_date=date(2026, 1, 1),
            days_past_due=90,
        ),
        compliance=ComplianceContext(
            facts=ComplianceFacts(timezones=[DAYTIME_ZONE], sms_consent=True, voice_consent=True)
        ),
    )


@pytest_asyncio.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[ContactLedger]:
    store = ContactLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.create_tables()
    yield store
    store.dispose()


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    return env


async def test_sms_retries_back_off_linearly_5_10_15(
    twilio_sim: TwilioSimulator, ledger: ContactLedger
) -> None:
    async with TwilioClient(
        twilio_sim.base_url, TWILIO_SID, TWILIO_TOKEN, "+15005550006"
    ) as client:
        agent = SmsAgent(client, TemplateRenderer(Settings().template_dir), ledger)
        request = request_for(Channel.SMS, "+14155550123")
        waits = []
        for n in (1, 2, 3):
            twilio_sim.fail_next(1, status=503)
            with pytest.raises(ApplicationError) as failed:
                await attempt(n).run(agent.send_sms, request)
            assert failed.value.type == "TransientProviderError"
            assert not failed.value.non_retryable
            assert failed.value.details[-1] == {"attempt": n}
            waits.append(failed.value.next_retry_delay)
    assert seconds([w for w in waits if w is not None]) == [5, 10, 15]


async def test_email_retries_back_off_exponentially_1_4_16(
    smtp_sim: SmtpSimulator, ledger: ContactLedger
) -> None:
    mailer = SmtpMailer("127.0.0.1", smtp_sim.port, sender="c@recoup.example")
    agent = EmailAgent(mailer, TemplateRenderer(Settings().template_dir), ledger)
    request = request_for(Channel.EMAIL, f"rae.{uuid.uuid4().hex[:6]}@example.com")
    waits = []
    for n in (1, 2, 3):
        smtp_sim.fail_next(1, code=451)
        with pytest.raises(ApplicationError) as failed:
            await attempt(n).run(agent.send_email, request)
        waits.append(failed.value.next_retry_delay)
    assert seconds([w for w in waits if w is not None]) == [1, 4, 16]


async def test_a_permanent_provider_error_is_not_retried(
    twilio_sim: TwilioSimulator, ledger: ContactLedger
) -> None:
    async with TwilioClient(
        twilio_sim.base_url, TWILIO_SID, TWILIO_TOKEN, "+15005550006"
    ) as client:
        agent = SmsAgent(client, TemplateRenderer(Settings().template_dir), ledger)
        twilio_sim.fail_next(1, status=400)
        with pytest.raises(ApplicationError) as failed:
            await attempt(1).run(agent.send_sms, request_for(Channel.SMS, "+14155550124"))
    assert failed.value.type == "PermanentProviderError"
    assert failed.value.non_retryable


async def test_a_provider_timeout_is_retried_and_the_retry_does_not_send_twice(
    twilio_sim: TwilioSimulator, ledger: ContactLedger
) -> None:
    """The provider took the message but answered too late: a transient failure, and the
    retry (same idempotency key) gets the first message back instead of a second one."""
    number = "+14155550177"
    twilio_sim.stall_next(1, seconds=1.0)
    async with TwilioClient(
        twilio_sim.base_url, TWILIO_SID, TWILIO_TOKEN, "+15005550006", timeout=0.3
    ) as client:
        agent = SmsAgent(client, TemplateRenderer(Settings().template_dir), ledger)
        request = request_for(Channel.SMS, number)
        with pytest.raises(ApplicationError) as timed_out:
            await attempt(1).run(agent.send_sms, request)
        assert timed_out.value.type == "TransientProviderError"
        await eventually(lambda: len(texts_to(twilio_sim, number)) == 1)  # it went out
        result = await attempt(2).run(agent.send_sms, request)
    assert result.outcome is ContactOutcome.SENT
    assert len(texts_to(twilio_sim, number)) == 1


async def test_a_retry_after_the_send_went_through_does_not_send_again(
    smtp_sim: SmtpSimulator, ledger: ContactLedger
) -> None:
    """The worker died after the relay accepted the mail: the retry finds it in the
    sent-ledger and reports it sent, without a second message (and without asking
    the gate, which may say no by now)."""
    mailer = SmtpMailer("127.0.0.1", smtp_sim.port, sender="c@recoup.example")
    agent = EmailAgent(mailer, TemplateRenderer(Settings().template_dir), ledger)
    address = f"once.{uuid.uuid4().hex[:6]}@example.com"
    request = request_for(Channel.EMAIL, address)
    first = await attempt(1).run(agent.send_email, request)
    # The retry runs after the debtor's calling hours have ended.
    late = request.model_copy(
        update={"compliance": ComplianceContext(facts=ComplianceFacts(timezones=["Etc/GMT-14"]))}
    )
    again = await attempt(2).run(agent.send_email, late)
    assert len(mails_to(smtp_sim, address)) == 1
    assert first.outcome is again.outcome is ContactOutcome.SENT
    assert again.sent_at == first.sent_at
    assert again.detail is not None and "earlier try" in again.detail


# --- end to end: retries, fallback, dead letters ---------------------------------


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"tenant_retry": {TENANT.tenant_id: FAST}})


def one_step(channel: Channel, fallback: Channel | None = None, later: bool = False) -> Playbook:
    steps = [Step(id="touch", day=0, channel=channel, template="reminder", fallback=fallback)]
    if later:  # keeps the campaign running, so a dead letter can be redriven
        steps.append(Step(id="later", day=365, channel=Channel.EMAIL, template="reminder"))
    return Playbook(name="resilience", steps=steps, closing_days=0)


async def test_transient_sms_failures_are_retried_then_sent(
    client: Client,
    fast_settings: Settings,
    running: object,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    number = account.phones[0].number
    twilio_sim.fail_next(2, status=503)
    handle = await start(client, fast_settings, account, one_step(Channel.SMS))
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.EXHAUSTED
    assert len(texts_to(twilio_sim, number)) == 1
    snapshot = await status(handle)
    assert [a.outcome for a in snapshot.attempts] == [ContactOutcome.SENT]
    assert snapshot.dead_letters == []


async def test_a_failed_call_falls_back_to_sms(
    client: Client,
    fast_settings: Settings,
    running: object,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    number = account.phones[0].number
    twilio_sim.fail_next(2, status=503)  # both tries of the call
    handle = await start(client, fast_settings, account, one_step(Channel.PHONE))
    await handle.result()
    snapshot = await status(handle)
    assert calls_to(twilio_sim, number) == 0
    assert len(texts_to(twilio_sim, number)) == 1
    assert [(a.channel, a.outcome) for a in snapshot.attempts] == [
        (Channel.PHONE, ContactOutcome.FAILED),
        (Channel.SMS, ContactOutcome.SENT),
    ]


async def test_a_failed_call_falls_back_to_email_without_sms_consent(
    client: Client,
    fast_settings: Settings,
    running: object,
    twilio_sim: TwilioSimulator,
    smtp_sim: SmtpSimulator,
) -> None:
    account = make_account()
    account.phones[0].sms_consent = False
    twilio_sim.fail_next(2, status=503)
    handle = await start(client, fast_settings, account, one_step(Channel.PHONE))
    await handle.result()
    assert texts_to(twilio_sim, account.phones[0].number) == []
    assert len(mails_to(smtp_sim, account.emails[0].address)) == 1


async def test_exhausted_retries_and_fallbacks_make_a_dead_letter_an_operator_redrives(
    client: Client,
    fast_settings: Settings,
    running: object,
    twilio_sim: TwilioSimulator,
    smtp_sim: SmtpSimulator,
) -> None:
    account = make_account()
    address, number = account.emails[0].address, account.phones[0].number
    smtp_sim.fail_next(3, code=451)  # every email try
    twilio_sim.fail_next(3, status=500)  # every SMS try of the fallback
    playbook = one_step(Channel.EMAIL, fallback=Channel.SMS, later=True)
    handle = await start(client, fast_settings, account, playbook)
    store = DeadLetterStore(fast_settings.sql_url)
    store.create_tables()
    try:
        snapshot = await status(handle)
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not snapshot.dead_letters and datetime.now(UTC) < deadline:
            await asyncio.sleep(0.1)
            snapshot = await status(handle)
        [letter_id] = snapshot.dead_letters
        letter = store.get(letter_id)
        assert letter is not None
        assert letter.status is DeadLetterStatus.OPEN
        assert [(f.channel, f.error_type, f.attempts) for f in letter.failures] == [
            (Channel.EMAIL, "TransientProviderError", 3),
            (Channel.SMS, "TransientProviderError", 3),
        ]
        assert letter.request.to == number and letter.request.account_id == account.account_id
        assert mails_to(smtp_sim, address) == [] and texts_to(twilio_sim, number) == []

        env = env_for(fast_settings)
        listed = await recoup("dlq", "list", "--channel", "email", env=env)
        assert listed.code == 0, listed.err
        assert letter_id in listed.out and "20500" in listed.out  # the last error: SMS
        other = await recoup("dlq", "list", "--channel", "phone", env=env)
        assert letter_id not in other.out
        shown = await recoup("dlq", "show", letter_id, env=env)
        assert shown.code == 0 and "after 3 tries" in shown.out

        redriven = await recoup("dlq", "redrive", letter_id, env=env)
        assert redriven.code == 0, redriven.err
        await eventually(lambda: len(mails_to(smtp_sim, address)) == 1)
        stored = store.get(letter_id)
        assert stored is not None and stored.status is DeadLetterStatus.REDRIVEN
        again = await recoup("dlq", "redrive", letter_id, env=env)
        assert again.code == 1 and "already redriven" in again.err
        snapshot = await status(handle)
        assert snapshot.attempts[-1].outcome is ContactOutcome.SENT
        assert "redrive-1" in snapshot.attempts[-1].attempt_id
    finally:
        store.dispose()
        await handle.terminate("test done")


async def test_a_finished_campaign_refuses_a_redrive(
    client: Client,
    fast_settings: Settings,
    running: object,
    smtp_sim: SmtpSimulator,
) -> None:
    account = make_account(phones=[])
    smtp_sim.fail_next(3, code=451)
    handle = await start(client, fast_settings, account, one_step(Channel.EMAIL))
    await handle.result()
    [letter_id] = (await status(handle)).dead_letters
    result = await recoup("dlq", "redrive", "--all", env=env_for(fast_settings))
    assert result.code == 1
    assert letter_id in result.err and "has finished (exhausted)" in result.err
    store = DeadLetterStore(fast_settings.sql_url)
    letter = store.get(letter_id)
    store.dispose()
    assert letter is not None and letter.status is DeadLetterStatus.OPEN


# --- rate limits and priority ----------------------------------------------------


async def test_backlogged_calls_go_to_priority_1_accounts_first(
    client: Client, settings: Settings, twilio_sim: TwilioSimulator
) -> None:
    """Calls queue up behind the provider's rate limit; the highest priority is served first.

    Temporal orders a backlog "close to priority order": the first poll can be matched
    before the whole backlog is read, so the urgent call (scheduled last: first in
    first out would make it ninth) must come first or second.
    """
    ordinary = [make_account(priority=5) for _ in range(8)]
    urgent = make_account(priority=1)
    playbook = one_step(Channel.PHONE)
    # Campaigns (and the export duty their ends need), but no phone worker yet.
    async with (
        workers(client, settings, roles=[Role.CAMPAIGNS, Role.EXPORT]) as built,
        AsyncExitStack() as running,
    ):
        for worker in built:  # the campaigns role runs two (campaigns, portfolios)
            await running.enter_async_context(worker)
        handles = [await start(client, settings, a, playbook) for a in [*ordinary, urgent]]
        for handle in handles:  # every call is scheduled, none can run yet
            while not (await handle.describe()).raw_description.pending_activities:  # noqa: ASYNC110 (polls the server)
                await asyncio.sleep(0.05)
        one_at_a_time = settings.model_copy(update={"max_concurrent_activities": 1})
        async with workers(client, one_at_a_time, roles=[Role.PHONE]) as phone, phone[0]:
            await asyncio.gather(*(h.result() for h in handles))
    numbers = {a.phones[0].number for a in [*ordinary, urgent]}
    order = [c.to for c in twilio_sim.calls if c.to in numbers]
    assert len(order) == 9 and order.index(urgent.phones[0].number) <= 1, order


async def test_each_channel_queue_gets_its_providers_rate_limit(
    client: Client, settings: Settings
) -> None:
    limited = settings.model_copy(update={"sms_per_second": 2.5, "phone_per_second": 0.5})
    async with workers(client, limited) as built:
        limits = {
            w.task_queue: w.config().get("max_task_queue_activities_per_second") for w in built
        }
    queues = limited.queues
    assert limits[queues.sms] == 2.5
    assert limits[queues.phone] == 0.5
    assert limits[queues.email] is None


# --- circuit breakers ------------------------------------------------------------


@pytest_asyncio.fixture
async def shared_settings(settings: Settings) -> AsyncIterator[Settings]:
    """Breakers in the real Redis under this test's own prefix; a quick email breaker."""
    quick = BreakerConfig(failure_ratio=0.5, open_seconds=8, half_open_probes=1, min_calls=2)
    shared = settings.model_copy(
        update={
            "redis_url": REDIS_URL,
            "redis_prefix": f"recoup-test-{uuid.uuid4().hex[:8]}:",
            "breakers": {**settings.breakers, "email": quick},
        }
    )
    yield shared
    redis = Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(match=f"{shared.redis_prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def trip(breakers: Breakers, name: str) -> Breakers:
    """Record failures as another worker process would, until the breaker opens."""
    breaker = breakers.get(name)
    while (await breaker.snapshot()).state is not BreakerState.OPEN:
        await breaker.record(await breaker.acquire(), ok=False)
    return breakers


def shared_breakers(settings: Settings) -> Breakers:
    return Breakers(settings.breaker_store(), settings.breakers)


async def test_an_open_breaker_holds_sends_without_using_their_attempts(
    client: Client, shared_settings: Settings, smtp_sim: SmtpSimulator
) -> None:
    breakers = await trip(shared_breakers(shared_settings), "email")  # by "another worker"
    async with AsyncExitStack() as stack:
        for worker in await stack.enter_async_context(workers(client, shared_settings)):
            await stack.enter_async_context(worker)
        account = make_account(phones=[])
        address = account.emails[0].address
        one_try = shared_settings.model_copy(
            update={
                "tenant_retry": {
                    TENANT.tenant_id: RetryOverrides(
                        email=RetryRule(max_attempts=1, backoff=Backoff.FIXED, initial_seconds=1)
                    )
                }
            }
        )
        handle = await start(client, one_try, account, one_step(Channel.EMAIL))
        shown = await recoup("breakers", env=env_for(shared_settings) | redis_env(shared_settings))
        assert shown.code == 0, shown.err
        assert re.search(r"email\s+│\s+open", shown.out), shown.out
        await handle.result()
        # One try allowed, yet the mail went out: waiting for the breaker used none.
        assert len(mails_to(smtp_sim, address)) == 1
        snapshot = await status(handle)
        assert [a.outcome for a in snapshot.attempts] == [ContactOutcome.SENT]
        assert snapshot.dead_letters == []
        history = await handle.fetch_history()
        refused = [
            e.activity_task_failed_event_attributes.failure.application_failure_info.type
            for e in history.events
            if e.HasField("activity_task_failed_event_attributes")
        ]
        assert refused == [names.CIRCUIT_OPEN]
        # The probe succeeded: closed again for every worker.
        assert (await breakers.get("email").snapshot()).state is BreakerState.CLOSED
        await breakers.store.aclose()


async def test_a_send_with_the_breaker_store_down_is_refused_untried_naming_the_store(
    twilio_sim: TwilioSimulator, ledger: ContactLedger
) -> None:
    port = free_port()  # no Redis there
    store = RedisBreakerStore.from_url(f"redis://127.0.0.1:{port}/0")
    request = request_for(Channel.SMS, "+14155550125")
    async with TwilioClient(
        twilio_sim.base_url, TWILIO_SID, TWILIO_TOKEN, "+15005550006"
    ) as client:
        renderer = TemplateRenderer(Settings().template_dir)
        agent = SmsAgent(client, renderer, ledger, Breakers(store).get("sms"))
        with pytest.raises(ApplicationError) as refused:
            await attempt(1).run(agent.send_sms, request)
    await store.aclose()
    # The open-breaker path: the workflow waits it out on a timer, no attempt used.
    assert refused.value.type == names.CIRCUIT_OPEN and refused.value.non_retryable
    assert refused.value.details[0] == {
        "retry_after_seconds": 30.0,  # the sms breaker's open period
        "breaker": "sms",
        "store": f"Redis 127.0.0.1:{port}/0",
    }
    assert f"sms circuit breaker store unavailable (Redis 127.0.0.1:{port}/0:" in str(refused.value)
    assert texts_to(twilio_sim, request.to) == []


async def test_a_breaker_store_outage_mid_campaign_holds_the_send_until_it_is_back(
    client: Client, settings: Settings, smtp_sim: SmtpSimulator
) -> None:
    quick = BreakerConfig(failure_ratio=0.5, open_seconds=1, half_open_probes=1, min_calls=2)
    with RedisServer() as redis:
        shared = settings.model_copy(
            update={
                "redis_url": redis.url,
                "breakers": {**settings.breakers, "email": quick},
                # One try: a refusal that used it up would make a dead letter.
                "tenant_retry": {
                    TENANT.tenant_id: RetryOverrides(
                        email=RetryRule(max_attempts=1, backoff=Backoff.FIXED, initial_seconds=1)
                    )
                },
            }
        )
        async with AsyncExitStack() as stack:
            # The worker starts while Redis answers (its start check passes) ...
            for worker in await stack.enter_async_context(workers(client, shared)):
                await stack.enter_async_context(worker)
            redis.stop()  # ... and Redis goes away while it runs.
            account = make_account(phones=[])
            address = account.emails[0].address
            handle = await start(client, shared, account, one_step(Channel.EMAIL))

            refusals: list[BaseException] = []
            deadline = asyncio.get_running_loop().time() + 30
            while len(refusals) < 2:  # refused, waited, refused again: held, not failed
                assert asyncio.get_running_loop().time() < deadline, "no refusal seen"
                await asyncio.sleep(0.2)
                history = await handle.fetch_history()
                refusals = [
                    await client.data_converter.decode_failure(
                        e.activity_task_failed_event_attributes.failure
                    )
                    for e in history.events
                    if e.HasField("activity_task_failed_event_attributes")
                ]
            assert mails_to(smtp_sim, address) == []
            for refusal in refusals:
                assert isinstance(refusal, ApplicationError)
                assert refusal.type == names.CIRCUIT_OPEN
                assert f"store unavailable (Redis 127.0.0.1:{redis.port}/0" in refusal.message
            assert (await status(handle)).dead_letters == []

            redis.start()  # back on the same port, empty
            await asyncio.wait_for(handle.result(), 30)
            assert len(mails_to(smtp_sim, address)) == 1
            snapshot = await status(handle)
            assert [a.outcome for a in snapshot.attempts] == [ContactOutcome.SENT]
            assert snapshot.dead_letters == []
        letters = DeadLetterStore(shared.sql_url)
        letters.create_tables()
        assert letters.list() == []  # this test's own database
        letters.dispose()


def redis_env(settings: Settings) -> dict[str, str]:
    assert settings.redis_url is not None
    return {
        "RECOUP_REDIS_URL": settings.redis_url,
        "RECOUP_REDIS_PREFIX": settings.redis_prefix,
        "RECOUP_BREAKERS": json.dumps({k: v.model_dump() for k, v in settings.breakers.items()}),
    }


async def test_recoup_breakers_reset_closes_an_open_breaker(shared_settings: Settings) -> None:
    breakers = await trip(shared_breakers(shared_settings), "sms")
    try:
        env = env_for(shared_settings) | redis_env(shared_settings)
        reset = await recoup("breakers", "reset", "sms", env=env)
        assert reset.code == 0, reset.err
        assert (await breakers.get("sms").snapshot()).state is BreakerState.CLOSED
        unknown = await recoup("breakers", "reset", "fax", env=env)
        known = "known: email, ledger, letter, payments, phone, sms"
        assert unknown.code == 2 and known in unknown.err
    finally:
        await breakers.store.aclose()


async def test_recoup_breakers_names_an_unreachable_store(settings: Settings) -> None:
    port = free_port()
    env = env_for(settings) | {"RECOUP_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    for args in (("breakers",), ("breakers", "reset", "sms")):
        result = await recoup(*args, env=env)
        assert result.code == 1, result.err
        [line] = result.err.strip().splitlines()
        assert f"circuit breaker store Redis 127.0.0.1:{port}/0 is unavailable" in line
        assert "RECOUP_REDIS_URL" in line and "Traceback" not in result.err


async def test_breaker_changes_are_prometheus_metrics() -> None:
    bind = f"127.0.0.1:{free_port()}"
    runtime = runtime_for(bind)
    assert runtime is not None
    on_change = breaker_metrics(runtime)
    breakers = Breakers(MemoryBreakerStore(), on_change=on_change)
    await trip(breakers, "phone")
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{bind}/metrics")).text
    assert re.search(r'recoup_circuit_breaker_state\{breaker="phone",[^}]*\} 2\n', text), text
    assert re.search(
        r'recoup_circuit_breaker_transitions\{breaker="phone",[^}]*state="open"\} 1\n', text
    ), text
