"""How many parts an SMS is sent as (pure: the guardrail and the renderer both count)."""

from __future__ import annotations

import math

# GSM 03.38 default alphabet (without ESC) and the characters of its extension table.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS parts ``text`` is sent as (0 for an empty text).

    GSM-7 when every character is in the GSM 03.38 alphabet (160 septets in one part,
    153 per part of a concatenated message; extension characters take two septets and
    are never split); otherwise UCS-2 (70 UTF-16 units, 67 per part; a surrogate pair
    is never split).
    """
    if not text:
        return 0
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        costs = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        single, part = 160, 153
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, part = 70, 67
    if sum(costs) <= single:
        return 1
    if all(cost == 1 for cost in costs):
        return math.ceil(len(costs) / part)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return segments
