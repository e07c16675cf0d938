"""The offline, deterministic reading of inbound replies: intent, promised date and amount.

Pure (no clock, no I/O, no randomness): it runs inside workflows. ``received_at`` is an input,
and promised dates resolve against the sender's local date in it (its own UTC offset).

Conventions when a reply carries several intents: ``attorney`` outranks everything, then
``stop``; ``dispute`` outranks ``promise_to_pay``; otherwise the strongest cues win. A promise
for the very day it was received, worded as "now"/"today", is ``pay_now``. The promised date
and amount are given for ``promise_to_pay`` only. Cues are in :mod:`domain.replies.cues`,
date and amount rules in :mod:`domain.replies.dates`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.channels import Channel
from domain.replies.cues import cue_scores
from domain.replies.dates import find_amount, find_date
from domain.replies.text import main_text, normalize


class ReplyIntent(StrEnum):
    PAY_NOW = "pay_now"
    PROMISE_TO_PAY = "promise_to_pay"
    PAYMENT_PLAN = "payment_plan"
    DISPUTE = "dispute"
    STOP = "stop"
    WRONG_PERSON = "wrong_person"
    HARDSHIP = "hardship"
    ATTORNEY = "attorney"
    CALLBACK = "callback"
    OTHER = "other"


# CTIA / Twilio standard opt-out keywords: a message consisting of one of them.
STOP_KEYWORDS = frozenset(
    {"STOP", "QUIT", "CANCEL", "END", "UNSUBSCRIBE", "STOPALL", "REVOKE", "OPTOUT"}
)


def is_stop_keyword(text: str) -> bool:
    return text.strip().strip(".!").upper() in STOP_KEYWORDS


class ReplyReading(BaseModel):
    """What a reply says: its intent and, for a promise, when and how much."""

    model_config = ConfigDict(frozen=True)

    intent: ReplyIntent
    promise_date: date | None = None
    promise_amount: Decimal | None = None
    confidence: float = Field(ge=0, le=1)


# An intent must reach this much cue weight to be read at all; attorney and stop must reach
# their own (higher) floor to take precedence over everything else.
_MIN_SCORE = 1.5
_PRECEDENCE_FLOOR = {ReplyIntent.ATTORNEY: 3.0, ReplyIntent.STOP: 2.5}
# A cue this strong for a substantive intent outranks a request for a call; a dispute this
# strong outranks a payment plan offered alongside it.
_STRONG = 3.0
_META = frozenset({ReplyIntent.CALLBACK, ReplyIntent.OTHER})
# Ties go to the first of these.
_ORDER = [
    ReplyIntent.ATTORNEY,
    ReplyIntent.STOP,
    ReplyIntent.DISPUTE,
    ReplyIntent.WRONG_PERSON,
    ReplyIntent.HARDSHIP,
    ReplyIntent.PAYMENT_PLAN,
    ReplyIntent.PAY_NOW,
    ReplyIntent.PROMISE_TO_PAY,
    ReplyIntent.CALLBACK,
    ReplyIntent.OTHER,
]
_PAY_WORD = re.compile(
    r"\b(?:pay|paying|send|sending|deposit|payment|mail|pago|pagar|pagare|deposito|mando|abono)\b"
)
# read_reply has no received_at: the intent does not depend on which day it is.
_ANY_DAY = datetime(2000, 1, 3, 12, tzinfo=UTC)


def _confidence(top: float, runner_up: float) -> float:
    strength = top / (top + 2.0)
    margin = max(0.0, top - runner_up) / top
    return round(min(0.99, 0.3 + 0.65 * strength * (0.5 + 0.5 * margin)), 4)


def classify(text: str, received_at: datetime, channel: Channel | None = None) -> ReplyReading:
    """Read one reply. ``received_at`` should carry its UTC offset (naive means UTC)."""
    del channel  # the cues read the same on every channel; kept for callers and the LLM path
    if is_stop_keyword(text):
        return ReplyReading(intent=ReplyIntent.STOP, confidence=0.99)
    own = main_text(text)
    norm = normalize(own)
    aware = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    local_day = aware.date()
    scores = {ReplyIntent(k): v for k, v in cue_scores(norm).items()}
    when = find_date(own, local_day)
    amount = find_amount(own)
    if when is not None and (amount is not None or _PAY_WORD.search(norm)):
        boost = 2.0 if amount is not None else 1.5
        scores[ReplyIntent.PROMISE_TO_PAY] = scores.get(ReplyIntent.PROMISE_TO_PAY, 0.0) + boost
    candidates = {i: s for i, s in scores.items() if s >= _MIN_SCORE}
    if ReplyIntent.DISPUTE in candidates:
        # Paying on condition of a correction, or "fine, set me up on a plan" after denying the
        # debt, still disputes it.
        candidates.pop(ReplyIntent.PROMISE_TO_PAY, None)
        if candidates[ReplyIntent.DISPUTE] >= _STRONG:
            candidates.pop(ReplyIntent.PAYMENT_PLAN, None)
    if ReplyIntent.CALLBACK in candidates and any(
        s >= _STRONG for i, s in candidates.items() if i not in _META
    ):
        # "Call me, I want to set up payments": the call is the way, the plan the intent.
        candidates.pop(ReplyIntent.CALLBACK)
    if (
        when == local_day
        and ReplyIntent.PAY_NOW in candidates
        and ReplyIntent.PROMISE_TO_PAY in candidates
    ):
        candidates.pop(ReplyIntent.PROMISE_TO_PAY)
    intent = next(
        (i for i, floor in _PRECEDENCE_FLOOR.items() if candidates.get(i, 0.0) >= floor), None
    )
    if intent is None and candidates:
        best = max(candidates.values())
        intent = next(i for i in _ORDER if candidates.get(i) == best)
    if intent is None:
        return ReplyReading(intent=ReplyIntent.OTHER, confidence=0.4)
    top = scores[intent]
    runner_up = max((s for i, s in scores.items() if i is not intent), default=0.0)
    reading = ReplyReading(intent=intent, confidence=_confidence(top, runner_up))
    if intent is ReplyIntent.PROMISE_TO_PAY:
        return reading.model_copy(update={"promise_date": when, "promise_amount": amount})
    return reading


def read_reply(text: str) -> ReplyIntent:
    """The intent alone (what the campaign workflow acts on)."""
    return classify(text, _ANY_DAY).intent
