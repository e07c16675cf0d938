"""The SMS agent: render the text and send it through the SMS provider."""

from __future__ import annotations

from temporalio import activity

from activities.errors import classify, template_failure
from adapters.errors import ProviderError, TemplateError
from adapters.templates import TemplateRenderer
from adapters.twilio import TwilioClient
from domain import agents
from domain.contact import ContactOutcome, ContactRequest, ContactResult


class SmsAgent:
    def __init__(self, client: TwilioClient, renderer: TemplateRenderer) -> None:
        self._client = client
        self._renderer = renderer

    @activity.defn(name=agents.SEND_SMS)
    async def send_sms(self, request: ContactRequest) -> ContactResult:
        try:
            message = self._renderer.render(
                request.template, request.channel, request.language, request.message
            )
        except TemplateError as err:
            raise template_failure(err) from err
        try:
            receipt = await self._client.send_sms(
                request.to, message.text, idempotency_key=request.attempt_id
            )
        except ProviderError as err:
            raise classify(err) from err
        # Delivery is reported later by the provider's status callback.
        return ContactResult(
            outcome=ContactOutcome.SENT, provider_ref=receipt.sid, detail=receipt.status
        )
