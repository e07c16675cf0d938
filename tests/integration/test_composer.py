"""The composer and its guardrail: the rules (en + es), every shipped template held to them,
the composer against the LLM simulator over HTTP, and one campaign end to end."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.composer import SCHEMA_NAME, Composer
from activities.research import SCHEMA_NAME as RESEARCH_SCHEMA
from adapters import templates
from adapters.llm import LlmClient
from adapters.templates import TemplateRenderer, with_disclosures
from bootstrap.settings import Settings
from domain.arrangements import ArrangementKind, ArrangementTerms, Instalment
from domain.channels import Channel
from domain.compliance.model import ComplianceFacts
from domain.contact import ComplianceContext, ContactRequest, MessageContext
from domain.disclosures import DEBT_COLLECTOR, OPT_OUT
from domain.guardrail import message_problems, parse_amount
from domain.playbook import Playbook, Step
from domain.sms import sms_segments
from service.campaigns import start_account_campaign
from simulators.llm import ChatMessage, LlmSimulator
from simulators.smtp import ReceivedMail, SmtpSimulator
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import DAYTIME_ZONE, TENANT, make_account, serving
from tests.reply_support import exported
from tests.template_support import message_context as context

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LANGUAGES = ("en", "es")


PLAN = ArrangementTerms(
    kind=ArrangementKind.PAYMENT_PLAN,
    total=Decimal("1200.00"),
    instalments=[
        Instalment(due=date(2024, 4, 1), amount=Decimal("400.00")),
        Instalment(due=date(2024, 5, 1), amount=Decimal("800.00")),
    ],
    link_url="https://pay.example.com/l/abc123def456",
    instalment_number=2,
    reason="a payment was missed",
)


def problems(
    body: str,
    channel: Channel = Channel.SMS,
    language: str = "en",
    *,
    ctx: MessageContext | None = None,
    time_barred: bool = False,
    max_sms_segments: int | None = 3,
) -> list[str]:
    """The guardrail's verdict on ``body`` once the disclosures are attached."""
    text = with_disclosures(channel, language, body).text
    return message_problems(
        channel,
        language,
        text,
        context=ctx or context(),
        time_barred=time_barred,
        max_sms_segments=max_sms_segments,
    )


GOOD = {
    "en": "Hi Maria, Recoup Collections here about your Acme Health account, balance "
    "1,234.50 USD. Reply to talk about a payment plan or ask a question.",
    "es": "Hola Maria, le escribe Recoup Collections sobre su cuenta de Acme Health, saldo "
    "1.234,50 USD. Responda para hablar de un plan de pagos o con su pregunta.",
}


# -- the guardrail -------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", list(Channel))
def test_a_good_message_passes(channel: Channel, language: str) -> None:
    assert problems(GOOD[language], channel, language) == []


def test_the_disclosures_are_required() -> None:
    found = message_problems(Channel.SMS, "es", GOOD["es"], context=context(), time_barred=False)
    assert any("missing required text" in p for p in found)


@pytest.mark.parametrize(
    "written", ["$1,234.50", "$1234.50", "USD 1,234.50", "1.234,50 USD", "1234,50 dólares"]
)
def test_the_balance_may_be_written_in_either_convention(written: str) -> None:
    assert problems(f"Acme Health balance: {written}. Reply with questions.") == []


@pytest.mark.parametrize(
    ("language", "body"),
    [
        ("en", "Acme Health: your balance is $1,300.00. Pay $1,234.50 to close it."),
        ("en", "Acme Health: pay just 600.00 USD today."),
        ("es", "Acme Health: su saldo es de 1.243,50 USD."),
    ],
)
def test_any_other_amount_is_a_problem(language: str, body: str) -> None:
    [problem] = problems(body, language=language)
    assert "not the debt's" in problem


