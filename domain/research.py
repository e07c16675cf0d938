"""The research agent's contract: the account's context before a touch, and its brief.

The context keeps the protocol seed's hierarchy, short-term to long-term:

- :class:`ConversationContext`: this thread, its last exchanges (the workflow fills it);
- :class:`CampaignContext`: the campaign's goal, where it is, its recent decisions
  (the workflow fills it);
- :class:`AccountContext`: the account's long-term history and preferences, across
  campaigns (the research activity builds it from the creditor's CRM record and the SQL
  read model).

From these, :func:`derive_facts` draws the structured facts handed on
(:class:`ResearchFacts`) and :func:`offline_brief` writes the short English brief
deterministically; with a language model configured, the activity has the model write
the brief from the same facts instead. Pure: no I/O, no clock, importable from workflows.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from domain.channels import Channel

BRIEF_MAX = 700
MAX_EXCHANGES = 6
MAX_DECISIONS = 5
MAX_NOTES = 3
NOTE_MAX = 120

Risk = Literal["low", "medium", "high"]
WrittenBy = Literal["offline", "model"]

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt": "Portuguese",
    "it": "Italian",
}

# Words in an inbound exchange (an intent label or the debtor's own words, English or
# Spanish) that make a dispute likely: the next agent must verify, not press for payment.
_DISPUTE_HINTS = re.compile(
    r"disput|not my debt|not mine|don'?t owe|do not owe|never (?:had|opened|owed)|"
    r"wrong person|identity theft|fraud|no es mi deuda|no es m[ií]a|no debo|disputo|"
    r"nunca (?:tuve|abr[ií])|fraude",
    re.IGNORECASE,
)
_HARDSHIP_HINTS = re.compile(
    r"hardship|lost my job|unemployed|laid off|can'?t afford|cannot afford|no income|"
    r"medical|hospital|perd[ií] (?:mi|el) (?:trabajo|empleo)|desemplead|no puedo pagar|"
    r"dificultad",
    re.IGNORECASE,
)


class Exchange(BaseModel):
    """One exchange of this thread, in a few words (never the whole message)."""

    at: datetime
    direction: Literal["out", "in"]
    channel: Channel
    what: str = Field(max_length=300, description="e.g. 'reminder sent', 'reply: dispute'.")


class ConversationContext(BaseModel):
    """Short-term: this thread, its last exchanges (at most ``MAX_EXCHANGES``)."""

    exchanges: list[Exchange] = Field(default_factory=list)


class CampaignContext(BaseModel):
    """Medium-term: the campaign's goal, where it stands, its recent decisions."""

    campaign_id: str
    playbook: str
    goal: str = "recover the balance"
    step: int
    steps: int
    decisions: list[str] = Field(default_factory=list, description="Recent, short, ≤ 5.")


class AccountContext(BaseModel):
    """Long-term: the creditor's CRM record and every earlier campaign's history."""

    crm_available: bool
    crm_found: bool = True  # False: the CRM answered, but has no record of the account
    preferred_channel: Channel | None = None
    preferred_time: str | None = None
    do_not_call: bool = False
    dispute_on_file: bool = False
    hardship_on_file: bool = False
    notes: list[str] = Field(default_factory=list)
    customer_since: date | None = None
    payments: int = 0
    total_paid: Decimal = Decimal(0)
    last_payment_at: datetime | None = None
    contacts: dict[Channel, int] = Field(default_factory=dict)
    reached: dict[Channel, int] = Field(default_factory=dict)
    replies: int = 0
    last_reply_intent: str | None = None
    promises_made: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    disputes: int = 0
    opt_outs: list[Channel] = Field(default_factory=list)


class ResearchRequest(BaseModel):
    """The research activity's input: the account, and the two shorter-term contexts."""

    tenant_id: str
    account_id: str
    language: str
    balance: Decimal
    currency: str
    days_past_due: int
    conversation: ConversationContext
    campaign: CampaignContext


