"""How a campaign chooses the channel and the moment of each touch.

``fixed`` follows the playbook as written (its channel, on its day, as soon as the
compliance gate allows): the baseline. ``adaptive`` keeps the playbook's days but
lets the next-best-action agent choose, per account segment, the channel and the
local time of day that have worked best so far (``domain.next_action``), always
within what consent and the compliance gate allow.
"""

from __future__ import annotations

from enum import StrEnum


class ContactPolicy(StrEnum):
    FIXED = "fixed"
    ADAPTIVE = "adaptive"
