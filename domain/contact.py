"""Contact attempts: what an agent is asked to send, and what came of it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from domain.account import Money, PostalAddress, same_name
from domain.arrangements import ArrangementTerms
from domain.channels import Channel
from domain.compliance.model import ComplianceFacts, PastContact
from domain.events import ExportContext
from domain.next_action import ActionTrial
from domain.resilience import RetryRule
from domain.revocations import Revocation


class ContactOutcome(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    CONVERSATION = "conversation"
    SKIPPED = "skipped"

    @property
    def reached(self) -> bool:
        """Whether the message (or call) got to the debtor's side."""
        return self in {self.SENT, self.DELIVERED, self.VOICEMAIL, self.CONVERSATION}


class MessageContext(BaseModel):
    """What a template may say about the debt. Amounts are the live balance.

    ``creditor`` is whom the debt is owed to, ``collector`` who the debtor hears from.
    When they are the same company (``first_party``) the creditor is collecting its own
    debt, and a message says so instead of "X has asked X to collect".
    """

    debtor_name: str
    account_id: str
    creditor: str
    collector: str
    balance: Money
    currency: str
    due_date: date
    days_past_due: int
    time_barred: bool = False
    arrangement: ArrangementTerms | None = Field(
        default=None, description="Set for confirmations, reminders and corrections."
    )

    # Derived, never set: it cannot disagree with the two names. A computed field, so
    # templates see it (they get model_dump()); an older payload without it still loads.
    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def first_party(self) -> bool:
        """The creditor collects its own debt: the debtor hears from whom they owe."""
        return same_name(self.creditor, self.collector)


class ComplianceContext(BaseModel):
    """What the gate needs to re-check a contact at the moment it is sent."""

    facts: ComplianceFacts
    history: list[PastContact] = Field(default_factory=list)


class ContactRequest(BaseModel):
    """The single input of every channel activity (email, SMS, phone, letter)."""

    attempt_id: str = Field(description="Deterministic: workflow id + step + channel.")
    tenant_id: str
    account_id: str
    channel: Channel
    to: str = Field(description="Email, E.164 number, or a letter's address on one line.")
    postal: PostalAddress | None = Field(
        default=None, description="A letter's recipient; set only for the letter channel."
    )
    template: str
    language: str = "en"
    message: MessageContext
    compliance: ComplianceContext
    retry: RetryRule | None = Field(
        default=None, description="The channel's retry schedule; None: the seed's."
    )
    export: ExportContext | None = Field(
        default=None, description="Records the agent exports with its outcome (one activity)."
    )
    brief: str | None = Field(
        default=None, max_length=700, description="The research agent's brief, for the composer."
    )
    model_may_write: bool = Field(
        default=True,
        description="False once the supervisor ruled templates only for this account.",
    )
    trial: ActionTrial | None = Field(
        default=None,
        description="Under the adaptive policy: the trial the agent opens when the contact "
        "goes out (it counts for the arm until its outcome is recorded).",
    )


class ContactResult(BaseModel):
    outcome: ContactOutcome
    provider_ref: str | None = None
    detail: str | None = None
    sent_at: datetime | None = Field(default=None, description="When the gate passed it.")
    ruleset: str | None = None
    composed_by: str | None = Field(
        default=None, description="Who wrote the message: 'llm' or 'template'."
    )
    compose_fallback: str | None = Field(
        default=None, description="Why the template was sent instead of the model's text."
    )
    compose_disagreement: bool = Field(
        default=False,
        description="The model's draft failed the guardrail twice (a redraft included): "
        "the composer and the guardrail disagree, the supervisor should rule.",
    )
    handed_at: datetime | None = Field(
        default=None, description="When the agent handed the message (or call) to the provider."
    )
    revocations: list[Revocation] = Field(
        default_factory=list,
        description="The stored revocations in force that the send-time check decided with.",
    )
    after_revocation: list[Revocation] = Field(
        default_factory=list,
        description="Revocations received before the hand-over that the check had not seen "
        "(they arrived in the gap): the message went out after them, and says so.",
    )


class ContactAttempt(BaseModel):
    """One attempt in a campaign's history (kept small: no message bodies)."""

    attempt_id: str
    step_id: str
    channel: Channel
    to: str | None = None
    at: datetime
    outcome: ContactOutcome
    provider_ref: str | None = None
    detail: str | None = None


def format_amount(amount: Decimal, currency: str) -> str:
    """``1234.5, 'USD'`` → ``'1,234.50 USD'``; deterministic and locale-free."""
    return f"{amount:,.2f} {currency}"
