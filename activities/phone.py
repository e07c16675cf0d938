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
from dataclasses import dataclass
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.composer import Composer
from activities.export import ContactExport
from activities.gate import record_contact
from activities.message_agent import hand_over_time
from activities.provider_calls import call_provider, provider_failure
from activities.sending import SendCheck, SendGate, to_completion
from adapters.breakers import CircuitBreaker
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError
from adapters.suppressions import SuppressionStore
from adapters.templates import TemplateRenderer
from adapters.twilio import CallReceipt, CallState, TwilioClient
from domain import names
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.revocations import Revocation, in_force


@dataclass(frozen=True)
class Placed:
    """A call the provider has: its SID, when the gate allowed it, and (unless an earlier
    try placed it) the check that allowed it, when it was handed over and who wrote it."""

    sid: str
    placed_at: datetime
    check: SendCheck | None
    handed_at: datetime | None
    composed_by: str | None


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

    @activity.defn(name=names.PLACE_CALL)
    async def place_call(self, request: ContactRequest) -> ContactResult:
        started = self._export.started()
        result = await self._place_call(request)
        # The call was made: its export finishes even if the campaign cancels now.
        return await to_completion(self._export.finished(request, result, started))

    async def _place_call(self, request: ContactRequest) -> ContactResult:
        details = activity.info().heartbeat_details
        if details:  # an earlier try placed it: watch the same call, never dial again
            sid, placed_at = str(details[0]), datetime.fromisoformat(str(details[1]))
            placed = Placed(sid, placed_at, None, None, None)
        else:
            composed = await self._composer.compose(request)

            async def dial(_: SendCheck) -> tuple[CallReceipt, datetime]:
                at = hand_over_time()
                return await self._dial(request, composed.message.text), at

            try:
                # Cancellable until the provider has the call; not after.
                check, (receipt, handed_at) = await call_provider(
                    self._breaker,
                    lambda: self._gate.check(request),
                    lambda checked: to_completion(dial(checked)),
                )
            except ProviderError as err:
                raise provider_failure(err, request) from err
            assert check.decision.earliest_allowed is not None
            placed = Placed(
                receipt.sid,
                check.decision.earliest_allowed,
                check,
                handed_at,
                composed.composed_by,
            )
        # From here on the phone may ring: watch, record and report it whatever happens.
        return await to_completion(self._follow(request, placed))

    async def _follow(self, request: ContactRequest, placed: Placed) -> ContactResult:
        """Watch the call to its end (hanging up if the campaign cancels), then record it."""
        check, sid = placed.check, placed.sid
        late: list[Revocation] = []
        if check is not None and placed.handed_at is not None:
            late = await self._gate.late(request, check, placed.handed_at)
        try:
            call, hung_up = await self._watch(sid, placed.placed_at)
        except ProviderError as err:
            raise provider_failure(err, request) from err
        outcome = call_outcome(call)
        await asyncio.to_thread(
            record_contact,
            self._ledger,
            request,
            outcome,
            placed.placed_at,
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
            sent_at=placed.placed_at,
            ruleset=check.decision.ruleset if check else None,
            composed_by=placed.composed_by,
            handed_at=placed.handed_at,
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
        """The call once it ended; True with it when it ended because we hung up.

        It runs shielded (``to_completion``), so it learns of a cancellation from the
        activity's state, not from an exception: the campaign's cancellation (a cease, a
        STOP) hangs up; a worker shutting down leaves the call to the retry, which
        resumes watching it (its SID is in the heartbeat).
        """
        while True:
            call = await self._client.get_call(sid)
            if call.finished:
                return call, False
            if activity.is_cancelled():
                why = activity.cancellation_details()
                if why is not None and why.cancel_requested:
                    activity.logger.info("call %s cancelled by the campaign: hanging up", sid)
                    return await self._client.end_call(sid), True
                raise asyncio.CancelledError  # shutting down: the next try watches on
            activity.heartbeat(sid, placed_at.isoformat())
            await asyncio.sleep(self._poll)
