"""The email agent: re-check the gate, compose the message, send it over SMTP, record it."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from activities.compose import already_sent, provider_call, provider_failure, record_sent
from activities.composer import Composer
from activities.export import ContactExport
from activities.gate import check_before_send
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError
from adapters.smtp import SmtpMailer
from adapters.templates import TemplateRenderer
from domain import agents
from domain.contact import ContactOutcome, ContactRequest, ContactResult


class EmailAgent:
    def __init__(
        self,
        mailer: SmtpMailer,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
    ) -> None:
        self._mailer = mailer
        self._composer = composer or Composer(renderer)
        self._ledger = ledger
        self._breaker = breaker
        self._export = export or ContactExport(None)

    @activity.defn(name=agents.SEND_EMAIL)
    async def send_email(self, request: ContactRequest) -> ContactResult:
        started = self._export.started()
        return await self._export.finished(request, await self._send_email(request), started)

    async def _send_email(self, request: ContactRequest) -> ContactResult:
        if sent := await already_sent(self._ledger, request):
            return sent
        decision = check_before_send(request)
        composed = await self._composer.compose(request)
        message = composed.message
        recorded: list[datetime] = []

        async def accepted(_message_id: str) -> None:
            # Into the sent-ledger the moment the relay has it (SMTP takes no
            # idempotency key: this record is what stops a retry from resending).
            recorded.append(await record_sent(self._ledger, request, decision, ContactOutcome.SENT))

        try:
            async with provider_call(self._breaker):
                message_id = await self._mailer.send(
                    to=request.to,
                    subject=message.subject or request.template.replace("_", " ").title(),
                    text=message.text,
                    html=message.html,
                    idempotency_key=request.attempt_id,
                    on_accepted=accepted,
                )
        except ProviderError as err:
            raise provider_failure(err, request) from err
        [sent_at] = recorded
        return ContactResult(
            outcome=ContactOutcome.SENT,
            provider_ref=message_id,
            sent_at=sent_at,
            ruleset=decision.ruleset,
            composed_by=composed.composed_by,
            compose_fallback=composed.fallback_reason,
            compose_disagreement=composed.disagreement,
        )
