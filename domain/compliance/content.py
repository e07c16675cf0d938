"""What a collection message and a playbook must (not) say, beyond the timing rules.

- Every email and SMS carries the debt-collector disclosure and the opt-out
  instruction (12 CFR 1006.18(e), 1006.6(e)): ``domain.disclosures`` has the texts.
- A time-barred debt is never met with a threat of suit (12 CFR 1006.26(b)).
- The validation notice goes out in the first communication or within five days
  of it (12 CFR 1006.34(a)(1)); in Recoup that is the ``first_notice`` template,
  sent by email or by letter (an SMS cannot carry the notice's required content).
"""

from __future__ import annotations

import re

from domain.channels import Channel
from domain.disclosures import missing_disclosures
from domain.playbook import Playbook

VALIDATION_NOTICE_TEMPLATE = "first_notice"
VALIDATION_NOTICE_DAYS = 5
# The channels that can carry the notice's prescribed content (its form, 1006.34(d)).
VALIDATION_NOTICE_CHANNELS = frozenset({Channel.EMAIL, Channel.LETTER})

# Words that threaten or describe legal action, in the languages templates ship in.
_LITIGATION = re.compile(
    r"\b(sue|sued|suing|lawsuit|legal action|court|judgment|judgement|garnish\w*|"
    r"demanda\w*|tribunal\w*|acci[oó]n legal|embargo\w*)\b",
    re.IGNORECASE,
)


def content_problems(channel: Channel, language: str, text: str, *, time_barred: bool) -> list[str]:
    """Problems with a rendered message; empty when it may be sent."""
    found = [f"missing required text: {t!r}" for t in missing_disclosures(channel, language, text)]
    if time_barred:
        match = _LITIGATION.search(text)
        if match:
            found.append(
                f"mentions legal action ({match.group(0)!r}) for a time-barred debt "
                "(12 CFR 1006.26(b))"
            )
    return found


def validation_notice_problems(playbook: Playbook) -> list[str]:
    """Whether the playbook sends the validation notice within 5 days of its first contact."""
    first_day = playbook.steps[0].day
    for step in playbook.steps:
        if step.day > first_day + VALIDATION_NOTICE_DAYS:
            break
        if (
            step.template == VALIDATION_NOTICE_TEMPLATE
            and step.channel in VALIDATION_NOTICE_CHANNELS
        ):
            return []
    return [
        f"no '{VALIDATION_NOTICE_TEMPLATE}' email or letter within {VALIDATION_NOTICE_DAYS} "
        f"days of the first contact (day {first_day}): the validation notice must go out in "
        "the first communication or within five days of it (12 CFR 1006.34(a)(1))"
    ]
