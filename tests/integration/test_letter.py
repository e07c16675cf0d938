"""The letter agent end to end: a real worker on the letter queue (the settings' own task
queues), a small workflow that calls ``send_letter`` the way a campaign does, the Lob
simulator over HTTP, and the contact ledger in SQL."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.account import PostalAddress
    from domain.channels import Channel
    from domain.compliance.model import ComplianceFacts
    from domain.contact import ComplianceContext, ContactRequest, ContactResult, MessageContext
    from domain.resilience import Backoff, RetryRule

from activities.letter import LetterAgent
from adapters.contact_ledger import ContactLedger
from adapters.templates import TemplateRenderer
from bootstrap.settings import Settings
from simulators.lob import LobSimulator
from tests.conftest import DAYTIME_ZONE
from workers.run import Role, workers


# Unsandboxed: this module imports the worker's code, which the sandbox refuses to
# re-import; the workflow itself only schedules one activity.
@workflow.defn(sandboxed=False)
class SendOneLetter:
    """What a campaign does for a letter step: the activity on the letter queue."""

    @workflow.run
    async def run(self, request: ContactRequest) -> ContactResult:
        result: ContactResult = await workflow.execute_activity(
            names.SEND_LETTER,
            request,
            result_type=ContactResult,
            task_queue=workflow.memo_value("letter_queue", type_hint=str),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=50), maximum_attempts=3
            ),
        )
        return result


def letter_request(line1: str = "185 Berry St", language: str = "en") -> ContactRequest:
    unique = uuid.uuid4().hex[:8]
    postal = PostalAddress(line1=line1, city="San Francisco", state="CA", zip="94107")
    return ContactRequest(
        attempt_id=f"account/acme/L-{unique}/run/notice/letter",
        tenant_id="acme",
        account_id=f"L-{unique}",
        channel=Channel.LETTER,
        to=postal.one_line(),
        postal=postal,
        template="first_notice",
        language=language,
        message=MessageContext(
            debtor_name="Lou Letter",
            account_id=f"L-{unique}",
            creditor="Acme Bank",
            collector="Recoup Collections",
            balance=Decimal("420.00"),
            currency="USD",
            due_date=date(2026, 1, 1),
            days_past_due=90,
        ),
        compliance=ComplianceContext(facts=ComplianceFacts(timezones=[DAYTIME_ZONE])),
        # The campaign sets the channel's rule; quick, so the outage test does not wait.
        retry=RetryRule(max_attempts=3, backoff=Backoff.FIXED, initial_seconds=0.05),
    )


async def send(client: Client, settings: Settings, request: ContactRequest) -> ContactResult:
    queue = f"letter-test-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[SendOneLetter]):
        result: ContactResult = await client.execute_workflow(
            SendOneLetter.run,
            request,
            id=f"letter-{uuid.uuid4().hex}",
            task_queue=queue,
            memo={"letter_queue": settings.queues.letter},
        )
    return result


def letters_for(sim: LobSimulator, request: ContactRequest) -> list[str]:
    return [x.id for x in sim.letters if x.metadata.get("attempt_id") == request.attempt_id]


async def test_a_letter_is_mailed_once_however_often_its_attempt_runs(
    client: Client, settings: Settings, lob_sim: LobSimulator
) -> None:
    request = letter_request(language="es")
    async with workers(client, settings, [Role.LETTER]) as built, built[0]:
        # Lob is down for the first try: Temporal retries, and one letter goes out.
        lob_sim.fail_next(1, 503, "/v1/letters")
        first = await send(client, settings, request)
        again = await send(client, settings, request)  # the same attempt, run again
    assert first.outcome == "sent" and first.provider_ref is not None
    assert first.provider_ref.startswith("ltr_")
    assert again.provider_ref == first.provider_ref
    assert again.detail == "sent by an earlier try (sent-ledger)"
    [letter_id] = letters_for(lob_sim, request)
    letter = lob_sim.letter(letter_id)
    assert letter.use_type == "operational"
    assert letter.metadata == {
        "tenant_id": "acme",
        "account_id": request.account_id,
        "attempt_id": request.attempt_id,
        "to": request.to,  # the ledger's key for the address (a returned letter's opt-out)
    }
    assert letter.to["name"] == "Lou Letter" and letter.to["address_zip"] == "94107"
    assert letter.from_["name"] == settings.collector_name
    # The Spanish validation notice, as HTML, with the collector disclosure.
    assert "¿Cómo puede disputar la deuda?" in letter.file
    assert "Esta es una comunicación de un cobrador de deudas." in letter.file

    ledger = ContactLedger(settings.sql_url)
    try:
        [entry] = ledger.entries("acme", [request.account_id])
    finally:
        ledger.dispose()
    assert entry.provider_ref == letter_id and entry.channel == "letter"


async def test_lob_replays_the_letter_when_the_ledger_has_not_recorded_it(
    settings: Settings, lob_sim: LobSimulator, tmp_path: Path
) -> None:
    """The sent-ledger missed the first try (the process died after Lob took it): the
    attempt id is Lob's idempotency key, so the retry gets the same letter back."""
    request = letter_request()
    results = []
    for n in range(2):
        ledger = ContactLedger(f"sqlite:///{tmp_path / f'ledger-{n}.db'}")
        ledger.create_tables()
        async with settings.lob() as lob:
            agent = LetterAgent(lob, TemplateRenderer(settings.template_dir), ledger)
            try:
                results.append(await ActivityEnvironment().run(agent.send_letter, request))
            finally:
                ledger.dispose()
    assert results[0].provider_ref == results[1].provider_ref
    assert len(letters_for(lob_sim, request)) == 1


async def test_an_address_lob_refuses_is_a_non_retryable_invalid_address(
    client: Client, settings: Settings, lob_sim: LobSimulator
) -> None:
    request = letter_request(line1="77 Undeliverable Rd")
    async with workers(client, settings, [Role.LETTER]) as built, built[0]:
        with pytest.raises(WorkflowFailureError) as failed:
            await send(client, settings, request)
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidAddress" and cause.non_retryable
    assert cause.details and cause.details[0] == {"attempt": 1}  # tried once, not retried
    assert letters_for(lob_sim, request) == []


async def test_a_letter_without_a_postal_address_is_refused_before_lob(
    settings: Settings, lob_sim: LobSimulator, tmp_path: Path
) -> None:
    request = letter_request().model_copy(update={"postal": None})
    ledger = ContactLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.create_tables()
    try:
        async with settings.lob() as lob:
            agent = LetterAgent(lob, TemplateRenderer(settings.template_dir), ledger)
            with pytest.raises(ApplicationError) as refused:
                await ActivityEnvironment().run(agent.send_letter, request)
    finally:
        ledger.dispose()
    assert refused.value.non_retryable and "request.postal" in str(refused.value)
    assert letters_for(lob_sim, request) == []
