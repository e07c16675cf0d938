"""The email agent: a written message handed to the SMTP relay."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from activities.composer import Composer
from activities.export import ContactExport
from activities.message_agent import Handed, MessageAgent, hand_over_time
from activities.sending import SendCheck
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.smtp import SmtpMailer
from adapters.suppressions import SuppressionStore
from adapters.templates import RenderedMessage, TemplateRenderer
from domain import names
from domain.contact import ContactRequest, ContactResult
from domain.revocations import Revocation


class EmailAgent(MessageAgent):
    def __init__(
        self,
        mailer: SmtpMailer,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
        suppressions: SuppressionStore | None = None,
    ) -> None:
        super().__init__(renderer, ledger, breaker, export, composer, suppressions)
        self._mailer = mailer

    @activity.defn(name=names.SEND_EMAIL)
    async def send_email(self, request: ContactRequest) -> ContactResult:
        return await self.contact(request)

    async def _hand_over(
        self, request: ContactRequest, message: RenderedMessage, check: SendCheck
    ) -> Handed:
        handed_at = hand_over_time()
        recorded: list[tuple[datetime, list[Revocation]]] = []

        async def accepted(message_id: str) -> None:
            # Into the sent-ledger the moment the relay has it (SMTP takes no
            # idempotency key: this record is what stops a retry from resending).
            recorded.append(await self._record(request, check, handed_at, message_id))

        message_id = await self._mailer.send(
            to=request.to,
            subject=message.subject or request.template.replace("_", " ").title(),
            text=message.text,
            html=message.html,
            idempotency_key=request.attempt_id,
            on_accepted=accepted,
        )
        [(sent_at, late)] = recorded
        return Handed(message_id, None, sent_at, handed_at, late)
