"""Reading a reply with a language model: the activity's input and result, the prompt, the
answer's JSON Schema and its validation. Pure: the activity (``activities.replies``) does the I/O.

The model's answer is held to the offline reader's conventions (``domain.replies``): one of the
ten labels, a promised date and amount for ``promise_to_pay`` only, dates resolved against the
sender's local date. An answer that breaks them is treated as malformed, and the reply is read
offline instead (``ReadReply.fallback`` says why).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.channels import Channel
from domain.replies.reader import ReplyIntent, ReplyReading, classify


class ReadBy(StrEnum):
    LLM = "llm"
    # The shipped model beside the rules (``domain.replies.combined``), in the reader activity.
    MODEL = "model"
    # The in-workflow rules (``domain.replies.classify``): runs that began before the reader
    # activity, and the fallback when the reader keeps failing.
    OFFLINE = "offline"


class ReplyToRead(BaseModel):
    """What the model is given: the reply and when and how it came, never who sent it."""

    reply_id: str
    tenant_id: str
    text: str = Field(max_length=10_000)
    channel: Channel
    received_at: datetime = Field(description="With the sender's UTC offset (naive means UTC).")
    language: str = "en"


class ReadReply(BaseModel):
    """A reading and how it was made; ``fallback`` says why the model's was not used."""

    reading: ReplyReading
    read_by: ReadBy
    fallback: str | None = None
    runner_up: ReplyIntent | None = Field(
        default=None,
        description="The reader's second choice, when it has one: what a person reviewing a "
        "low-confidence reading may choose instead.",
    )
    cease: bool = Field(
        default=False,
        description="A stop written as a request to cease all communication (15 U.S.C. "
        "1692c(c)): it ends contact on every channel, not only the one it came by.",
    )


SCHEMA_NAME = "reply_reading"

