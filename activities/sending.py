"""What every channel agent does around the moment a message leaves: the truth of it.

- **The last check reads the suppression store**, not the snapshot of facts the campaign
  took when it scheduled the send: a STOP stored a second ago bars the message now
  (``SendGate.check``). The agent composes first and checks last, right before it hands
  the message to the provider, so the gap between the two is one function call.
- **Once handed over, a send finishes** (``to_completion``): a cancellation arriving while
  the provider has the message must not turn "sent" into "not sent". The campaign
  cancels with ``WAIT_CANCELLATION_COMPLETED`` and so learns what really happened: the
  result when the message went out, a cancellation only when it never left.
- **A revocation that slipped into the gap is said out loud** (``SendGate.late``): the
  store is read again after the hand-over, and a revocation received before the message
  left is reported with the result (``ContactResult.after_revocation``), recorded in the
  ledger and the audit chain, and exported, never hidden.
- **Heartbeats** (``heartbeating``) carry the campaign's cancellation to a send that
  waits (a slow composer, a stalled provider); a send that ends within a second costs
  no heartbeat at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.gate import BLOCKED, send_time
from adapters.suppressions import SuppressionStore
from domain.compliance.engine import decide
from domain.compliance.model import Decision, ProposedContact
from domain.contact import ContactRequest
from domain.revocations import Revocation, barring, live_facts

T = TypeVar("T")

# A send that takes longer than this starts heartbeating (and so can be cancelled).
HEARTBEAT_AFTER_SECONDS = 1.0
HEARTBEAT_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class SendCheck:
    """The send-time decision and the revocations it was made with (the evidence)."""

    decision: Decision
    revocations: list[Revocation]


class SendGate:
    """The compliance gate at the moment of sending, with the live suppression store."""

    def __init__(self, store: SuppressionStore | None) -> None:
        self._store = store

    async def revocations(self, request: ContactRequest) -> list[Revocation]:
        if self._store is None:
            return []
        return await asyncio.to_thread(
            self._store.for_account, request.tenant_id, request.account_id
        )

    async def check(self, request: ContactRequest) -> SendCheck:
        """Decide now on the campaign's facts plus every stored revocation; raise
        ``ComplianceBlocked`` (the decision and the revocations attached) when barred."""
        revocations = await self.revocations(request)
        facts = live_facts(request.compliance.facts, revocations, request.channel, request.to)
        decision = decide(
            facts,
            request.compliance.history,
            ProposedContact(at=send_time(), channel=request.channel, to=request.to),
        )
        if not decision.allowed:
            barred_by = barring(revocations, request.channel, request.to)
            raise ApplicationError(
                f"compliance gate at send time: {', '.join(r.value for r in decision.reasons)}",
                decision.model_dump(mode="json"),
                {"revocations": [r.model_dump(mode="json") for r in barred_by]},
                type=BLOCKED,
                non_retryable=True,
                # The gate doing its job (the workflow records the block), not a fault:
                # logged at DEBUG, not as a traceback in the worker's output.
                category=ApplicationErrorCategory.BENIGN,
            )
        return SendCheck(decision=decision, revocations=revocations)

    async def late(
        self, request: ContactRequest, check: SendCheck, handed_at: datetime
    ) -> list[Revocation]:
        """Revocations received before ``handed_at`` that the check had not seen: the
        message went out after them (they arrived in the gap between check and send)."""
        if self._store is None:
            return []
        seen = {r.revocation_id for r in check.revocations}
        now = await self.revocations(request)
        fresh = [r for r in now if r.revocation_id not in seen]
        return barring(fresh, request.channel, request.to, at=handed_at)


def handed_now() -> datetime:
    return datetime.now(UTC)


async def to_completion(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if this activity is cancelled meanwhile.

    The provider may already have the message: stopping here would leave a message
    that went out with no record of it. The activity then returns what happened, and
    the campaign (waiting for the cancellation to complete) gets the truth.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True  # wait for the provider's answer
    if cancelled:
        activity.logger.info("cancelled while the provider had the message: reported as sent")
    return result


@contextlib.asynccontextmanager
async def heartbeating(*details: Any) -> AsyncIterator[None]:
    """Heartbeat (with ``details``) every second once the block has run for a second,
    so that the campaign's cancellation reaches a send that waits."""

    async def beat() -> None:
        await asyncio.sleep(HEARTBEAT_AFTER_SECONDS)
        while True:
            activity.heartbeat(*details)
            await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
