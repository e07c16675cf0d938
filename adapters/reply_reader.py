"""The combined reply reader: the shipped model's probabilities under the rules' precedence.

``read_texts`` reads a batch (the model embeds a batch at once: ``recoup classify --in``);
``read_reply`` one (the reader activity). Offline, deterministic, no model service: the
weights ship with Recoup (``adapters/reply_model.npz``), and WordLlama's with its wheel.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.reply_model import LABELS, shipped
from domain.replies.combined import ReplyText, combine, signals_of
from domain.replies.reading import ReadBy, ReadReply, ReplyToRead


def read_texts(replies: Sequence[ReplyText]) -> list[ReadReply]:
    if not replies:
        return []
    signals = [signals_of(r.text, r.received_at, r.channel) for r in replies]
    probabilities = shipped().probabilities(signals)
    read = []
    for s, p in zip(signals, probabilities, strict=True):
        combined = combine(s, dict(zip(LABELS, (float(x) for x in p), strict=True)))
        read.append(
            ReadReply(
                reading=combined.reading,
                read_by=ReadBy.MODEL,
                runner_up=combined.runner_up,
                cease=combined.cease,
            )
        )
    return read


def read_reply(request: ReplyToRead) -> ReadReply:
    """One reply, as the reader activity reads it (never the debtor's name: none is given)."""
    return read_texts([ReplyText(request.text, request.received_at, request.channel)])[0]


def model_version() -> str:
    return shipped().version