# Strict structured outputs: every key required, nothing else allowed.
READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": [i.value for i in ReplyIntent]},
        "promise_date": {
            "type": ["string", "null"],
            "description": "YYYY-MM-DD, for promise_to_pay only; otherwise null.",
        },
        "promise_amount": {
            "type": ["string", "null"],
            "description": 'A plain decimal such as "120.00", for promise_to_pay only.',
        },
        "confidence": {"type": "number", "description": "0 to 1."},
    },
    "required": ["intent", "promise_date", "promise_amount", "confidence"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = """\
You read one reply a debtor sent to a debt collector and classify it. Label it with exactly one
intent:

- pay_now: they are paying (or have just paid) now or today.
- promise_to_pay: they promise to pay on a later day (give the date and amount when stated).
- payment_plan: they ask to pay in instalments or over time.
- dispute: they say the debt is not theirs, wrong, already paid, or they ask for verification.
- stop: they ask us to stop contacting them (on this channel or at all).
- wrong_person: we reached someone who is not the debtor (wrong number or address).
- hardship: they cannot pay because of job loss, illness, or similar difficulty.
- attorney: a lawyer or attorney represents them about this debt.
- callback: they ask to be called or phoned back.
- other: anything else, or nothing to act on.

When a reply carries several intents: attorney outranks everything, then stop; dispute outranks
promise_to_pay; otherwise the strongest intent wins. A promise for the very day it was
received, worded as "now" or "today", is pay_now.

Give promise_date and promise_amount for promise_to_pay only, otherwise null. Two amounts on
two dates, or instalments, are payment_plan (no date or amount). Resolve dates against the
sender's local date given with the reply ("today" below means that date):
- today, tonight, this evening, hoy, esta noche: the same day.
- tomorrow, manana: +1 day; the day after tomorrow, pasado manana: +2.
- A weekday name alone or with this/el/este (Friday, this Friday, el viernes): the first
  such day strictly after today (so Friday said on a Friday is a week later).
- next <weekday>, el proximo viernes, el viernes que viene: that weekday in the following
  Monday-to-Sunday week.
- next week, la proxima semana, la semana que viene: the Monday of next week.
- this weekend: the Saturday on or after today (today when it is a Sunday); end of the week:
  the Friday on or after today.
- in N days (give me N days, N days from now, en N dias, dentro de N dias): +N days; a
  couple of days: +2; a few days: null. In two weeks, two weeks from today, a fortnight,
  en dos semanas, en quince dias: +14; in a week, en ocho dias: +7. N business days: N
  weekdays on. In N months: the same day N months on (clamped to the month's last day).
- end of the month, eom, fin de mes: this month's last day; end of next month: next month's.
  next month, el mes que viene: the 1st of next month; mid-month, mediados de mes: the next
  15th.
- A day of the month alone (the 15th, the first, el 15, el 1ro, el primero): the next such
  day strictly after today; on the month's last day, naming today's day means today.
- A calendar date (Dec 20, 20 de diciembre; numeric dates are US month/day written with /,
  - or ., e.g. 12/20, 12-20, 12.20; a year when given): this year, or next year when it is
  already past (today itself is not past).
- payday, when I get paid, cuando cobre, quincena: no date (null).
When a reply holds several date phrases, the first in reading order wins.
promise_amount is the first amount stated, as a plain decimal string without a currency sign
("120.00"), or null. confidence is how sure you are, from 0 to 1.

Text quoted from earlier messages is not the sender's. Answer with the JSON object only."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AMOUNT = re.compile(r"^\d{1,12}(?:\.\d{1,2})?$")
_CENT = Decimal("0.01")
# A promised date further ahead than this is not a promise anyone can hold a campaign to.
MAX_PROMISE_AHEAD = timedelta(days=366)


def local_day(received_at: datetime) -> date:
    """The sender's local date: ``received_at`` in the offset it carries (naive means UTC)."""
    aware = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    return aware.date()


def user_message(request: ReplyToRead) -> str:
    today = local_day(request.received_at)
    offset = request.received_at.strftime("%z") or "+0000"
    return (
        f"Sender's local date: {today.isoformat()} ({today:%A}), UTC offset {offset}.\n"
        f"Channel: {request.channel.value}. Account language: {request.language}.\n"
        f"Reply:\n{request.text}"
    )


def reading_from_answer(data: dict[str, Any], today: date) -> ReplyReading:
    """The model's answer as a reading; ValueError (naming no content) when it is invalid."""
    raw_intent = data.get("intent")
    if not isinstance(raw_intent, str) or raw_intent not in set(ReplyIntent):
        raise ValueError("intent is not one of the ten labels")
    intent = ReplyIntent(raw_intent)
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise ValueError("confidence is not a number")
    if not 0 <= confidence <= 1:
        raise ValueError("confidence is not between 0 and 1")
    reading = ReplyReading(intent=intent, confidence=round(float(confidence), 4))
    if intent is not ReplyIntent.PROMISE_TO_PAY:
        return reading  # dates and amounts belong to a promise only
    return reading.model_copy(
        update={
            "promise_date": _promise_date(data.get("promise_date"), today),
            "promise_amount": _promise_amount(data.get("promise_amount")),
        }
    )


def _promise_date(raw: Any, today: date) -> date | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _DATE.match(raw.strip()):
        raise ValueError("promise_date is not a YYYY-MM-DD date")
    try:
        when = date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("promise_date is not a calendar date") from None
    if when < today:
        raise ValueError("promise_date is before the day the reply was sent")
    if when > today + MAX_PROMISE_AHEAD:
        raise ValueError("promise_date is more than a year ahead")
    return when


def _promise_amount(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _AMOUNT.match(raw.strip()):
        raise ValueError("promise_amount is not a plain decimal amount")
    amount = Decimal(raw.strip()).quantize(_CENT)
    if amount <= 0:
        raise ValueError("promise_amount is not positive")
    return amount


def read_offline(request: ReplyToRead, fallback: str | None) -> ReadReply:
    """The deterministic reading (``domain.replies.classify``), and why it was used."""
    reading = classify(request.text, request.received_at, request.channel)
    return ReadReply(reading=reading, read_by=ReadBy.OFFLINE, fallback=fallback)
