"""The reply reader: a language model reads what a debtor wrote, the offline reader when it can't.

- no model configured: the offline reader the worker was given (``offline``: the shipped
  model beside the rules, ``Root.reply_reader`` passed in ``workers/run.py``), or the rules
  (``domain.replies.classify``) when it was given none;
- the model refused, or answered something that is not a valid reading (not JSON, a label
  that is not one of the ten, a bad date or amount): the offline reading, with the reason;
  no retry, the same question would get the same answer;
- a timeout, a rate limit, the endpoint down: raised, so Temporal retries (the workflow reads
  offline once its retries are exhausted);
- the endpoint rejected the request itself (bad key, unknown model, no quota): a
  non-retryable ``LlmRejected`` error (the workflow reads offline).

The model is given the reply, its channel, the sender's local date and the account's language:
never the debtor's name or the account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.errors import ProviderError
from adapters.llm import LlmClient, LlmMalformed, LlmRateLimited, LlmRefused, LlmRejected
from domain import names
from domain.replies.reading import (
    READING_SCHEMA,
    SCHEMA_NAME,
    SYSTEM_PROMPT,
    ReadBy,
    ReadReply,
    ReplyToRead,
    local_day,
    read_offline,
    reading_from_answer,
    user_message,
)

# Reads one reply without a language model (no I/O, but a model's inference is CPU work:
# it runs in a thread, so the worker's event loop keeps heartbeating other activities).
OfflineReader = Callable[[ReplyToRead], ReadReply]


class ReplyReader:
    def __init__(self, llm: LlmClient | None, offline: OfflineReader | None = None) -> None:
        self._llm = llm
        self._offline = offline

    @activity.defn(name=names.READ_REPLY)
    async def read_reply(self, request: ReplyToRead) -> ReadReply:
        if self._llm is None:
            if self._offline is not None:
                return await asyncio.to_thread(self._offline, request)
            return read_offline(request, "no model configured")
        try:
            answer = await self._llm.complete_json(
                SYSTEM_PROMPT, user_message(request), READING_SCHEMA, SCHEMA_NAME
            )
        except LlmRefused:
            return read_offline(request, "model refused")
        except LlmMalformed as err:
            return read_offline(request, f"malformed answer: {err}"[:300])
        except LlmRejected as err:
            raise ApplicationError(str(err), type="LlmRejected", non_retryable=True) from err
        except LlmRateLimited as err:
            wait = timedelta(seconds=err.retry_after) if err.retry_after is not None else None
            raise ApplicationError(str(err), type="LlmRateLimited", next_retry_delay=wait) from err
        except ProviderError as err:  # LlmTimeout, LlmUnavailable: worth another try
            raise ApplicationError(str(err), type=type(err).__name__) from err
        try:
            reading = reading_from_answer(answer, local_day(request.received_at))
        except ValueError as err:
            return read_offline(request, f"malformed answer: {err}")
        return ReadReply(reading=reading, read_by=ReadBy.LLM)
