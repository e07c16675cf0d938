"""A first, deterministic reading of inbound replies.

It recognises what must never be missed (opt-out keywords, carrier-standard)
and the plainest promises to pay. Richer understanding replaces it later; the
labels are already the full set so callers need not change.
"""

from __future__ import annotations

import re
from enum import StrEnum


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

_PROMISE = re.compile(
    r"\b(i\s*(will|'ll|can)\s+pay|i\s+promise|pay(ing)?\s+(it\s+)?(on|by|next|this)|"
    r"pagar[éeé]|voy\s+a\s+pagar|prometo)\b",
    re.IGNORECASE,
)


def is_stop_keyword(text: str) -> bool:
    return text.strip().strip(".!").upper() in STOP_KEYWORDS


def read_reply(text: str) -> ReplyIntent:
    if is_stop_keyword(text):
        return ReplyIntent.STOP
    if _PROMISE.search(text):
        return ReplyIntent.PROMISE_TO_PAY
    return ReplyIntent.OTHER