class ResearchFacts(BaseModel):
    """The structured facts handed to the next agent with the brief."""

    account: AccountContext
    likely_dispute: bool
    hardship: bool
    best_channel: Channel | None
    risk: Risk


class ResearchBrief(BaseModel):
    """The research activity's result: the brief (English, short) and the facts behind it."""

    brief: str = Field(max_length=BRIEF_MAX)
    facts: ResearchFacts
    written_by: WrittenBy
    fallback: str | None = Field(
        default=None, description="Why the configured model did not write the brief."
    )


# -- facts ----------------------------------------------------------------------------------


def conversation_hints(conversation: ConversationContext, pattern: re.Pattern[str]) -> bool:
    """Whether something the debtor said in this thread matches ``pattern``."""
    return any(e.direction == "in" and pattern.search(e.what) for e in conversation.exchanges)


def best_channel(account: AccountContext) -> Channel | None:
    """The stated preference, else the channel that reached them most; never a barred one."""
    barred = set(account.opt_outs)
    if account.do_not_call:
        barred.add(Channel.PHONE)
    if account.preferred_channel is not None and account.preferred_channel not in barred:
        return account.preferred_channel
    order = list(Channel)
    candidates = [c for c in order if account.reached.get(c, 0) > 0 and c not in barred]
    if not candidates:
        return None
    # Ties go to the cheaper, less intrusive channel (email, then SMS, then phone).
    return max(candidates, key=lambda c: (account.reached.get(c, 0), -order.index(c)))


def risk_of(request: ResearchRequest, account: AccountContext) -> Risk:
    """How unlikely payment looks: broken promises and never reaching anyone are high."""
    contacted = sum(account.contacts.values())
    reached = sum(account.reached.values())
    silent = account.payments == 0 and account.replies == 0
    if (
        account.promises_broken >= 2
        or (contacted >= 3 and reached == 0)
        or (request.days_past_due >= 180 and silent and contacted > 0)
    ):
        return "high"
    if account.promises_broken == 0 and (account.payments > 0 or account.promises_kept > 0):
        return "low"
    return "medium"


def derive_facts(request: ResearchRequest, account: AccountContext) -> ResearchFacts:
    conversation = request.conversation
    likely_dispute = (
        account.dispute_on_file
        or account.disputes > 0
        or account.last_reply_intent == "dispute"
        or conversation_hints(conversation, _DISPUTE_HINTS)
    )
    hardship = (
        account.hardship_on_file
        or account.last_reply_intent == "hardship"
        or conversation_hints(conversation, _HARDSHIP_HINTS)
    )
    return ResearchFacts(
        account=account,
        likely_dispute=likely_dispute,
        hardship=hardship,
        best_channel=best_channel(account),
        risk=risk_of(request, account),
    )


# -- the offline brief ----------------------------------------------------------------------


def language_name(code: str) -> str:
    base = code.split("-")[0].lower()
    return LANGUAGE_NAMES.get(base, code)


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def offline_brief(request: ResearchRequest, account: AccountContext) -> ResearchBrief:
    """The brief written without a model: the same facts, always in English, ≤ 700 chars."""
    facts = derive_facts(request, account)
    return ResearchBrief(brief=write_brief(request, facts), facts=facts, written_by="offline")


def write_brief(request: ResearchRequest, facts: ResearchFacts) -> str:
    """Sentences by priority; the least important are dropped until the brief fits."""
    # (priority, sentence): lower is more important; output keeps this list's order.
    parts = [(p, s) for p, s in _sentences(request, facts) if s]
    while parts:
        text = " ".join(s for _, s in parts)
        if len(text) <= BRIEF_MAX:
            return text
        worst = max(p for p, _ in parts)
        index = max(i for i, (p, _) in enumerate(parts) if p == worst)
        del parts[index]
    return ""


