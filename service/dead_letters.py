"""Redriving dead letters: put a failed command back into its account's campaign.

The campaign's ``redrive`` update queues the step; the campaign then asks the
compliance gate again before contacting anyone, exactly as for a planned step.
A campaign that has finished (or paused for a promise or a dispute) refuses,
and the dead letter stays open with the reason shown to the operator.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.dead_letter_store import DeadLetterStore
from bootstrap.root import Root
from domain import names
from domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveRequest
from workflows import search_attributes as sa

__all__ = ["DeadLetterStore", "RedriveRefused", "dead_letter_store", "redrive"]


def dead_letter_store(root: Root) -> DeadLetterStore:
    """The root's dead-letter store, its tables created. (``DeadLetterStore`` is the
    adapter's, re-exported unchanged: its list and get are the use cases.)"""
    store = root.dead_letters
    store.create_tables()
    return store


class RedriveRefused(Exception):
    """The campaign would not take the dead letter back; the message says why."""


async def redrive(client: Client, store: DeadLetterStore, letter: DeadLetter) -> DeadLetter:
    """Queue ``letter`` in its campaign and mark it redriven; raises ``RedriveRefused``."""
    if letter.status is DeadLetterStatus.REDRIVEN:
        raise RedriveRefused(f"already redriven at {letter.redriven_at:%Y-%m-%d %H:%M:%S} UTC")
    handle = client.get_workflow_handle(letter.workflow_id)
    try:
        await handle.execute_update(
            names.UPDATE_REDRIVE,
            RedriveRequest(dead_letter_id=letter.dead_letter_id, step_id=letter.step_id),
            result_type=str,
        )
    except WorkflowUpdateFailedError as exc:
        raise RedriveRefused(str(exc.cause or exc)) from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise RedriveRefused(await _why_not_running(handle)) from exc
        raise
    return await asyncio.to_thread(store.mark_redriven, letter.dead_letter_id, datetime.now(UTC))


async def _why_not_running(handle: WorkflowHandle[Any, Any]) -> str:
    try:
        described = await handle.describe()
    except RPCError:
        return f"campaign {handle.id} does not exist (any more)"
    status = described.typed_search_attributes.get(sa.STATUS) or "closed"
    return f"the campaign has finished ({status}); start a new one for the account"
