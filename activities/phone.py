"""The phone agent: place a call that speaks the message, and wait for its outcome.

The call's SID is heartbeated, so a retried attempt (worker crash, timeout)
resumes watching the same call instead of dialling the debtor a second time.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classify, template_failure
from adapters.errors import ProviderError, TemplateError
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
        self, client: TwilioClient, renderer: TemplateRenderer, poll_seconds: float = 0.5
    ) -> None:
        self._client = client
        self._renderer = renderer
        self._poll = poll_seconds

    @activity.defn(name=agents.PLACE_CALL)
    async def place_call(self, request: ContactRequest) -> ContactResult:
        details = activity.info().heartbeat_details
        sid = str(details[0]) if details else None
        try:
            if sid is None:
                try:
                    script = self._renderer.render(
                        request.template, request.channel, request.language, request.message
                    )
                except TemplateError as err:
                    raise template_failure(err) from err
                receipt = await self._client.place_call(
                    request.to,
                    script.text,
                    language=request.language,
                    idempotency_key=request.attempt_id,
                )
                sid = receipt.sid
                activity.heartbeat(sid)
            while True:
                call = await self._client.get_call(sid)
                if call.finished:
                    break
                activity.heartbeat(sid)
                await asyncio.sleep(self._poll)
        except ProviderError as err:
            raise classify(err) from err
        outcome = call_outcome(call)
        if outcome is ContactOutcome.FAILED:
            raise ApplicationError(f"call {sid} ended {call.status}", type="CallFailed")
        return ContactResult(outcome=outcome, provider_ref=sid, detail=call.status)
