"""The composer: writes a contact's message, with a language model when one is configured.

The model is asked for the body (and an email's subject) in the collector's voice, from
the facts of :class:`domain.contact.MessageContext` only. It never writes the
disclosures: they are attached exactly as the templates get them
(:func:`adapters.templates.with_disclosures`). The finished text then passes
:func:`domain.guardrail.message_problems`; when it does not, or the model refuses,
answers nonsense, is slow or down, the template is sent instead and ``fallback_reason``
says why. A send never fails or waits because of the model.

The template is held to the same guardrail (except the SMS length: a reviewed template
is sent however long the debtor's names make it); one that fails it is a
``TemplateError``, never sent.

Kept as templates, whatever is configured (``composed_by`` "template", no fallback):

- the validation notice (``first_notice``): its content is prescribed (12 CFR 1006.34);
- messages about an arrangement (confirmation, instalment reminder, cancellation): their
  terms, dates and payment link must be exact;
- phone calls: the script is spoken to whoever answers, once, and cannot be re-read;
  the reviewed template is what a call says.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from activities.errors import template_failure
from activities.provider_calls import render
from adapters.errors import TemplateError
from adapters.llm import (
    LlmClient,
    LlmError,
    LlmMalformed,
    LlmRateLimited,
    LlmRefused,
    LlmRejected,
    LlmTimeout,
)
from adapters.templates import RenderedMessage, TemplateRenderer, with_disclosures
from domain.channels import Channel
from domain.compliance.content import VALIDATION_NOTICE_TEMPLATE
from domain.contact import ContactRequest, MessageContext, format_amount
from domain.disclosures import language_or_default
from domain.guardrail import DEFAULT_MAX_SMS_SEGMENTS, message_problems

log = logging.getLogger(__name__)

ComposedBy = Literal["llm", "template"]

SCHEMA_NAME = "collection_message"
# Strict structured outputs: every key required, nothing else allowed.
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subject": {
            "type": ["string", "null"],
            "description": "The email's subject line; null for SMS.",
        },
        "body": {
            "type": "string",
            "description": "The message body, without any legal disclosure or opt-out text.",
        },
    },
    "required": ["subject", "body"],
    "additionalProperties": False,
}

# The model never sees the debtor's name or account number: it writes these, and they
# are filled in afterwards.
NAME = "{name}"
ACCOUNT = "{account}"

DEFAULT_TIMEOUT = 10.0  # seconds; the SMS activity has 30 in all
# A draft and one redraft with the guardrail's objections: the protocol seed's peer
# resolution has at most two rounds before the supervisor decides.
MAX_DRAFTS = 2

_PURPOSE = {
    "reminder": "a reminder about the unpaid balance, after earlier messages",
    "final_notice": (
        "the last scheduled message of the campaign; you may say plainly that it is the final"
        " scheduled notice, but set no deadline and announce no consequence"
    ),
    "call_script": (
        "an invitation to talk: ask the debtor to reply with a good time for a call or with any"
        " question"
    ),
}
_LANGUAGE_NAME = {"en": "English", "es": "Spanish"}
_CHANNEL_LIMIT = {
    Channel.EMAIL: "an email: a short subject line and a body of at most 150 words",
    Channel.SMS: (
        "an SMS: at most 200 characters, one paragraph, plain characters (no emoji, no accents"
        " if you can avoid them), subject null"
    ),
}


class Composed(BaseModel):
    """A message ready to send, and who wrote it; ``fallback_reason`` says why not the model."""

    model_config = ConfigDict(frozen=True)

    message: RenderedMessage
    composed_by: ComposedBy
    fallback_reason: str | None = None
    disagreement: bool = False


class Composer:
    """Writes messages with ``llm`` when given one, else (and as the fallback) from templates."""

    def __init__(
        self,
        renderer: TemplateRenderer,
        llm: LlmClient | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
    ) -> None:
        self._renderer = renderer
        self._llm = llm
        self._timeout = timeout
        self._max_sms_segments = max_sms_segments

    async def compose(self, request: ContactRequest) -> Composed:
        """The message for ``request``; raises the non-retryable TemplateError when even
        the template cannot be sent.

        A draft the guardrail refuses goes back to the model once with the guardrail's
        objections (the peers' second and last round, protocol seed); a second refusal
        sends the template and flags the disagreement for the supervisor.
        """
        if self._llm is None or not model_writes(request):
            return Composed(message=self.template(request), composed_by="template")
        if not request.model_may_write:
            return Composed(
                message=self.template(request),
                composed_by="template",
                fallback_reason="supervisor: templates only for this account",
            )
        objections: list[str] = []
        refused, reason = 0, ""
        while refused < MAX_DRAFTS:
            try:
                async with asyncio.timeout(self._timeout):
                    draft = await self._llm.complete_json(
                        system_prompt(request),
                        user_prompt(request, objections),
                        MESSAGE_SCHEMA,
                        SCHEMA_NAME,
                    )
            except TimeoutError:
                reason = f"model timed out ({self._timeout:g} s)"
                break
            except LlmError as err:
                reason = model_failure(err)
                break
            message, problems = self.finish(request, draft)
            if message is not None and not problems:
                return Composed(message=message, composed_by="llm")
            objections, refused = problems, refused + 1
            reason = "guardrail: " + "; ".join(problems)
        disagreement = refused >= MAX_DRAFTS
        if disagreement:
            reason = f"guardrail refused {MAX_DRAFTS} drafts: " + "; ".join(objections)
        log.info(
            "attempt %s: template sent instead of the model's text: %s", request.attempt_id, reason
        )
        return Composed(
            message=self.template(request),
            composed_by="template",
            fallback_reason=reason,
            disagreement=disagreement,
        )

    def template(self, request: ContactRequest) -> RenderedMessage:
        """The template's message, held to the guardrail (an ``ApplicationError`` if not)."""
        message = render(self._renderer, request)
        problems = message_problems(
            request.channel,
            language_or_default(request.language),
            _whole(message),
            context=request.message,
            time_barred=request.message.time_barred,
            max_sms_segments=None,
        )
        if problems:
            where = f"template {request.template!r} on {request.channel.value}"
            raise template_failure(TemplateError(f"{where}: {'; '.join(problems)}"))
        return message

    def finish(
        self, request: ContactRequest, draft: dict[str, Any]
    ) -> tuple[RenderedMessage | None, list[str]]:
        """The model's draft as a message to send, with the disclosures, and its problems."""
        context = request.message
        body = _fill(str(draft.get("body") or ""), context).strip()
        raw_subject = draft.get("subject")
        subject = None
        if request.channel is Channel.EMAIL:
            subject = " ".join(_fill(str(raw_subject or ""), context).split())
            if not subject:
                return None, ["no subject for an email"]
        if not body:
            return None, ["empty body"]
        language = language_or_default(request.language)
        message = with_disclosures(request.channel, language, body, subject)
        problems = message_problems(
            request.channel,
            language,
            _whole(message),
            context=context,
            time_barred=context.time_barred,
            max_sms_segments=self._max_sms_segments,
        )
        return message, problems


def model_writes(request: ContactRequest) -> bool:
    """Whether the model may write this message (see the module's docstring)."""
    return (
        request.channel in _CHANNEL_LIMIT
        and request.template != VALIDATION_NOTICE_TEMPLATE
        and request.message.arrangement is None
    )


def model_failure(err: LlmError) -> str:
    """The fallback reason for a model that did not answer usefully."""
    if isinstance(err, LlmRefused):
        return "model refused"
    if isinstance(err, LlmMalformed):
        return f"malformed answer: {err}"[:300]
    if isinstance(err, LlmTimeout):
        return "model timed out"
    if isinstance(err, LlmRateLimited):
        return "model rate limited"
    if isinstance(err, LlmRejected):
        return f"model rejected the request ({err.status_code})"
    return "model unavailable"


def system_prompt(request: ContactRequest) -> str:
    context = request.message
    language = _LANGUAGE_NAME[language_or_default(request.language)]
    if context.first_party:
        # The creditor collects its own debt: a model told "an agency collecting for X" in
        # X's own voice writes "X has asked X to collect".
        voice = (
            f"Write in {language}, in the voice of {context.creditor}, writing about its own"
            " customer's unpaid balance: say plainly that the account is with"
            f" {context.creditor}, and never write as if another company had asked"
            f" {context.creditor} to collect. Be polite, plain and respectful."
        )
    else:
        voice = (
            f"Write in {language}, in the voice of {context.collector}, a debt collection"
            f" agency collecting for {context.creditor}. Be polite, plain and respectful."
        )
    rules = [
        voice,
        f"Write {_CHANNEL_LIMIT[request.channel]}.",
        f"State the exact balance as {format_amount(context.balance, context.currency)} and"
        f" name the creditor {context.creditor}. Mention no other amount of money and no other"
        " company.",
        f"Address the debtor as {NAME} and refer to the account as {ACCOUNT}: write these"
        " placeholders literally.",
        "Never threaten: no arrest, jail, police, criminal charges, seizing property or wages,"
        " damage to credit, or contacting an employer, family or anyone else.",
        "Never create false urgency: no deadlines, no 'final warning', 'last chance', 'act now',"
        " 'today only' or 'urgent'.",
        "Invite the debtor to reply to pay, to ask about a payment plan, or with any question or"
        " dispute.",
        "Do not write any legal disclosure, debt collector notice or opt-out instruction: they"
        " are added after your text.",
    ]
    if context.time_barred:
        rules.append(
            "The debt is too old to sue on: never mention a lawsuit, court, judgment, legal"
            " action or garnishment, not even to say it will not happen."
        )
    return "\n".join(f"- {rule}" for rule in rules)


def user_prompt(request: ContactRequest, objections: list[str] | None = None) -> str:
    context = request.message
    purpose = _PURPOSE.get(request.template, "a message about the unpaid balance")
    lines = [
        f"Message: {purpose}.",
        f"Creditor: {context.creditor}",
        f"Collector: {context.collector}"
        + (" (the creditor itself)" if context.first_party else " (on the creditor's behalf)"),
        f"Balance: {format_amount(context.balance, context.currency)}",
        f"Originally due: {context.due_date.isoformat()}",
        f"Days past due: {context.days_past_due}",
    ]
    if request.brief:
        # The research agent's brief: what we know of this debtor and this conversation.
        lines.append(f"What we know (research agent): {request.brief}")
    if objections:
        lines.append(
            "Your previous draft was refused by the compliance guardrail: "
            + "; ".join(objections)
            + ". Write a new draft that fixes every point."
        )
    return "\n".join(lines)


def _fill(text: str, context: MessageContext) -> str:
    return text.replace(NAME, context.debtor_name).replace(ACCOUNT, context.account_id)


def _whole(message: RenderedMessage) -> str:
    return f"{message.subject or ''}\n{message.text}"
