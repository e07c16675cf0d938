"""The written-message agents (email, SMS): one way to send, one way to record.

Every send goes the same way: a retry of an attempt that already went out reports it
and sends nothing (the sent-ledger); the message is composed (model or template,
through the guardrail); the gate is asked last, with the live suppression store
(``activities.sending``); the message is handed to the provider and recorded in the
ledger and the audit chain in one piece that a cancellation cannot cut in two. Each
channel says only how it hands a message over (``_hand_over``).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from activities.composer import Composer
from activities.export import ContactExport
from activities.gate import record_contact, send_time
from activities.provider_calls import already_sent, call_provider, provider_failure
from activities.sending import SendCheck, SendGate, heartbeating, to_completion
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError
from adapters.suppressions import SuppressionStore
from adapters.templates import RenderedMessage, TemplateRenderer
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.revocations import Revocation, in_force


@dataclass(frozen=True)
class Handed:
    """What the provider took: its reference, and what the records say of the moment."""

    provider_ref: str
    detail: str | None
    sent_at: datetime
    handed_at: datetime
    late: list[Revocation]


class MessageAgent(ABC):
    def __init__(
        self,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
        suppressions: SuppressionStore | None = None,
    ) -> None:
        self._composer = composer or Composer(renderer)
        self._ledger = ledger
        self._breaker = breaker
        self._export = export or ContactExport(None)
        self._gate = SendGate(suppressions)

    async def contact(self, request: ContactRequest) -> ContactResult:
        started = self._export.started()
        result = await self._contact(request)
        # It went out: its export finishes even if the campaign cancels now.
        return await to_completion(self._export.finished(request, result, started))

    async def _contact(self, request: ContactRequest) -> ContactResult:
        if sent := await already_sent(self._ledger, request):
            return sent
        async with heartbeating():
            composed = await self._composer.compose(request)
            message = composed.message

            async def hand_over(check: SendCheck) -> Handed:
                # From here the provider may have it: finish, whatever is cancelled.
                return await to_completion(self._hand_over(request, message, check))

            try:
                check, handed = await call_provider(
                    self._breaker, lambda: self._gate.check(request), hand_over
                )
            except ProviderError as err:
                raise provider_failure(err, request) from err
        return ContactResult(
            outcome=ContactOutcome.SENT,
            provider_ref=handed.provider_ref,
            detail=handed.detail,
            sent_at=handed.sent_at,
            ruleset=check.decision.ruleset,
            composed_by=composed.composed_by,
            compose_fallback=composed.fallback_reason,
            compose_disagreement=composed.disagreement,
            handed_at=handed.handed_at,
            revocations=in_force(check.revocations),
            after_revocation=handed.late,
        )

    @abstractmethod
    async def _hand_over(
        self, request: ContactRequest, message: RenderedMessage, check: SendCheck
    ) -> Handed:
        """Give the message to the provider (``ProviderError`` if it refused) and
        ``_record`` it once the provider has it."""

    async def _record(
        self, request: ContactRequest, check: SendCheck, handed_at: datetime, provider_ref: str
    ) -> tuple[datetime, list[Revocation]]:
        """Into the ledger and the audit chain, at the moment the gate allowed it; with any
        revocation that arrived between the check and the hand-over."""
        late = await self._gate.late(request, check, handed_at)
        sent_at = check.decision.earliest_allowed
        assert sent_at is not None  # an allowed decision carries its own moment
        await asyncio.to_thread(
            record_contact,
            self._ledger,
            request,
            ContactOutcome.SENT,
            sent_at,
            check.decision.ruleset,
            provider_ref=provider_ref,
            revocations=in_force(check.revocations),
            after_revocation=late,
        )
        return sent_at, late


def hand_over_time() -> datetime:
    """The moment of the hand-over, on the same timeline as the send-time check."""
    return send_time()