def test_the_amount_must_be_stated_in_the_debts_currency() -> None:
    assert problems("Acme Health: your balance is 1,234.50 USD.") == []
    [problem] = problems("Acme Health: your balance is €1,234.50.")
    assert "another currency" in problem
    [problem] = problems("Acme Health: please get in touch about your account.")
    assert problem == "does not state the amount (1234.50 USD)"


def test_arrangement_amounts_are_allowed_only_with_an_arrangement() -> None:
    body = "Acme Health: payment of $800.00 of your $1,200.00 plan is due."
    assert problems(body, ctx=context(arrangement=PLAN)) == []
    assert len(problems(body)) == 2


def test_account_numbers_and_dates_are_not_amounts() -> None:
    body = "Acme Health account 250 since 2024: balance $1,234.50, due March 1, 2024."
    assert problems(body) == []
    assert parse_amount("1,234") == Decimal("1234") and parse_amount("1.234,5") == Decimal("1234.5")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_creditor_must_be_named(language: str) -> None:
    body = GOOD[language].replace("Acme Health", "your creditor")
    assert problems(body, language=language) == ["does not name the creditor 'Acme Health'"]
    assert problems(GOOD[language].replace("Acme Health", "ACME  health"), language=language) == []


@pytest.mark.parametrize(
    ("language", "phrase"),
    [
        ("en", "You could be arrested."),
        ("en", "Ignoring this may lead to jail."),
        ("en", "We will tell your employer."),
        ("en", "This will ruin your credit."),
        ("en", "We may garnish your wages."),
        ("es", "Podemos embargar su salario."),
        ("es", "Podria terminar en la carcel."),
        ("es", "Llamaremos a la policía."),
        ("es", "Vamos a contactar a su empleador."),
    ],
)
def test_threats_are_problems(language: str, phrase: str) -> None:
    [problem] = problems(f"{GOOD[language]} {phrase}", Channel.EMAIL, language)
    assert problem.startswith("threatens: mentions")


@pytest.mark.parametrize(
    ("language", "phrase", "word"),
    [
        ("en", "This is your final warning.", "final warning"),
        ("en", "Act now or lose this offer.", "Act now"),
        ("en", "Last chance to pay.", "Last chance"),
        ("en", "Pay immediately or we escalate.", "immediately or"),
        ("en", "Today only!", "Today only"),
        ("es", "Es su última oportunidad.", "última oportunidad"),
        ("es", "Pague inmediatamente o seguiremos.", "inmediatamente o"),
        ("es", "Solo hoy.", "Solo hoy"),
    ],
)
def test_false_urgency_is_a_problem(language: str, phrase: str, word: str) -> None:
    found = problems(f"{GOOD[language]} {phrase}", Channel.EMAIL, language)
    assert found == [f"false urgency: mentions {word!r}"]


@pytest.mark.parametrize(
    ("language", "phrase"),
    [("en", "This is our final scheduled notice."), ("es", "Este es nuestro aviso final.")],
)
def test_a_final_notice_is_not_false_urgency(language: str, phrase: str) -> None:
    assert problems(f"{GOOD[language]} {phrase}", Channel.EMAIL, language) == []


@pytest.mark.parametrize(
    ("language", "phrase"),
    [("en", "We may file a lawsuit."), ("es", "Podemos presentar una demanda.")],
)
def test_legal_action_is_a_problem_for_a_time_barred_debt_only(language: str, phrase: str) -> None:
    body = f"{GOOD[language]} {phrase}"
    assert problems(body, Channel.EMAIL, language) == []
    [problem] = problems(body, Channel.EMAIL, language, time_barred=True)
    assert "time-barred" in problem and "1006.26" in problem


def test_an_sms_must_fit_its_segments() -> None:
    long = GOOD["en"] + " We are here to help you." * 12
    assert sms_segments(with_disclosures(Channel.SMS, "en", long).text) == 4
    [problem] = problems(long)
    assert problem == "too long for SMS: 4 segments (at most 3)"
    assert problems(long, max_sms_segments=4) == []
    assert problems(long, max_sms_segments=None) == []
    assert problems(long, Channel.EMAIL) == []  # no such limit for email
    # One accent makes it UCS-2: 70 characters a part instead of 160.
    assert problems(GOOD["es"].replace("Responda", "Respóndanos")) != []


