"""The SMS agent: re-check the gate, compose the text, send it, record it."""

from __future__ import annotations

from temporalio import activity

from activities.compose import already_sent, provider_call, provider_failure, record_sent
from activities.composer import Composer
from activities.export import ContactExport
from activities.gate import check_before_send
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError
from adapters.templates import TemplateRenderer
from adapters.twilio import TwilioClient
from domain import agents
from domain.contact import ContactOutcome, ContactRequest, ContactResult


class SmsAgent:
    def __init__(
        self,
        client: TwilioClient,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
    ) -> None:
        self._client = client
        self._composer = composer or Composer(renderer)
        self._ledger = ledger
        self._breaker = breaker
        self._export = export or ContactExport(None)

    @activity.defn(name=agents.SEND_SMS)
    async def send_sms(self, request: ContactRequest) -> ContactResult:
        started = self._export.started()
        return await self._export.finished(request, await self._send_sms(request), started)

    async def _send_sms(self, request: ContactRequest) -> ContactResult:
        if sent := await already_sent(self._ledger, request):
            return sent
        decision = check_before_send(request)
        composed = await self._composer.compose(request)
        message = composed.message
        try:
            async with provider_call(self._breaker):
                receipt = await self._client.send_sms(
                    request.to,
                    message.text,
                    idempotency_key=request.attempt_id,
                    tenant_id=request.tenant_id,
                )
        except ProviderError as err:
            raise provider_failure(err, request) from err
        sent_at = await record_sent(self._ledger, request, decision, ContactOutcome.SENT)
        # Delivery is reported later by the provider's status callback.
        return ContactResult(
            outcome=ContactOutcome.SENT,
            provider_ref=receipt.sid,
            detail=receipt.status,
            sent_at=sent_at,
            ruleset=decision.ruleset,
            composed_by=composed.composed_by,
            compose_fallback=composed.fallback_reason,
            compose_disagreement=composed.disagreement,
        )
