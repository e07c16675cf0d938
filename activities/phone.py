"""The phone agent: re-check the gate, place a call that speaks the message, wait for it.

The call's SID (and when it was placed) is heartbeated, so a retried attempt
(worker crash, timeout) resumes watching the same call instead of dialling the
debtor a second time, and does not ask the gate again about a call already made.

A call is a contact from the moment the provider has it: once placed, it is always
recorded in the ledger and the audit chain, even when the campaign cancels while it
is ringing or under way (a cease, a STOP); then the agent hangs up first, records the
call as it ended, and reports that instead of vanishing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.compose import call_provider, provider_failure
from activities.composer import Composer
from activities.export import ContactExport
from activities.gate import record_contact
from activities.message_agent import hand_over_time
from activities.sending import SendCheck, SendGate, to_completion
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError
from adapters.suppressions import SuppressionStore
from adapters.templates import TemplateRenderer
from adapters.twilio import CallReceipt, CallState, TwilioClient
from domain import agents
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.revocations import Revocation, in_force


def call_outcome(call: CallState) -> ContactOutcome:
    if call.status == "completed":
        answered_by = call.answered_by or "human"
        return ContactOutcome.CONVERSATION if answered_by == "human" else ContactOutcome.VOICEMAIL
    if call.status == "busy":
        return ContactOutcome.BUSY
    if call.status in {"no-answer", "canceled"}:
        # Canceled: hung up by us while it rang. The phone rang: an attempt that counts.
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
        suppressions: SuppressionStore | None = None,
    ) -> None:
        self._client = client
        # Calls speak the reviewed template (see activities.composer): the composer
        # still holds it to the guardrail and says who wrote it.
        self._composer = composer or Composer(renderer)
        self._ledger = ledger
        self._poll = poll_seconds
        self._breaker = breaker
        self._export = export or ContactExport(None)
        self._gate = SendGate(suppressions)

    @activity.defn(name=agents.PLACE_CALL)
    async def place_call(self, request: ContactRequest) -> ContactResult:
        started = self._export.started()
        return await self._export.finished(request, await self._place_call(request), started)

    async def _place_call(self, request: ContactRequest) -> ContactResult:
        details = activity.info().heartbeat_details
        check: SendCheck | None = None
        composed_by: str | None = None
        late: list[Revocation] = []
        handed_at: datetime | None = None
        try:
            if details:
                sid, placed_at = str(details[0]), datetime.fromisoformat(str(details[1]))
            else:
                composed = await self._composer.compose(request)
                composed_by = composed.composed_by

                async def dial(_: SendCheck) -> tuple[CallReceipt, datetime]:
                    # Once dialled the phone may ring: finish, whatever is cancelled.
                    at = hand_over_time()
                    return await to_completion(self._dial(request, composed.message.text)), at

                checked, (receipt, handed_at) = await call_provider(
                    self._breaker, lambda: self._gate.check(request), dial
                )
                assert checked.decision.earliest_allowed is not None
                check, placed_at, sid = checked, checked.decision.earliest_allowed, receipt.sid
                late = await self._gate.late(request, checked, handed_at)
            activity.heartbeat(sid, placed_at.isoformat())
            call, hung_up = await self._watch(sid, placed_at)
        except ProviderError as err:
            raise provider_failure(err, request) from err
        outcome = call_outcome(call)
        await asyncio.to_thread(
            record_contact,
            self._ledger,
            request,
            outcome,
            placed_at,
            check.decision.ruleset if check else None,
            provider_ref=sid,
            revocations=in_force(check.revocations) if check else (),
            after_revocation=late,
        )
        if outcome is ContactOutcome.FAILED:
            raise ApplicationError(f"call {sid} ended {call.status}", type="CallFailed")
        return ContactResult(
            outcome=outcome,
            provider_ref=sid,
            detail=f"{call.status} (hung up: the campaign cancelled the call)"
            if hung_up
            else call.status,
            sent_at=placed_at,
            ruleset=check.decision.ruleset if check else None,
            composed_by=composed_by,
            handed_at=handed_at,
            revocations=in_force(check.revocations) if check else [],
            after_revocation=late,
        )

    async def _dial(self, request: ContactRequest, script: str) -> CallReceipt:
        return await self._client.place_call(
            request.to,
            script,
            language=request.language,
            idempotency_key=request.attempt_id,
            tenant_id=request.tenant_id,
        )

    async def _watch(self, sid: str, placed_at: datetime) -> tuple[CallState, bool]:
        """The call once it ended; True with it when it ended because we hung up."""
        try:
            while True:
                call = await self._client.get_call(sid)
                if call.finished:
                    return call, False
                activity.heartbeat(sid, placed_at.isoformat())
                await asyncio.sleep(self._poll)
        except asyncio.CancelledError:
            why = activity.cancellation_details()
            if why is None or not why.cancel_requested:
                raise  # a worker shutting down: the retry resumes watching the same call
            # The campaign cancelled (a cease, a STOP): end the call, then say how it ended.
            activity.logger.info("call %s cancelled by the campaign: hanging up", sid)
            return await to_completion(self._client.end_call(sid)), True