def test_the_segment_count_lives_in_the_domain() -> None:
    assert templates.sms_segments is sms_segments


def shipped() -> list[tuple[str, Channel, str]]:
    names = sorted({p.name.split(".")[0] for p in (TEMPLATES / "en").glob("*.j2")})
    return [
        (name, channel, language)
        for name, channel, language in itertools.product(names, Channel, LANGUAGES)
        if (TEMPLATES / language / f"{name}.{channel.value}.txt.j2").is_file()
    ]


# The one shipped SMS over three segments: "liquidación" and "más" make it UCS-2.
# Reviewed templates are not held to the length rule (the composer's is for model text).
LONG_TEMPLATES = {("arrangement_confirmation", Channel.SMS, "es")}


@pytest.mark.parametrize("first_party", [False, True])
@pytest.mark.parametrize("time_barred", [False, True])
@pytest.mark.parametrize(("name", "channel", "language"), shipped())
def test_every_shipped_template_passes_the_guardrail(
    name: str, channel: Channel, language: str, time_barred: bool, first_party: bool
) -> None:
    arrangement = PLAN if name.startswith(("arrangement_", "instalment_")) else None
    # First-party: the creditor collects its own debts, and the wording changes with it.
    collector = "Acme Health" if first_party else "Recoup Collections"
    ctx = context(arrangement=arrangement, time_barred=time_barred, collector=collector)
    message = TemplateRenderer(TEMPLATES).render(name, channel, language, ctx)
    text = f"{message.subject or ''}\n{message.text}"
    found = message_problems(channel, language, text, context=ctx, time_barred=time_barred)
    if (name, channel, language) in LONG_TEMPLATES and not first_party:
        assert [p.startswith("too long for SMS") for p in found] == [True]
    elif (name, channel, language) in LONG_TEMPLATES:
        assert all(p.startswith("too long for SMS") for p in found)  # shorter without a second name
    else:
        assert found == []
    assert (
        message_problems(
            channel, language, text, context=ctx, time_barred=time_barred, max_sms_segments=None
        )
        == []
    )


# -- the composer against the LLM simulator ------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    simulator = LlmSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def llm(sim: LlmSimulator) -> AsyncIterator[LlmClient]:
    client = LlmClient(sim.base_url, timeout=2)
    yield client
    await client.aclose()


def request_for(
    channel: Channel = Channel.EMAIL,
    template: str = "reminder",
    language: str = "en",
    **changes: object,
) -> ContactRequest:
    return ContactRequest(
        attempt_id=f"account/acme/c-{uuid.uuid4().hex[:8]}/run/step/{channel}",
        tenant_id="acme",
        account_id="ACC-000123",
        channel=channel,
        to="maria@example.com" if channel is Channel.EMAIL else "+14155550100",
        template=template,
        language=language,
        message=context(**changes),
        compliance=ComplianceContext(
            facts=ComplianceFacts(timezones=[DAYTIME_ZONE], sms_consent=True, voice_consent=True)
        ),
    )


def writes(body: str, subject: str | None = "Your Acme Health account") -> Any:
    def handler(_: list[ChatMessage]) -> dict[str, Any]:
        return {"subject": subject, "body": body}

    return handler


EMAIL_BODY = (
    "Dear {name},\n\nWe are writing about your Acme Health account {account}, which has a "
    "balance of $1,234.50. If paying it all is hard right now, reply and we can set up a "
    "payment plan together.\n\nKind regards,\nRecoup Collections"
)


