"""Helpers shared by tests, so that test modules do not import each other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History


def payloads_in(message: Message, skip: frozenset[str] = frozenset()) -> Iterator[Payload]:
    """Every ``Payload`` anywhere in ``message``, except under fields named in ``skip``."""
    for field, value in message.ListFields():
        if field.message_type is None or field.name in skip:
            continue
        if field.message_type.GetOptions().map_entry:
            value_type = field.message_type.fields_by_name["value"].message_type
            if value_type is None:
                continue
            items: list[Any] = list(value.values())
            element = value_type
        else:
            items = list(value) if field.is_repeated else [value]
            element = field.message_type
        for item in items:
            if element.full_name == Payload.DESCRIPTOR.full_name:
                yield item
            else:
                yield from payloads_in(item, skip)


NOT_CODEC = frozenset({"search_attributes", "header"})  # payloads no codec touches


def raw_history(events: Any) -> History:
    history = History()
    history.events.extend(events)
    return history
