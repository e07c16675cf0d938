"""The combined reading: the shipped model's probabilities, under the rules where the law is
at stake.

Precedence, in this order (docs/agents.md, "How a reply is read"):

1. ``attorney`` found by the rules (their cue floors, as ``domain.replies.classify`` applies
   them) stands: representation ends all contact and outranks a stop (unless a stop was
   found too and the model ranks it above attorney: a written refusal citing the FDCPA
   reads like a lawyer's letter).
2. ``stop`` found by the rules, or by the stop-family words (``domain.replies.stop_words``),
   stands: the model never lowers a stop. The model may raise a reply to ``stop`` or
   ``attorney`` on its own.
3. Otherwise the model's most probable intent, with its calibrated probability as the
   confidence and its second choice as ``runner_up``.

A ``promise_to_pay`` carries the first promised date and the first amount the reply names
(``domain.replies.promised``); other intents carry neither. Pure: the probabilities come in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from domain.channels import Channel
from domain.replies.cue_index import cue_scores_fast as cue_scores
from domain.replies.promised import amounts_in, dates_in
from domain.replies.reader import _PRECEDENCE_FLOOR as PRECEDENCE_FLOOR
from domain.replies.reader import ReplyIntent, ReplyReading, is_stop_keyword
from domain.replies.stop_words import is_cease_request, is_stop_request
from domain.replies.text import _QUOTE_START as QUOTE_START
from domain.replies.text import main_text, normalize

# When the rules keep the last word, the reading is as sure as the rules are: these are
# written for the law's words, and checked on every labelled set.
RULES_CONFIDENCE = 0.99
# Ties go to the first label in ``ReplyIntent``'s order.
_ORDER = {intent: n for n, intent in enumerate(ReplyIntent)}
# No reading is certain: a probability that rounds to 1 is reported as this.
MOST_SURE = 0.99


class Reader(StrEnum):
    """Which offline reader reads replies (``RECOUP_REPLY_READER``, ``classify --reader``)."""

    COMBINED = "combined"  # the shipped model under the rules' precedence (this module)
    RULES = "rules"  # the first edition's rules alone (``domain.replies.classify``)


@dataclass(frozen=True)
class ReplyText:
    """A reply to read: its text, when it came (with the sender's UTC offset), how."""

    text: str
    received_at: datetime
    channel: Channel | None = None


@dataclass(frozen=True)
class Signals:
    """What the reader works out once per reply, for the model and for the precedence."""

    own: str  # the debtor's own words (quoted thread removed)
    norm: str  # ``own`` folded (``domain.replies.text.normalize``)
    cues: Mapping[str, float]  # the rules' cue scores, by intent value
    law: ReplyIntent | None  # attorney or stop, as the rules find them (``rules_law``)
    stop_words: bool  # the stop-family words are there
    cease: bool  # a written request to cease all communication (``stop_words``)
    dates: tuple[date, ...]  # promised dates named, in order
    amounts: tuple[Decimal, ...]  # amounts named, in order
    today: date  # the sender's local date
    channel: Channel | None


# A phone's signature above the quoted message: ``main_text`` stops at it, and with nothing
# kept would fall back to the whole text, quote and all. The reply then says nothing.
_SIGNATURE_FIRST = re.compile(r"^\s*(?:sent from my|enviado desde mi)\s[^\n]*\n", re.IGNORECASE)


def own_words(text: str) -> str:
    """The debtor's own words; empty when the reply is only a quoted message."""
    text = _SIGNATURE_FIRST.sub("", text, count=1)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if QUOTE_START.match(first) or first.lstrip().startswith(">"):
        return ""
    return main_text(text)


def rules_law(own: str, cues: Mapping[str, float]) -> ReplyIntent | None:
    """Attorney or stop, decided as ``domain.replies.classify`` decides them: a STOP keyword
    alone, else the cue floors that let these two outrank every other intent."""
    if is_stop_keyword(own):
        return ReplyIntent.STOP
    for intent, floor in PRECEDENCE_FLOOR.items():
        if cues.get(intent.value, 0.0) >= floor:
            return intent
    return None


def signals_of(text: str, received_at: datetime, channel: Channel | None) -> Signals:
    own = own_words(text)
    norm = normalize(own)
    cues = cue_scores(norm)
    aware = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    today = aware.date()
    return Signals(
        own=own,
        norm=norm,
        cues=cues,
        law=rules_law(own, cues),
        # Each reader below is given the text normalized once (it was a third of the time).
        stop_words=is_stop_request(own, norm),
        cease=is_cease_request(own, norm),
        dates=tuple(dates_in(norm, today)),
        amounts=tuple(amounts_in(norm)),
        today=today,
        channel=channel,
    )


@dataclass(frozen=True)
class Combined:
    reading: ReplyReading
    runner_up: ReplyIntent | None
    by_rules: bool  # the rules kept the last word (precedence 1 or 2)
    cease: bool = False  # a stop written as a request to cease all communication


def combine(s: Signals, probabilities: Mapping[ReplyIntent, float]) -> Combined:
    ranked = sorted(probabilities.items(), key=lambda kv: (-kv[1], _ORDER[kv[0]]))
    top, p_top = ranked[0]
    law: ReplyIntent | None = None
    stop_found = s.law is ReplyIntent.STOP or s.stop_words
    if s.law is ReplyIntent.ATTORNEY:
        law = ReplyIntent.ATTORNEY
        if stop_found and probabilities.get(ReplyIntent.STOP, 0.0) > probabilities.get(
            ReplyIntent.ATTORNEY, 0.0
        ):
            # A written refusal citing the statute reads like a lawyer's letter to the rules;
            # both end contact, and the model, which has seen both, tells them apart.
            law = ReplyIntent.STOP
    elif top is not ReplyIntent.ATTORNEY and stop_found:
        # The model's attorney outranks a stop (it ends all contact); nothing else does.
        law = ReplyIntent.STOP
    if law is not None:
        runner = next((i for i, _ in ranked if i is not law), None)
        confidence = RULES_CONFIDENCE
        cease = law is ReplyIntent.STOP and s.cease
        return Combined(_reading(s, law, confidence), runner, by_rules=True, cease=cease)
    runner_up = ranked[1][0] if len(ranked) > 1 else None
    cease = top is ReplyIntent.STOP and s.cease
    return Combined(_reading(s, top, p_top), runner_up, by_rules=False, cease=cease)


def _reading(s: Signals, intent: ReplyIntent, confidence: float) -> ReplyReading:
    reading = ReplyReading(intent=intent, confidence=round(min(MOST_SURE, max(0.0, confidence)), 4))
    if intent is not ReplyIntent.PROMISE_TO_PAY:
        return reading
    return reading.model_copy(
        update={
            "promise_date": s.dates[0] if s.dates else None,
            "promise_amount": s.amounts[0] if s.amounts else None,
        }
    )
