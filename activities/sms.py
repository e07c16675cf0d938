"""The SMS agent: a written message handed to the SMS provider's Messages API."""

from __future__ import annotations

from temporalio import activity

from activities.composer import Composer
from activities.export import ContactExport
from activities.message_agent import Handed, MessageAgent, hand_over_time
from activities.sending import SendCheck
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.suppressions import SuppressionStore
from adapters.templates import RenderedMessage, TemplateRenderer
from adapters.twilio import TwilioClient
from domain import names
from domain.contact import ContactRequest, ContactResult


class SmsAgent(MessageAgent):
    def __init__(
        self,
        client: TwilioClient,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
        suppressions: SuppressionStore | None = None,
    ) -> None:
        super().__init__(renderer, ledger, breaker, export, composer, suppressions)
        self._client = client

    @activity.defn(name=names.SEND_SMS)
    async def send_sms(self, request: ContactRequest) -> ContactResult:
        return await self.contact(request)

    async def _hand_over(
        self, request: ContactRequest, message: RenderedMessage, check: SendCheck
    ) -> Handed:
        handed_at = hand_over_time()
        receipt = await self._client.send_sms(
            request.to,
            message.text,
            idempotency_key=request.attempt_id,
            tenant_id=request.tenant_id,
        )
        sent_at, late = await self._record(request, check, handed_at, receipt.sid)
        # Delivery is reported later by the provider's status callback.
        return Handed(receipt.sid, receipt.status, sent_at, handed_at, late)