async def test_the_models_email_is_sent_with_the_disclosures(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    sim.on_schema(SCHEMA_NAME, writes(EMAIL_BODY))
    composed = await Composer(TemplateRenderer(TEMPLATES), llm).compose(request_for())
    assert (composed.composed_by, composed.fallback_reason) == ("llm", None)
    message = composed.message
    assert message.subject == "Your Acme Health account"
    assert message.text.startswith("Dear Maria Garcia,") and "account ACC-000123" in message.text
    assert "$1,234.50" in message.text
    assert message.text.rstrip().endswith(OPT_OUT[Channel.EMAIL]["en"])
    assert DEBT_COLLECTOR["en"] in message.text
    # One strict request; the model is told the facts but never the debtor's name or account.
    [request] = sim.requests
    assert request.schema_name == SCHEMA_NAME
    assert request.response_format is not None
    assert request.response_format["json_schema"]["strict"] is True
    prompt = request.text("system") + request.text("user")
    assert "1,234.50 USD" in prompt and "Acme Health" in prompt and "English" in prompt
    assert "Maria" not in prompt and "ACC-000123" not in prompt


async def test_the_model_is_told_whether_the_creditor_collects_itself(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    sim.on_schema(SCHEMA_NAME, writes(EMAIL_BODY.replace("Recoup Collections", "Acme Health")))
    composer = Composer(TemplateRenderer(TEMPLATES), llm)
    own = await composer.compose(request_for(collector="Acme Health"))  # first-party
    assert own.composed_by == "llm"  # the guardrail passes it
    sim.on_schema(SCHEMA_NAME, writes(EMAIL_BODY))
    agency = await composer.compose(request_for())  # third-party
    assert agency.composed_by == "llm"
    first, third = (r.text("system") + r.text("user") for r in sim.requests)
    assert "in the voice of Acme Health, writing about its own customer's" in first
    assert "never write as if another company had asked Acme Health to collect" in first
    assert "Collector: Acme Health (the creditor itself)" in first
    assert "agency" not in first
    assert "Recoup Collections, a debt collection agency collecting for Acme Health" in third
    assert "Collector: Recoup Collections (on the creditor's behalf)" in third


async def test_a_spanish_sms_from_the_model(sim: LlmSimulator, llm: LlmClient) -> None:
    sim.on_schema(
        SCHEMA_NAME,
        writes("Hola {name}, su cuenta de Acme Health tiene un saldo de 1.234,50 USD.", None),
    )
    composed = await Composer(TemplateRenderer(TEMPLATES), llm).compose(
        request_for(Channel.SMS, language="es")
    )
    assert composed.composed_by == "llm"
    assert composed.message.subject is None
    assert composed.message.text == (
        "Hola Maria Garcia, su cuenta de Acme Health tiene un saldo de 1.234,50 USD.\n"
        "Este es un cobrador de deudas. Responda STOP para darse de baja."
    )
    assert "Spanish" in sim.requests[0].text("system")


@pytest.mark.parametrize(
    ("body", "changes", "reason"),
    [
        (EMAIL_BODY + " Pay now or you could be arrested.", {}, "threatens: mentions 'arrested'"),
        (EMAIL_BODY.replace("1,234.50", "1,324.50"), {}, "not the debt's: '$1,324.50'"),
        (EMAIL_BODY + " This is your final warning.", {}, "false urgency"),
        (
            EMAIL_BODY + " We have not filed a lawsuit.",
            {"time_barred": True},
            "mentions legal action ('lawsuit') for a time-barred debt",
        ),
    ],
)
async def test_a_message_failing_the_guardrail_falls_back_to_the_template(
    sim: LlmSimulator, llm: LlmClient, body: str, changes: dict[str, Any], reason: str
) -> None:
    sim.on_schema(SCHEMA_NAME, writes(body))
    renderer = TemplateRenderer(TEMPLATES)
    request = request_for(**changes)
    composed = await Composer(renderer, llm).compose(request)
    assert composed.composed_by == "template"
    assert composed.fallback_reason is not None
    assert composed.fallback_reason.startswith("guardrail refused 2 drafts: ")
    assert reason in composed.fallback_reason
    assert composed.message == renderer.render("reminder", Channel.EMAIL, "en", request.message)
    # The redraft was asked with the guardrail's objections; both refused: a disagreement.
    assert composed.disagreement
    first, second = sim.requests
    assert "refused by the compliance guardrail" not in first.text("user")
    assert reason in second.text("user") and "refused by the compliance guardrail" in second.text(
        "user"
    )


async def test_a_redraft_that_passes_the_guardrail_is_sent(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    drafts = iter([EMAIL_BODY + " This is your final warning.", EMAIL_BODY])
    sim.on_schema(SCHEMA_NAME, lambda _: {"subject": "Your account", "body": next(drafts)})
    composed = await Composer(TemplateRenderer(TEMPLATES), llm).compose(request_for())
    assert (composed.composed_by, composed.fallback_reason, composed.disagreement) == (
        "llm",
        None,
        False,
    )
    assert "final warning" not in composed.message.text and len(sim.requests) == 2


async def test_the_research_brief_reaches_the_model_and_a_supervisor_ruling_stops_it(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    sim.on_schema(SCHEMA_NAME, writes(EMAIL_BODY))
    composer = Composer(TemplateRenderer(TEMPLATES), llm)
    brief = "Prefers email in the evening; paid twice before; no dispute on file."
    composed = await composer.compose(request_for().model_copy(update={"brief": brief}))
    assert composed.composed_by == "llm" and brief in sim.requests[0].text("user")
    ruled = await composer.compose(request_for().model_copy(update={"model_may_write": False}))
    assert (ruled.composed_by, ruled.fallback_reason) == (
        "template",
        "supervisor: templates only for this account",
    )
    assert len(sim.requests) == 1  # the model was not asked


async def test_a_long_sms_falls_back_to_the_template(sim: LlmSimulator, llm: LlmClient) -> None:
    sim.on_schema(SCHEMA_NAME, writes(GOOD["en"] + " We are here to help." * 15, None))
    composed = await Composer(TemplateRenderer(TEMPLATES), llm).compose(request_for(Channel.SMS))
    assert composed.composed_by == "template"
    assert composed.fallback_reason == (
        "guardrail refused 2 drafts: too long for SMS: 4 segments (at most 3)"
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("refusal", "model refused"),
        ("malformed", "malformed answer: "),
        ("timeout", "model timed out"),
        ("server_error", "model unavailable"),
        ("rate_limit", "model rate limited"),
        ("quota", "model rejected the request (429)"),
    ],
)
async def test_a_model_failure_falls_back_to_the_template_at_once(
    sim: LlmSimulator, llm: LlmClient, kind: Any, reason: str
) -> None:
    sim.on_schema(SCHEMA_NAME, writes(EMAIL_BODY))
    sim.fail_next(kind, delay=5)
    composed = await Composer(TemplateRenderer(TEMPLATES), llm).compose(request_for())
    assert composed.composed_by == "template"
    assert composed.fallback_reason is not None and composed.fallback_reason.startswith(reason)
    assert "Our records show a balance of 1,234.50 USD" in composed.message.text
    assert len(sim.requests) == 1  # not retried: the template goes out instead


async def test_the_composers_own_deadline(sim: LlmSimulator, llm: LlmClient) -> None:
    sim.fail_next("timeout", delay=5)
    composer = Composer(TemplateRenderer(TEMPLATES), llm, timeout=0.2)
    composed = await composer.compose(request_for(Channel.SMS))
    assert (composed.composed_by, composed.fallback_reason) == (
        "template",
        "model timed out (0.2 s)",
    )


@pytest.mark.parametrize(
    ("channel", "template", "changes"),
    [
        (Channel.PHONE, "reminder", {}),
        (Channel.EMAIL, "first_notice", {}),
        (Channel.SMS, "arrangement_confirmation", {"arrangement": PLAN}),
    ],
)
async def test_calls_validation_notices_and_arrangements_stay_templates(
    sim: LlmSimulator, llm: LlmClient, channel: Channel, template: str, changes: dict[str, Any]
) -> None:
    composed = await Composer(TemplateRenderer(TEMPLATES), llm).compose(
        request_for(channel, template, **changes)
    )
    assert (composed.composed_by, composed.fallback_reason) == ("template", None)
    assert sim.requests == []


async def test_without_a_model_the_template_is_used() -> None:
    composed = await Composer(TemplateRenderer(TEMPLATES)).compose(request_for(Channel.SMS))
    assert (composed.composed_by, composed.fallback_reason) == ("template", None)


async def test_a_template_failing_the_guardrail_is_never_sent(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "pushy.sms.txt.j2").write_text(
        "{{ creditor }}: pay {{ balance|money(currency) }} today only."
    )
    with pytest.raises(ApplicationError) as raised:
        await Composer(TemplateRenderer(tmp_path)).compose(request_for(Channel.SMS, "pushy"))
    assert raised.value.type == "TemplateError" and raised.value.non_retryable
    assert "false urgency: mentions 'today only'" in str(raised.value)


# -- one campaign, end to end --------------------------------------------------------------

DAY = 2.0
NOTICE_THEN_REMINDER = Playbook(
    name="notice-then-reminder",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="nudge", day=1, channel=Channel.EMAIL, template="reminder"),
    ],
    closing_days=1,
)


@pytest.fixture
async def llm_running(
    client: Client, settings: Settings, sim: LlmSimulator
) -> AsyncIterator[tuple[Settings, list[Worker]]]:
    llm_settings = settings.model_copy(
        update={"llm_base_url": sim.base_url, "llm_timeout_seconds": 5}
    )
    async with serving(client, llm_settings) as built:
        yield llm_settings, built


async def test_a_campaign_sends_the_models_email(
    client: Client,
    llm_running: tuple[Settings, list[Worker]],
    sim: LlmSimulator,
    smtp_sim: SmtpSimulator,
) -> None:
    llm_settings, _ = llm_running
    sim.on_schema(
        SCHEMA_NAME,
        writes(EMAIL_BODY.replace("1,234.50", "250.00").replace("Acme Health", TENANT.name)),
    )
    account = make_account()
    handle = await start_account_campaign(
        client,
        llm_settings,
        tenant=TENANT,
        campaign_id="composer",
        playbook=NOTICE_THEN_REMINDER,
        account=account,
        seconds_per_day=DAY,
    )
    await eventually(lambda: status(handle), lambda s: len(s.attempts) == 2)
    address = account.emails[0].address

    async def mailbox() -> list[ReceivedMail]:
        return smtp_sim.mailbox(address)

    notice, nudge = await eventually(mailbox, lambda mails: len(mails) == 2)
    # The validation notice is the template; the reminder is the model's, with disclosures.
    assert "Balance: 250.00 USD" in notice.text
    assert nudge.text.startswith(f"Dear {account.debtor_name},")
    assert "$250.00" in nudge.text and DEBT_COLLECTOR["en"] in nudge.text
    assert OPT_OUT[Channel.EMAIL]["en"] in nudge.text
    # The research agent briefs first (its brief, by the model too); the composer writes from it.
    assert [r.schema_name for r in sim.requests] == [RESEARCH_SCHEMA, SCHEMA_NAME]
    assert "What we know (research agent):" in sim.requests[1].text("user")

    async def touches() -> list[dict[str, Any]]:
        return [
            r["body"]["event"]["metadata"]
            for r in exported(llm_settings, account.account_id)
            if r["type"] == "CustomerInteractionEvent"
        ]

    found = await eventually(touches, lambda found: len(found) == 2)
    by_step = {m["stepId"]: m for m in found}
    assert by_step["nudge"]["composedBy"] == "llm" and "composeFallback" not in by_step["nudge"]
    assert by_step["notice"]["composedBy"] == "template"
