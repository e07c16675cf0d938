"""What every channel agent does around its provider call.

Render the message (a template problem is permanent: retrying cannot fix it),
and once the provider accepted the contact, record it in the debt's ledger.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from activities.errors import template_failure
from activities.gate import record_contact
from adapters.contact_ledger import ContactLedger
from adapters.errors import TemplateError
from adapters.templates import RenderedMessage, TemplateRenderer
from domain.compliance.model import Decision
from domain.contact import ContactOutcome, ContactRequest


def render(renderer: TemplateRenderer, request: ContactRequest) -> RenderedMessage:
    try:
        return renderer.render(request.template, request.channel, request.language, request.message)
    except TemplateError as err:
        raise template_failure(err) from err


async def record_sent(
    ledger: ContactLedger, request: ContactRequest, decision: Decision, outcome: ContactOutcome
) -> datetime:
    """Record the contact at the moment the gate allowed it; return that moment."""
    sent_at = decision.earliest_allowed
    assert sent_at is not None  # an allowed decision carries its own moment
    await asyncio.to_thread(record_contact, ledger, request, outcome, sent_at)
    return sent_at
