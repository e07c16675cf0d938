"""Record a revocation first, tell the campaign second: the one way revocations come in.

The API, the webhooks, the gRPC service, the CLI and the demo's debtors all go through
here: the revocation is written to the suppression store, and only then is the
account's campaign signalled, with the revocation's id. A send already on its way
checks the store right before it reaches the provider, so a STOP stored here stops
it even if the campaign has not heard of it yet (``activities.sending``).

Ids are derived from where a revocation came from (a provider's event id, a reply's
id), so a redelivered webhook or a retried call stores it once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from adapters.suppressions import SuppressionStore
from domain.campaign import InboundReply, OptOutRequest
from domain.compliance.facts import LegalEvent
from domain.replies import ReplyIntent, classify, is_stop_keyword
from domain.revocations import Revocation, RevocationKind

_NAMESPACE = uuid.UUID("6f1c8a52-6d7e-4b7e-9d54-52c0a1d3e9b1")


def revocation_id(tenant_id: str, account_id: str, source: str, ref: str | None) -> str:
    """Stable for the same event of the same account (``ref``); new for each call without."""
    if ref is None:
        return f"{source}:{uuid.uuid4()}"
    return f"{source}:{uuid.uuid5(_NAMESPACE, f'{tenant_id}/{account_id}/{source}/{ref}')}"


class Revocations:
    """Writes revocations to the suppression store and returns the signal to send."""

    def __init__(self, store: SuppressionStore) -> None:
        self._store = store

    async def _record(self, revocation: Revocation) -> None:
        await asyncio.to_thread(self._store.record, revocation)

    async def legal_event(
        self,
        tenant_id: str,
        account_id: str,
        event: LegalEvent,
        *,
        source: str,
        ref: str | None = None,
    ) -> LegalEvent:
        rid = revocation_id(tenant_id, account_id, source, ref)
        received = event.received_at or datetime.now(UTC)
        await self._record(
            Revocation(
                revocation_id=rid,
                tenant_id=tenant_id,
                account_id=account_id,
                kind=RevocationKind(event.kind.value),
                channel=event.channel,
                address=event.address,
                received_at=received if received.tzinfo else received.replace(tzinfo=UTC),
                source=source,
                note=event.note,
            )
        )
        return event.model_copy(update={"revocation_id": rid, "received_at": received})

    async def opt_out(
        self,
        tenant_id: str,
        account_id: str,
        request: OptOutRequest,
        *,
        source: str,
        ref: str | None = None,
        received_at: datetime | None = None,
    ) -> OptOutRequest:
        rid = revocation_id(tenant_id, account_id, source, ref)
        await self._record(
            Revocation(
                revocation_id=rid,
                tenant_id=tenant_id,
                account_id=account_id,
                kind=RevocationKind.OPT_OUT,
                channel=request.channel,
                address=request.address,
                received_at=received_at or datetime.now(UTC),
                source=source,
                note=request.reason[:500],
            )
        )
        return request.model_copy(update={"revocation_id": rid})

    async def reply(
        self, tenant_id: str, account_id: str, reply: InboundReply, *, source: str
    ) -> Revocation | None:
        """Store what a reply revokes when the rules read it as a STOP or an attorney's
        representation: the law is at stake, and the rules have the final word there
        (a language model reading the reply later may add a revocation, never remove one).
        """
        received = reply.received_at or datetime.now(UTC)
        if is_stop_keyword(reply.text):
            kind = RevocationKind.OPT_OUT
        else:
            intent = classify(reply.text, received, reply.channel).intent
            if intent is ReplyIntent.STOP:
                kind = RevocationKind.OPT_OUT
            elif intent is ReplyIntent.ATTORNEY:
                kind = RevocationKind.ATTORNEY
            else:
                return None
        revocation = Revocation(
            revocation_id=revocation_id(tenant_id, account_id, source, f"reply:{reply.reply_id}"),
            tenant_id=tenant_id,
            account_id=account_id,
            kind=kind,
            channel=reply.channel if kind is RevocationKind.OPT_OUT else None,
            address=reply.from_address if kind is RevocationKind.OPT_OUT else None,
            received_at=received if received.tzinfo else received.replace(tzinfo=UTC),
            source=source,
            note=f"reply {reply.reply_id} read as {kind.value}",  # never the text: it is personal
        )
        await self._record(revocation)
        return revocation
