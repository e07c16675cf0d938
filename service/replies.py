"""Reading debtor replies outside a campaign (``recoup classify``): which reader, in batches.

``combined`` (the default) is the reader campaigns use: the shipped model under the rules'
precedence (``adapters.reply_reader``). ``rules`` is the first edition's rules alone
(``domain.replies.classify``), what campaigns that began before the reader activity still
run inside their workflow.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.replies import classify
from domain.replies.combined import Reader, ReplyText
from domain.replies.reading import ReadBy, ReadReply

__all__ = ["Reader", "ReplyText", "read"]


def read(replies: Sequence[ReplyText], reader: Reader = Reader.COMBINED) -> list[ReadReply]:
    """Each reply's reading, in order. A batch is read faster than one at a time."""
    if reader is Reader.RULES:
        return [
            ReadReply(reading=classify(r.text, r.received_at, r.channel), read_by=ReadBy.OFFLINE)
            for r in replies
        ]
    from adapters.reply_reader import read_texts  # loads the model: only when asked

    return read_texts(replies)
