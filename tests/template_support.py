"""The message context the template tests render with, so that modules do not copy it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from domain.contact import MessageContext

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def message_context(**changes: object) -> MessageContext:
    """A debtor's context for rendering; ``changes`` replace any of its fields."""
    base = MessageContext(
        debtor_name="Maria Garcia",
        account_id="ACC-000123",
        creditor="Acme Health",
        collector="Recoup Collections",
        balance=Decimal("1234.50"),
        currency="USD",
        due_date=date(2024, 3, 1),
        days_past_due=120,
    )
    return base.model_copy(update=changes)
