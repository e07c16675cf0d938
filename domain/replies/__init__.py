"""Inbound replies: what a debtor's message says (intent, promised date and amount).

``reader`` is the offline, deterministic reader that runs inside workflows; ``cues``,
``dates`` and ``text`` are its intent cues, date/amount rules and text folding;
``reading`` holds the contract of a model-read reply (the activity's input and output)
and how a model's answer is held to the offline reader's conventions.
"""

from domain.replies.reader import (
    STOP_KEYWORDS,
    ReplyIntent,
    ReplyReading,
    classify,
    is_stop_keyword,
    read_reply,
)

__all__ = [
    "STOP_KEYWORDS",
    "ReplyIntent",
    "ReplyReading",
    "classify",
    "is_stop_keyword",
    "read_reply",
]
