"""What every channel agent does around its provider call.

Call the provider through its breaker, turn its failures into Temporal errors, render
templates (a template problem is permanent: retrying cannot fix it), and find a send an
earlier try already made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import circuit_open, classify, template_failure
from adapters.breakers import CircuitBreaker, CircuitOpen
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError, TemplateError
from adapters.templates import RenderedMessage, TemplateRenderer
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.resilience import RetryRules


def provider_failure(err: ProviderError, request: ContactRequest) -> ApplicationError:
    """The Temporal error for a provider failure, timed by the channel's retry rule.

    The delay is computed here, not by the retry policy, because Temporal has no
    linear back-off.
    """
    rule = request.retry or RetryRules().for_channel(request.channel)
    attempt = activity.info().attempt
    return classify(err, attempt, rule.delay_after(attempt))


@asynccontextmanager
async def provider_call(breaker: CircuitBreaker | None) -> AsyncIterator[None]:
    """Call a provider through its circuit breaker; an open breaker fails at once, untried.

    Only transient provider failures count against the breaker: an invalid number
    says nothing about the provider's health.
    """
    if breaker is None:
        yield
        return
    try:
        async with breaker.guard():
            yield
    except CircuitOpen as err:
        raise circuit_open(err) from err


async def already_sent(ledger: ContactLedger, request: ContactRequest) -> ContactResult | None:
    """The result of this attempt if an earlier try sent it (checked before the gate:
    a message that went out at 20:59 is still sent when the retry runs at 21:01)."""
    found = await asyncio.to_thread(ledger.sent, request.attempt_id)
    if found is None:
        return None
    contact, provider_ref = found
    activity.logger.info("attempt %s was sent by an earlier try: not resent", request.attempt_id)
    # The ledger keeps what the gate counts ("delivered"); the agent reported "sent".
    outcome = ContactOutcome.SENT if contact.outcome == "delivered" else contact.outcome
    return ContactResult(
        outcome=ContactOutcome(outcome),
        provider_ref=provider_ref,
        sent_at=contact.at,
        detail="sent by an earlier try (sent-ledger)",
    )


def render(renderer: TemplateRenderer, request: ContactRequest) -> RenderedMessage:
    try:
        return renderer.render(request.template, request.channel, request.language, request.message)
    except TemplateError as err:
        raise template_failure(err) from err
