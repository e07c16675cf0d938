"""What every channel agent does around its provider call.

Call the provider through its breaker, turn its failures into Temporal errors, render
templates (a template problem is permanent: retrying cannot fix it), and find a send an
earlier try already made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import circuit_open, classify, template_failure
from adapters.breakers import CircuitBreaker, CircuitOpen, Ticket, transient_failure
from adapters.contact_ledger import ContactLedger
from adapters.errors import ProviderError, TemplateError
from adapters.templates import RenderedMessage, TemplateRenderer
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.resilience import RetryRules

C = TypeVar("C")
R = TypeVar("R")


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
    says nothing about the provider's health. (Sends use ``call_provider``, which puts
    the send-time check between the breaker and the call.)
    """
    if breaker is None:
        yield
        return
    try:
        async with breaker.guard():
            yield
    except CircuitOpen as err:
        raise circuit_open(err) from err


async def call_provider(
    breaker: CircuitBreaker | None,
    check: Callable[[], Awaitable[C]],
    call: Callable[[C], Awaitable[R]],
) -> tuple[C, R]:
    """Once the provider's breaker admits a call: the send-time ``check``, then at once the
    ``call`` with what the check returned. An open breaker fails at once, untried.

    The check comes after the breaker (which may be a round trip to Redis) so that nothing
    stands between the last look at the suppression store and the provider. A check that
    refuses gives the breaker's permission back untouched: no call was made. Only
    transient provider failures count against the breaker: an invalid number says
    nothing about the provider's health.
    """
    ticket: Ticket | None = None
    if breaker is not None:
        try:
            ticket = await breaker.acquire()
        except CircuitOpen as err:
            raise circuit_open(err) from err
    try:
        checked = await check()
    except BaseException:
        await _settle(breaker, ticket, None)
        raise
    try:
        result = await call(checked)
    except Exception as exc:
        await _settle(breaker, ticket, not transient_failure(exc))
        raise
    except BaseException:
        await _settle(breaker, ticket, None)
        raise
    await _settle(breaker, ticket, True)
    return checked, result


async def _settle(breaker: CircuitBreaker | None, ticket: Ticket | None, ok: bool | None) -> None:
    """Tell the breaker how the call went (None: no verdict). Never fails the send: the
    message may already be with the provider, and a breaker store that went away must
    not turn a sent message into a failed one."""
    if breaker is None or ticket is None:
        return
    try:
        if ok is None:
            await breaker.release(ticket)
        else:
            await breaker.record(ticket, ok)
    except Exception as exc:
        activity.logger.warning("circuit breaker %s not updated: %s", breaker.name, exc)


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
