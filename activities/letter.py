"""The letter agent: a written message printed and mailed by the letter provider (Lob).

Used for the validation notice when no email address is usable. The letter is the
template's HTML (or, for a template with text only, that text as HTML paragraphs),
handed to Lob with the attempt id as its idempotency key, so a retried activity
never mails twice. Like SMS, delivery comes later, by webhook (``api.webhooks``).
"""

from __future__ import annotations

import html

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.composer import Composer
from activities.export import ContactExport
from activities.message_agent import Handed, MessageAgent, hand_over_time
from activities.sending import SendCheck
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.lob import LobClient
from adapters.suppressions import SuppressionStore
from adapters.templates import RenderedMessage, TemplateRenderer
from domain import names
from domain.contact import ContactRequest, ContactResult


class LetterAgent(MessageAgent):
    def __init__(
        self,
        client: LobClient,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
        suppressions: SuppressionStore | None = None,
    ) -> None:
        super().__init__(renderer, ledger, breaker, export, composer, suppressions)
        self._client = client

    @activity.defn(name=names.SEND_LETTER)
    async def send_letter(self, request: ContactRequest) -> ContactResult:
        if request.postal is None:
            # A request built wrong: no retry can help, and no provider is bothered.
            raise ApplicationError(
                f"attempt {request.attempt_id}: a letter needs request.postal (the address)",
                type="InvalidRequest",
                non_retryable=True,
            )
        return await self.contact(request)

    async def _hand_over(
        self, request: ContactRequest, message: RenderedMessage, check: SendCheck
    ) -> Handed:
        assert request.postal is not None  # send_letter refused a request without one
        handed_at = hand_over_time()
        receipt = await self._client.send_letter(
            request.postal,
            request.message.debtor_name,
            message.html or text_as_html(message.text),
            idempotency_key=request.attempt_id,
            metadata={
                "tenant_id": request.tenant_id,
                "account_id": request.account_id,
                "attempt_id": request.attempt_id,
                # The ledger's key for the address: a returned letter's webhook opts out
                # exactly this one (Lob may show the address standardised).
                "to": request.to[:500],
            },
            description=f"{request.template} {request.attempt_id}",
        )
        sent_at, late = await self._record(request, check, handed_at, receipt.id)
        # Mailing and delivery are reported later by the provider's webhooks.
        return Handed(receipt.id, receipt.status, sent_at, handed_at, late)


def text_as_html(text: str) -> str:
    """A plain-text letter as a printable HTML page, a paragraph per blank-line block."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "\n".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="margin: 0; padding: 0.6in 0.75in; font-family: serif; font-size: 11pt;">\n'
        f'<div style="height: 3.1in"></div>\n{body}\n</body></html>\n'
    )
