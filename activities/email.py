"""The email agent: render the message and send it over SMTP."""

from __future__ import annotations

from temporalio import activity

from activities.errors import classify, template_failure
from adapters.errors import ProviderError, TemplateError
from adapters.smtp import SmtpMailer
from adapters.templates import TemplateRenderer
from domain import agents
from domain.contact import ContactOutcome, ContactRequest, ContactResult


class EmailAgent:
    def __init__(self, mailer: SmtpMailer, renderer: TemplateRenderer) -> None:
        self._mailer = mailer
        self._renderer = renderer

    @activity.defn(name=agents.SEND_EMAIL)
    async def send_email(self, request: ContactRequest) -> ContactResult:
        try:
            message = self._renderer.render(
                request.template, request.channel, request.language, request.message
            )
        except TemplateError as err:
            raise template_failure(err) from err
        try:
            message_id = await self._mailer.send(
                to=request.to,
                subject=message.subject or request.template.replace("_", " ").title(),
                text=message.text,
                html=message.html,
                idempotency_key=request.attempt_id,
            )
        except ProviderError as err:
            raise classify(err) from err
        return ContactResult(outcome=ContactOutcome.SENT, provider_ref=message_id)
