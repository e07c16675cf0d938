"""Records a dead letter: the campaign's last word on a command no channel could send."""

from __future__ import annotations

import asyncio

from temporalio import activity

from adapters.dead_letter_store import DeadLetterStore
from domain import names
from domain.dead_letters import DeadLetter


class DeadLetterRecorder:
    def __init__(self, store: DeadLetterStore) -> None:
        self._store = store

    @activity.defn(name=names.RECORD_DEAD_LETTER)
    async def record_dead_letter(self, letter: DeadLetter) -> None:
        # Idempotent by id: a retried activity stores the letter once.
        if await asyncio.to_thread(self._store.record, letter):
            activity.logger.warning(
                "dead letter %s: account %s step %s: %s",
                letter.dead_letter_id,
                letter.account_id,
                letter.step_id,
                letter.last_error,
            )
