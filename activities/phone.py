"""The phone agent: re-check the gate, place a call that speaks the message, wait for it.

The call's SID (and when it was placed) is heartbeated, so a retried attempt
(worker crash, timeout) resumes watching the same call instead of dialling the
debtor a second time, and does not ask the gate again about a call already made.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.compose import provider_call, provider_failure
from activities.composer import Composer
from activities.export import ContactExport
from activities.gate import check_before_send, record_contact
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError
from adapters.templates import TemplateRenderer
from adapters.twilio import CallState, TwilioClient
from domain import agents
from domain.contact import ContactOutcome, ContactRequest, ContactResult


def call_outcome(call: CallState) -> ContactOutcome:
    if call.status == "completed":
        answered_by = call.answered_by or "human"
        return ContactOutcome.CONVERSATION if answered_by == "human" else ContactOutcome.VOICEMAIL
    if call.status == "busy":
        return ContactOutcome.BUSY
    if call.status == "no-answer":
        return ContactOutcome.NO_ANSWER
    return ContactOutcome.FAILED


class PhoneAgent:
    def __init__(
        self,
        client: TwilioClient,
        renderer: TemplateRenderer,
        ledger: ContactLedger,
        poll_seconds: float = 0.5,
        breaker: CircuitBreaker | None = None,
        export: ContactExport | None = None,
        composer: Composer | None = None,
    ) -> None:
        self._client = client
        # Calls speak the reviewed template (see activities.composer): the composer
        # still holds it to the guardrail and says who wrote it.
        self._composer = composer or Composer(renderer)
        self._ledger = ledger
        self._poll = poll_seconds
        self._breaker = breaker
        self._export = export or ContactExport(None)

    @activity.defn(name=agents.PLACE_CALL)
    async def place_call(self, request: ContactRequest) -> ContactResult:
        started = self._export.started()
        return await self._export.finished(request, await self._place_call(request), started)

    async def _place_call(self, request: ContactRequest) -> ContactResult:
        details = activity.info().heartbeat_details
        ruleset: str | None = None
        composed_by: str | None = None
        try:
            if details:
                sid, placed_at = str(details[0]), datetime.fromisoformat(str(details[1]))
            else:
                decision = check_before_send(request)
                assert decision.earliest_allowed is not None
                placed_at, ruleset = decision.earliest_allowed, decision.ruleset
                composed = await self._composer.compose(request)
                script, composed_by = composed.message, composed.composed_by
                async with provider_call(self._breaker):
                    receipt = await self._client.place_call(
                        request.to,
                        script.text,
                        language=request.language,
                        idempotency_key=request.attempt_id,
                        tenant_id=request.tenant_id,
                    )
                sid = receipt.sid
            activity.heartbeat(sid, placed_at.isoformat())
            while True:
                call = await self._client.get_call(sid)
                if call.finished:
                    break
                activity.heartbeat(sid, placed_at.isoformat())
                await asyncio.sleep(self._poll)
        except ProviderError as err:
            raise provider_failure(err, request) from err
        outcome = call_outcome(call)
        await asyncio.to_thread(record_contact, self._ledger, request, outcome, placed_at, ruleset)
        if outcome is ContactOutcome.FAILED:
            raise ApplicationError(f"call {sid} ended {call.status}", type="CallFailed")
        return ContactResult(
            outcome=outcome,
            provider_ref=sid,
            detail=call.status,
            sent_at=placed_at,
            ruleset=ruleset,
            composed_by=composed_by,
        )