def _sentences(request: ResearchRequest, facts: ResearchFacts) -> list[tuple[int, str]]:
    account = facts.account
    campaign = request.campaign
    language = language_name(request.language)
    head = (
        f"Owes {money(request.balance, request.currency)}, {request.days_past_due} days past"
        f" due; the debtor's language is {language}"
        + (" (write to them in it)." if request.language.split("-")[0].lower() != "en" else ".")
    )
    warnings = []
    if facts.likely_dispute:
        warnings.append("likely dispute: verify the debt before asking for payment")
    if facts.hardship:
        warnings.append("hardship: offer a plan, do not press")
    if account.do_not_call:
        warnings.append("do not call")
    if account.opt_outs:
        warnings.append("opted out of " + ", ".join(c.value for c in account.opt_outs))
    caution = ("Caution: " + "; ".join(warnings) + ".") if warnings else ""
    return [
        (0, head),
        (0, caution),
        (1, "" if account.crm_available else "CRM record unavailable: from past campaigns only."),
        (3, _profile(account)),
        (6, _notes(account)),
        (2, _history(request, account)),
        (4, _conversation(request.conversation)),
        (
            5,
            f"Campaign {campaign.playbook}, step {campaign.step} of {campaign.steps}:"
            f" {campaign.goal}.",
        ),
        (7, _decisions(campaign)),
        (1, _advice(facts)),
    ]


def _profile(account: AccountContext) -> str:
    if not account.crm_available:
        return ""
    if not account.crm_found:
        return "The CRM has no record of this account."
    bits = []
    if account.preferred_channel is not None:
        bits.append(f"prefers {account.preferred_channel.value}")
    if account.preferred_time:
        bits.append(f"best time {_clip(account.preferred_time, 40)}")
    if account.customer_since is not None:
        bits.append(f"customer since {account.customer_since.isoformat()}")
    if account.dispute_on_file:
        bits.append("dispute on file")
    if account.hardship_on_file:
        bits.append("hardship on file")
    return ("CRM: " + ", ".join(bits) + ".") if bits else ""


def _notes(account: AccountContext) -> str:
    notes = [_clip(n, NOTE_MAX) for n in account.notes[:MAX_NOTES] if n.strip()]
    return ("Notes: " + "; ".join(notes) + ".") if notes else ""


def _history(request: ResearchRequest, account: AccountContext) -> str:
    contacted = sum(account.contacts.values())
    bits = []
    if account.payments:
        paid = (
            f"{_count(account.payments, 'payment')}, {money(account.total_paid, request.currency)}"
        )
        if account.last_payment_at is not None:
            paid += f", last {account.last_payment_at.date().isoformat()}"
        bits.append(paid)
    else:
        bits.append("no payments")
    if contacted:
        by_channel = ", ".join(
            f"{c.value} {account.contacts[c]}/{account.reached.get(c, 0)}"
            for c in Channel
            if account.contacts.get(c)
        )
        bits.append(f"{_count(contacted, 'contact')} (attempts/reached: {by_channel})")
    else:
        bits.append("never contacted")
    if account.replies:
        last = f", last {account.last_reply_intent}" if account.last_reply_intent else ""
        bits.append(f"{_count(account.replies, 'reply', 'replies')}{last}")
    if account.promises_made:
        bits.append(
            f"promises {account.promises_made} made, {account.promises_kept} kept,"
            f" {account.promises_broken} broken"
        )
    if account.disputes:
        bits.append(_count(account.disputes, "dispute"))
    return "History: " + "; ".join(bits) + "."


def _conversation(conversation: ConversationContext) -> str:
    recent = conversation.exchanges[-2:]
    if not recent:
        return ""
    said = "; ".join(
        f"{e.at.date().isoformat()} {'we' if e.direction == 'out' else 'they'}"
        f" ({e.channel.value}): {_clip(e.what, 80)}"
        for e in recent
    )
    return f"This thread: {said}."


def _decisions(campaign: CampaignContext) -> str:
    recent = [_clip(d, 60) for d in campaign.decisions[-3:] if d.strip()]
    return ("Recent decisions: " + "; ".join(recent) + ".") if recent else ""


def _advice(facts: ResearchFacts) -> str:
    channel = facts.best_channel.value if facts.best_channel else "none known"
    return f"Best channel: {channel}. Risk: {facts.risk}."


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
