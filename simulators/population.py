"""Debtor populations: segments of simulated debtors that react to the contacts they get.

A population file (YAML, format in ``docs/populations.md``) describes segments of a
portfolio: how large each is, what they owe, which language they speak, what they
consented to, and how they react — which channel and which local time of day gets
a reaction at all, and whether that reaction is a payment (full or partial), a
promise to pay (kept or not), a dispute, an opt-out (``STOP``) or a question.

:func:`generate_debtors` makes a portfolio from a population (names, regions and
fictional numbers come from :func:`simulators.debtors.sample_portfolio_rows`), and
:class:`PopulationDebtors` decides, for every contact that reached a debtor, what
the debtor does. Every draw comes from a ``random.Random`` seeded with a stable hash
of (seed, account, contact number), as in :mod:`simulators.debtors`, so the same
seed and the same contacts give the same reactions in any process.

When reactions land: simulated time
------------------------------------
``recoup simulate`` runs the real workflows on Temporal's time-skipping test server,
which jumps the clock to the next timer whenever nothing is outstanding. A reaction
sent "a moment later" from an asyncio task could land after days were skipped, so
runs would not be reproducible. Two rules make every reaction land at a defined
simulated instant:

1. The debtor reacts *while the contact's activity is still in flight*. The SMTP
   simulator awaits its listeners before it answers ``250`` to DATA, the SMS/voice
   simulator awaits message listeners before it answers ``201`` and answer
   listeners (``TwilioSimulator.on_answer``) before the call can complete. The
   test server never skips time while an activity is outstanding, so the contact's
   moment read from the server's clock (``WorkflowEnvironment.get_current_time``)
   is the moment the debtor got it.
2. What the debtor does later (a reply minutes or hours after, a payment on the
   promised date) is carried out by a small simulator-only workflow,
   :class:`DebtorActionsWorkflow`, started from that listener (so still before the
   activity completes). It sleeps (``workflow.sleep``) until each action's instant
   on the simulated clock and then signals the account's campaign workflow by external
   handle (``names.SIGNAL_PAYMENT`` / ``names.SIGNAL_REPLY``; after a dispute, the
   simulated back office's ``verification_sent`` on ``names.SIGNAL_LEGAL``, without
   which a disputed campaign would wait forever). A campaign that has already
   finished simply does not get the late action.

Unlike the other simulators this module imports ``temporalio``: its two workflows
(:class:`DebtorActionsWorkflow`, and :class:`AdvanceClockWorkflow`, which moves the
simulated clock to the start of a run) are simulator-only and are registered by
``recoup simulate`` alone.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from temporalio import workflow
from temporalio.exceptions import FailureError

from domain import names
from domain.account import Account, CurrencyCode, EmailContact, LanguageCode, PhoneContact
from domain.campaign import InboundReply, OptOutRequest, PaymentReceived, account_workflow_id
from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.facts import LegalEvent, LegalEventKind, LegalHolds, facts_for
from domain.compliance.model import PastContact, ProposedContact
from domain.replies.combined import own_words
from domain.replies.promised import find_date
from simulators.debtors import sample_portfolio_rows
from simulators.smtp import ReceivedMail
from simulators.twilio import SimulatedCall, SimulatedMessage

_CENT = Decimal("0.01")
Probability = Annotated[float, Field(ge=0, le=1)]


class PopulationError(ValueError):
    """A population file that cannot be used; the message names the file and the field."""


# --- the file format ----------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BalanceRange(_Strict):
    """What a debtor of the segment owes, drawn uniformly between ``min`` and ``max``."""

    min: Decimal = Field(gt=0, max_digits=15, decimal_places=2)
    max: Decimal = Field(gt=0, max_digits=15, decimal_places=2)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Consent(_Strict):
    """Probability that a debtor's number has SMS / voice consent (TCPA)."""

    sms: Probability
    voice: Probability


class ChannelResponse(_Strict):
    """Probability that a delivered contact on the channel gets any reaction."""

    email: Probability
    sms: Probability
    phone: Probability
    # Populations written before letters say nothing of them: nobody reacts to one.
    letter: Probability = 0.0

    def of(self, channel: Channel) -> float:
        value: float = getattr(self, channel.value)
        return value


class HourWindow(StrEnum):
    """Windows of the debtor's local day (calling hours are 08:00-21:00)."""

    MORNING = "morning"  # 08-11
    MIDDAY = "midday"  # 11-14
    AFTERNOON = "afternoon"  # 14-17
    EVENING = "evening"  # 17-21


_WINDOW_STARTS = (
    (time(8), HourWindow.MORNING),
    (time(11), HourWindow.MIDDAY),
    (time(14), HourWindow.AFTERNOON),
    (time(17), HourWindow.EVENING),
)
_DAY_END = time(21)
_DAY = timedelta(days=1)


def window_of(local: time) -> HourWindow | None:
    """The window a local time of day falls in; None before 08:00 or from 21:00."""
    if local < _WINDOW_STARTS[0][0] or local >= _DAY_END:
        return None
    found = _WINDOW_STARTS[0][1]
    for start, window in _WINDOW_STARTS:
        if local >= start:
            found = window
    return found


class Hours(_Strict):
    """Multipliers of the channel responsiveness by the debtor's local time of day."""

    morning: float = Field(ge=0)
    midday: float = Field(ge=0)
    afternoon: float = Field(ge=0)
    evening: float = Field(ge=0)

    def of(self, window: HourWindow) -> float:
        value: float = getattr(self, window.value)
        return value


class Fatigue(_Strict):
    """Contact fatigue: each contact that reached the debtor in the last ``days`` days
    (fewer than ``days`` whole days before) multiplies the chance of any reaction to the
    next one by ``1 - per_contact``."""

    per_contact: Probability = 0.0
    days: int = Field(default=7, ge=1, le=60)

    def factor(self, recent: int) -> float:
        return float((1.0 - self.per_contact) ** recent)


class Pressure(_Strict):
    """Opt-outs and complaints that being contacted too often or at bad times provokes,
    whether or not the debtor would otherwise have reacted at all.

    Before any other reaction, a contact makes the debtor opt out with probability
    ``per_contact`` for each contact beyond ``tolerated`` in the last ``days`` days
    (this one included), plus ``bad_timing`` times how much the debtor dislikes the
    hour (``1 - hours`` multiplier, for windows below 1). ``complaint_share`` of every
    opt-out, provoked or a reaction, is a complaint (a spam report) instead.
    """

    tolerated: int = Field(default=2, ge=0, le=50)
    per_contact: Probability = 0.0
    bad_timing: Probability = 0.0
    days: int = Field(default=7, ge=1, le=60)
    complaint_share: Probability = 0.0

    def chance(self, recent: int, hours: float) -> float:
        crowding = self.per_contact * max(0, recent - self.tolerated)
        timing = self.bad_timing * max(0.0, 1.0 - hours)
        return min(1.0, crowding + timing)


class Content(_Strict):
    """How what a message says changes the share of reactions that are payments
    (multipliers of ``propensity_to_pay``; the extra comes from the questions)."""

    payment_link: float = Field(default=1.0, ge=0, le=10)
    settlement_offer: float = Field(default=1.0, ge=0, le=10)


class Segment(_Strict):
    """One kind of debtor; see ``docs/populations.md`` for every field."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    share: float = Field(gt=0, description="Relative size (the shares are normalised).")
    balance: BalanceRange
    currency: CurrencyCode = "USD"
    language: dict[LanguageCode, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"en": 1.0},
        description="Relative weights of the debtors' languages (templates exist for en, es).",
    )
    consent: Consent
    channels: ChannelResponse
    hours: Hours
    propensity_to_pay: Probability = Field(description="Share of reactions that are a payment.")
    partial_share: Probability = Field(
        default=0.0, description="Share of payments that pay 30-60 % of what is left."
    )
    promise_rate: Probability = Field(description="Share of reactions that promise to pay.")
    promise_keeping: Probability = Field(
        description="Probability a promise is kept: paid in full on the promised day."
    )
    opt_out_rate: Probability = Field(description="Share of reactions that reply STOP.")
    dispute_rate: Probability = Field(description="Share of reactions that dispute the debt.")
    # How debtors behave like people (docs/populations.md); the defaults change nothing.
    fatigue: Fatigue = Field(default_factory=Fatigue)
    pressure: Pressure = Field(default_factory=Pressure)
    language_mismatch: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Multiplier of the chance of any reaction to a message not in the "
        "debtor's language.",
    )
    content: Content = Field(default_factory=Content)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.language or sum(self.language.values()) <= 0:
            raise ValueError("language needs at least one language with a positive weight")
        shares = self.propensity_to_pay + self.promise_rate + self.opt_out_rate + self.dispute_rate
        if shares > 1 + 1e-9:
            raise ValueError(
                "propensity_to_pay + promise_rate + opt_out_rate + dispute_rate is "
                f"{shares:g}; they are shares of the reactions and must not exceed 1 "
                "(the rest are questions)"
            )
        return self

    def reaction_probability(self, channel: Channel, local: time) -> float:
        return min(1.0, self.channels.of(channel) * self.hours_factor(local))

    def hours_factor(self, local: time) -> float:
        """The multiplier of the window ``local`` falls in; 0 outside calling hours."""
        window = window_of(local)
        return 0.0 if window is None else self.hours.of(window)


class Population(_Strict):
    """A named mix of segments."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    segments: list[Segment] = Field(min_length=1)

    @model_validator(mode="after")
    def _segments(self) -> Self:
        seen: set[str] = set()
        for segment in self.segments:
            if segment.name in seen:
                raise ValueError(f"segment name {segment.name!r} is used twice")
            seen.add(segment.name)
        currencies = {s.currency for s in self.segments}
        if len(currencies) > 1:
            raise ValueError(
                f"all segments must use one currency (got {', '.join(sorted(currencies))}): "
                "recovery is summed over the portfolio"
            )
        return self

    @property
    def currency(self) -> str:
        return self.segments[0].currency

    def segment(self, name: str) -> Segment:
        for segment in self.segments:
            if segment.name == name:
                return segment
        raise KeyError(name)

    @classmethod
    def load(cls, path: Path) -> Population:
        """Read and validate ``path``; a :class:`PopulationError` names the bad field."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PopulationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise PopulationError(f"{path}: not valid YAML: {exc}") from exc
        return cls.parse(data, source=str(path))

    @classmethod
    def parse(cls, data: object, *, source: str = "population") -> Population:
        if not isinstance(data, dict):
            raise PopulationError(f"{source}: expected a mapping with name and segments")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{_location(err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
            )
            raise PopulationError(f"{source}: {problems}") from exc


def population_json_schema() -> str:
    """The JSON Schema of a population file (for ``docs/population.schema.json``)."""
    schema: dict[str, object] = {
        **Population.model_json_schema(),
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Recoup debtor population",
        "description": "Segments of simulated debtors for `recoup simulate`. "
        "See docs/populations.md.",
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- the portfolio --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimulatedDebtor:
    """An account of the generated portfolio and the segment its debtor belongs to."""

    account: Account
    segment: str


def generate_debtors(
    population: Population, n: int, *, seed: int, as_of: date
) -> list[SimulatedDebtor]:
    """``n`` accounts drawn from ``population`` (segment by share), reproducible by seed.

    Names, states, time zones and fictional contact points are those of
    :func:`simulators.debtors.sample_portfolio_rows`; the segment sets the balance,
    the language and the consents. Phone numbers and email addresses are made unique
    (within the same area code / domain) so every delivery reaches exactly one debtor.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    rows = sample_portfolio_rows(n, seed=seed, as_of=as_of)
    weights = [s.share for s in population.segments]
    phones: set[str] = set()
    emails: set[str] = set()
    debtors = []
    for i, row in enumerate(rows):
        rng = _rng(seed, "population", population.name, i)
        segment = rng.choices(population.segments, weights)[0]
        low, high = int(segment.balance.min * 100), int(segment.balance.max * 100)
        amount = Decimal(rng.randint(low, high)) / 100
        languages = list(segment.language)
        language = rng.choices(languages, [segment.language[k] for k in languages])[0]
        phone = _unique_phone(row["phone"], phones, rng)
        email = _unique_email(row["email"], emails)
        due = date.fromisoformat(row["due_date"])
        account = Account(
            account_id=row["account_id"],
            debtor_name=row["name"],
            emails=[EmailContact(address=email)],
            phones=[
                PhoneContact(
                    number=phone,
                    sms_consent=rng.random() < segment.consent.sms,
                    voice_consent=rng.random() < segment.consent.voice,
                )
            ],
            amount_due=amount.quantize(_CENT),
            currency=segment.currency,
            due_date=due,
            days_past_due=max(0, (as_of - due).days),
            timezones=[row["timezone"]],
            state=row["state"],
            language=language,
        )
        debtors.append(SimulatedDebtor(account=account, segment=segment.name))
    return debtors


def generate_accounts(population: Population, n: int, *, seed: int, as_of: date) -> list[Account]:
    """The accounts of :func:`generate_debtors`, without their segments."""
    return [d.account for d in generate_debtors(population, n, seed=seed, as_of=as_of)]


def _unique_phone(number: str, used: set[str], rng: random.Random) -> str:
    # Fictional numbers: +1 AAA 555 01XX. Another XX of the same area code when taken.
    prefix = number[:-2]
    candidate = number
    for _ in range(400):
        if candidate not in used:
            break
        candidate = f"{prefix}{rng.randint(0, 99):02d}"
    else:
        raise ValueError(f"no unused fictional number left in {prefix}XX")
    used.add(candidate)
    return candidate


def _unique_email(address: str, used: set[str]) -> str:
    local, _, domain = address.partition("@")
    candidate, k = address, 1
    while candidate.lower() in used:
        k += 1
        candidate = f"{local}.{k}@{domain}"
    used.add(candidate.lower())
    return candidate


# --- reactions --------------------------------------------------------------------


class ReactionKind(StrEnum):
    PAY = "pay"
    PROMISE = "promise"
    DISPUTE = "dispute"
    OPT_OUT = "opt_out"
    COMPLAINT = "complaint"  # an opt-out that is also a complaint (a spam report)
    QUESTION = "question"


@dataclass(frozen=True, slots=True)
class MessageTraits:
    """What a delivered message says, as far as a debtor's reaction depends on it."""

    language: str | None = None  # "en" or "es"; None when the text does not tell
    payment_link: bool = False
    settlement_offer: bool = False


# Words common in one language's collection messages and absent from the other's.
# fmt: off
_ES_WORDS = frozenset({
    "su", "sus", "usted", "cuenta", "saldo", "pago", "pagos", "pagar", "deuda", "para",
    "por", "con", "del", "que", "le", "la", "el", "los", "las", "es", "gracias",
    "responda", "atentamente", "estimado", "estimada",
})
_EN_WORDS = frozenset({
    "your", "you", "account", "balance", "payment", "pay", "debt", "the", "for", "with",
    "reply", "thank", "dear", "sincerely", "is", "of", "to", "and",
})
# fmt: on
_WORD = re.compile(r"[a-záéíóúñü]+")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_PAY_URL = re.compile(r"pay|stripe|checkout", re.IGNORECASE)
_OFFER = re.compile(
    r"\b(?:in full settlement|settlement (?:offer|of)|settle (?:it |this |the balance |your "
    r"account )?for|discount|reduced (?:amount|balance|payoff)|liquidaci[oó]n|descuento)\b"
    r"|\d\s?% off",
    re.IGNORECASE,
)


def traits_of(text: str, *, language: str | None = None) -> MessageTraits:
    """Read what a message offers and, unless ``language`` says it, which language it is in.

    The language is the one whose common words outnumber the other's; a link is a
    payment link when its address names a payment page (``pay``, ``stripe``,
    ``checkout``); an offer is a settlement or a discount, not "help you settle this".
    """
    if language is None:
        words = _WORD.findall(text.lower())
        es = sum(w in _ES_WORDS for w in words)
        en = sum(w in _EN_WORDS for w in words)
        language = "es" if es > en else "en" if en > es else None
    link = any(_PAY_URL.search(url) for url in _URL.findall(text))
    return MessageTraits(language, link, _OFFER.search(text) is not None)


class DebtorAction(BaseModel):
    """One signal to an account's campaign at a simulated instant.

    A payment or a reply of the debtor, or (after a dispute) the collector's back
    office mailing the verification (``LegalEvent`` ``verification_sent``).
    """

    at: datetime
    payment: PaymentReceived | None = None
    reply: InboundReply | None = None
    legal: LegalEvent | None = None
    # A complaint: the provider's spam report, which reaches a campaign as an opt-out.
    opt_out: OptOutRequest | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        made = (self.payment, self.reply, self.legal, self.opt_out)
        if sum(x is not None for x in made) != 1:
            raise ValueError("an action is one payment, one reply, one legal event or one opt-out")
        return self


class DebtorPlan(BaseModel):
    """What one debtor does after one contact (the input of ``DebtorActionsWorkflow``)."""

    plan_id: str = Field(description="The simulator workflow's id (one per reaction).")
    workflow_id: str = Field(description="The account campaign the actions signal.")
    actions: list[DebtorAction]


@dataclass(frozen=True, slots=True)
class Reaction:
    """A debtor's reaction to its ``contact``-th contact, and the signals it makes."""

    account_id: str
    contact: int
    channel: Channel
    kind: ReactionKind
    actions: tuple[DebtorAction, ...]
    amount: Decimal = Decimal(0)  # paid now, or promised and to be paid (when kept)
    kept: bool | None = None  # for a promise


_PROMISES = {
    "en": (
        "I will pay on Friday.",
        "I'll pay next week, when I get paid.",
        "I will pay the balance by the end of the month.",
        "I can pay on the 15th.",
    ),
    "es": (
        "Voy a pagar el viernes.",
        "Voy a pagar la próxima semana, cuando cobre.",
        "Pagaré el saldo a fin de mes.",
    ),
}
_DISPUTES = {
    "en": (
        "I dispute this debt, send me verification.",
        "This is not my debt. I dispute it, please send verification.",
    ),
    "es": ("Disputo esta deuda, envíenme la verificación.",),
}
_QUESTIONS = {
    "en": (
        "Who was the original creditor for this account?",
        "Can you send me the details of this debt?",
        "What is this debt for?",
    ),
    "es": ("¿Quién era el acreedor original de esta cuenta?",),
}
STOP_TEXT = "STOP"
# What a provider reports for a complaint; "spam" makes the campaign count it as one.
_COMPLAINTS = {
    Channel.EMAIL: "spam complaint",
    Channel.SMS: "spam report to the carrier",
    Channel.PHONE: "complaint on the call: do not call",
    Channel.LETTER: "complaint about the letter",
}
# A dispute holds collection until verification is mailed (12 CFR 1006.38(d)); the
# simulated back office mails it this long after the dispute arrives.
VERIFICATION_DELAY = timedelta(days=5)


@dataclass(slots=True)
class _Ledger:
    contacts: int = 0
    reached: list[datetime] = field(default_factory=list)  # when each contact reached it
    paid: Decimal = Decimal(0)  # paid, or promised and going to be paid
    opted_out: set[Channel] = field(default_factory=set)
    disputed: bool = False
    reactions: Counter[ReactionKind] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class BarredSince:
    """From ``at`` on, contacting this debtor on ``channel`` (None: at all) breaks the rules."""

    account_id: str
    channel: Channel | None
    address: str | None
    at: datetime
    why: str
    until: datetime | None = None


class PopulationDebtors:
    """The debtors of one generated portfolio, reacting to what they receive.

    :meth:`react` is the whole behaviour and is synchronous and pure apart from the
    per-debtor ledger (what was paid or promised, opt-outs, a dispute). The
    ``on_mail``/``on_sms``/``on_answer`` hooks find the debtor a delivery reached,
    read the simulated clock and hand the reaction's actions to ``dispatch``.
    """

    def __init__(
        self,
        population: Population,
        debtors: Sequence[SimulatedDebtor],
        *,
        seed: int,
        tenant_id: str = "sim",
    ) -> None:
        self._population = population
        self._seed = seed
        self._tenant_id = tenant_id
        self._accounts = {d.account.account_id: d.account for d in debtors}
        self._segments = {d.account.account_id: population.segment(d.segment) for d in debtors}
        self._by_email = {e.address.lower(): d.account for d in debtors for e in d.account.emails}
        self._by_phone = {p.number: d.account for d in debtors for p in d.account.phones}
        self._ledgers: dict[str, _Ledger] = {}
        self._lock = threading.Lock()
        self.delivered: Counter[Channel] = Counter()
        self.barred: list[BarredSince] = []

    # -- behaviour ---------------------------------------------------------------

    def segment_of(self, account_id: str) -> Segment:
        return self._segments[account_id]

    def reactions_of(self, account_ids: Iterable[str]) -> Counter[ReactionKind]:
        """The reactions of these debtors (a run's measured accounts, not its warm-up)."""
        with self._lock:
            total: Counter[ReactionKind] = Counter()
            for account_id in account_ids:
                ledger = self._ledgers.get(account_id)
                if ledger is not None:
                    total.update(ledger.reactions)
            return total

    def react(
        self,
        account_id: str,
        channel: Channel,
        at: datetime,
        message: MessageTraits | None = None,
    ) -> Reaction | None:
        """The reaction to the next contact that reached ``account_id``, made at ``at``.

        ``message`` is what the contact said (its language, a payment link, an offer);
        without it the message is taken to be in the debtor's language and to offer
        nothing.
        """
        with self._lock:
            ledger = self._ledgers.setdefault(account_id, _Ledger())
            ledger.contacts += 1
            ledger.reached.append(at)
            n = ledger.contacts
            reaction = self._decide(account_id, channel, at, n, ledger, message or MessageTraits())
            if reaction is not None:
                ledger.reactions[reaction.kind] += 1
                ledger.paid += reaction.amount
                if reaction.kind in (ReactionKind.OPT_OUT, ReactionKind.COMPLAINT):
                    ledger.opted_out.add(reaction.channel)
                    first = reaction.actions[0]
                    if first.reply is not None:
                        address, why = first.reply.from_address, "opted out (STOP)"
                    else:
                        assert first.opt_out is not None
                        address, why = first.opt_out.address, "complained (spam report)"
                    self.barred.append(
                        BarredSince(account_id, reaction.channel, address, first.at, why)
                    )
                elif reaction.kind is ReactionKind.DISPUTE:
                    ledger.disputed = True
                    opened, verified = reaction.actions[0].at, reaction.actions[-1].at
                    self.barred.append(
                        BarredSince(account_id, None, None, opened, "disputed", until=verified)
                    )
            return reaction

    def _decide(
        self,
        account_id: str,
        channel: Channel,
        at: datetime,
        n: int,
        ledger: _Ledger,
        message: MessageTraits,
    ) -> Reaction | None:
        account = self._accounts[account_id]
        segment = self._segments[account_id]
        remaining = account.amount_due - ledger.paid
        if remaining <= 0 or ledger.disputed or channel in ledger.opted_out:
            return None
        local = at.astimezone(_zone(account)).time()
        address = self._address(account, channel)
        ref = f"sim-{account_id}-{n}"
        # Pressure first, from a generator of its own: with none set, every draw below
        # is the one a population without it makes.
        pressured = segment.pressure.chance(
            _recent(ledger.reached, at, segment.pressure.days), segment.hours_factor(local)
        )
        if pressured > 0 and _rng(self._seed, "pressure", account_id, n).random() < pressured:
            at_once = at + timedelta(
                minutes=_rng(self._seed, "pressed", account_id, n).randint(1, 30)
            )
            return self._opt_out(account, segment, channel, address, ref, n, at_once)
        rng = _rng(self._seed, "contact", account_id, n)
        chance = segment.reaction_probability(channel, local)
        # Earlier contacts in the fatigue window (not this one) tire the debtor.
        chance *= segment.fatigue.factor(_recent(ledger.reached, at, segment.fatigue.days) - 1)
        if message.language is not None and message.language != account.language:
            chance *= segment.language_mismatch
        if rng.random() >= chance:
            return None
        lang = "es" if account.language == "es" else "en"
        # Replies come back on the channel that reached the debtor (for a call: what the
        # debtor said on it), a few minutes to a few hours later.
        reply_at = at + timedelta(minutes=rng.randint(3, 180))
        kind = self._kind(segment, rng.random(), _pay_boost(segment.content, message))

        def reply(text: str, when: datetime = reply_at) -> DebtorAction:
            return _reply(ref, channel, address, text, when)

        def pay(amount: Decimal, when: datetime) -> DebtorAction:
            return DebtorAction(
                at=when,
                payment=PaymentReceived(
                    payment_id=f"{ref}-pay",
                    amount=amount,
                    currency=account.currency,
                    paid_at=when,
                    source="population-simulator",
                ),
            )

        match kind:
            case ReactionKind.PAY:
                amount = remaining
                if rng.random() < segment.partial_share:
                    part = remaining * Decimal(str(rng.uniform(0.3, 0.6)))
                    amount = min(max(part.quantize(_CENT, ROUND_HALF_UP), _CENT), remaining)
                return Reaction(
                    account_id, n, channel, kind, (pay(amount, reply_at),), amount=amount
                )
            case ReactionKind.PROMISE:
                text = rng.choice(_PROMISES[lang])
                kept = rng.random() < segment.promise_keeping
                actions = [reply(text)]
                if kept:
                    actions.append(pay(remaining, self._promised_moment(account, text, reply_at)))
                return Reaction(
                    account_id,
                    n,
                    channel,
                    kind,
                    tuple(actions),
                    amount=remaining if kept else Decimal(0),
                    kept=kept,
                )
            case ReactionKind.DISPUTE:
                verification = DebtorAction(
                    at=reply_at + VERIFICATION_DELAY,
                    legal=LegalEvent(
                        kind=LegalEventKind.VERIFICATION_SENT,
                        note="verification mailed (simulated back office)",
                        received_at=reply_at + VERIFICATION_DELAY,
                    ),
                )
                text = rng.choice(_DISPUTES[lang])
                return Reaction(account_id, n, channel, kind, (reply(text), verification))
            case ReactionKind.OPT_OUT:
                return self._opt_out(account, segment, channel, address, ref, n, reply_at)
            case ReactionKind.QUESTION:
                return Reaction(
                    account_id, n, channel, kind, (reply(rng.choice(_QUESTIONS[lang])),)
                )
        raise AssertionError(kind)

    def _opt_out(
        self,
        account: Account,
        segment: Segment,
        channel: Channel,
        address: str | None,
        ref: str,
        n: int,
        when: datetime,
    ) -> Reaction:
        """A ``STOP`` reply, or (``complaint_share`` of the time) the provider's spam report."""
        account_id = account.account_id
        share = segment.pressure.complaint_share
        if share > 0 and _rng(self._seed, "complaint", account_id, n).random() < share:
            request = OptOutRequest(channel=channel, address=address, reason=_COMPLAINTS[channel])
            action = DebtorAction(at=when, opt_out=request)
            return Reaction(account_id, n, channel, ReactionKind.COMPLAINT, (action,))
        stop = _reply(ref, channel, address, STOP_TEXT, when)
        return Reaction(account_id, n, channel, ReactionKind.OPT_OUT, (stop,))

    @staticmethod
    def _kind(segment: Segment, draw: float, pay_boost: float = 1.0) -> ReactionKind:
        others = segment.promise_rate + segment.dispute_rate + segment.opt_out_rate
        # A boost takes from the questions (never from the other reactions); a cut
        # leaves more questions.
        pay = min(segment.propensity_to_pay * pay_boost, max(segment.propensity_to_pay, 1 - others))
        bound = 0.0
        for kind, share in (
            (ReactionKind.PAY, pay),
            (ReactionKind.PROMISE, segment.promise_rate),
            (ReactionKind.DISPUTE, segment.dispute_rate),
            (ReactionKind.OPT_OUT, segment.opt_out_rate),
        ):
            bound += share
            if draw < bound:
                return kind
        return ReactionKind.QUESTION

    @staticmethod
    def _promised_moment(account: Account, text: str, replied: datetime) -> datetime:
        """Mid-day (debtor's time) of the date the reply reader reads in the promise."""
        zone = _zone(account)
        # The date as campaigns read it (the combined reader's dates, ``domain.replies.promised``).
        promised = find_date(own_words(text), replied.astimezone(zone).date())
        if promised is None:  # the texts all carry a date; be safe anyway
            return replied + timedelta(days=2)
        noon = datetime.combine(promised, time(12), zone)
        return max(noon, replied + timedelta(hours=1))

    @staticmethod
    def _address(account: Account, channel: Channel) -> str | None:
        if channel is Channel.EMAIL:
            return account.emails[0].address if account.emails else None
        return account.phones[0].number if account.phones else None

    # -- delivery hooks -------------------------------------------------------------

    def bind(
        self,
        clock: Callable[[], Awaitable[datetime]],
        dispatch: Callable[[DebtorPlan], Awaitable[None]],
    ) -> DeliveryHooks:
        """Listeners for the simulators that react on ``clock``'s time through ``dispatch``."""
        return DeliveryHooks(self, clock, dispatch)

    def account_for_email(self, address: str) -> Account | None:
        return self._by_email.get(address.lower())

    def account_for_phone(self, number: str) -> Account | None:
        return self._by_phone.get(number)

    def workflow_id(self, account_id: str) -> str:
        return account_workflow_id(self._tenant_id, account_id)


class DeliveryHooks:
    """Simulator listeners: each delivery makes the debtor react while the send is in flight."""

    def __init__(
        self,
        debtors: PopulationDebtors,
        clock: Callable[[], Awaitable[datetime]],
        dispatch: Callable[[DebtorPlan], Awaitable[None]],
    ) -> None:
        self._debtors = debtors
        self._clock = clock
        self._dispatch = dispatch

    async def on_mail(self, mail: ReceivedMail) -> None:
        for address in mail.to:
            account = self._debtors.account_for_email(address)
            if account is not None:
                await self._contacted(
                    account, Channel.EMAIL, traits_of(f"{mail.subject}\n{mail.text}")
                )

    async def on_sms(self, message: SimulatedMessage) -> None:
        account = self._debtors.account_for_phone(message.to)
        if account is not None:
            await self._contacted(account, Channel.SMS, traits_of(message.body))

    async def on_answer(self, call: SimulatedCall) -> None:
        # A voicemail greeting does not react; a person (or an undetected answer) may.
        if call.answered_by not in (None, "human"):
            return
        account = self._debtors.account_for_phone(call.to)
        if account is not None:
            await self._contacted(account, Channel.PHONE, _spoken(call.twiml or ""))

    async def _contacted(self, account: Account, channel: Channel, said: MessageTraits) -> None:
        at = await self._clock()
        self._debtors.delivered[channel] += 1
        reaction = self._debtors.react(account.account_id, channel, at, said)
        if reaction is not None:
            await self._dispatch(
                DebtorPlan(
                    plan_id=f"sim-debtor/{account.account_id}/{reaction.contact}",
                    workflow_id=self._debtors.workflow_id(account.account_id),
                    actions=list(reaction.actions),
                )
            )


# --- the simulator-only workflow ---------------------------------------------------

DEBTOR_ACTIONS = "SimulatedDebtorActions"


@workflow.defn(name=DEBTOR_ACTIONS, sandboxed=False)
class DebtorActionsWorkflow:
    """Signals a campaign at the simulated instants of a debtor's actions.

    Simulator-only (registered by ``recoup simulate`` on a queue of its own). Not
    sandboxed: it only sleeps and signals, and its inputs are plain models.
    """

    @workflow.run
    async def run(self, plan: DebtorPlan) -> int:
        handle = workflow.get_external_workflow_handle(plan.workflow_id)
        done = 0
        for action in sorted(plan.actions, key=lambda a: a.at):
            wait = action.at - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(wait)
            try:
                if action.payment is not None:
                    await handle.signal(names.SIGNAL_PAYMENT, action.payment)
                elif action.reply is not None:
                    await handle.signal(names.SIGNAL_REPLY, action.reply)
                elif action.legal is not None:
                    await handle.signal(names.SIGNAL_LEGAL, action.legal)
                elif action.opt_out is not None:
                    await handle.signal(names.SIGNAL_OPT_OUT, action.opt_out)
            except FailureError:
                return done  # the campaign has finished: later actions change nothing
            done += 1
        return done


ADVANCE_CLOCK = "SimulatedClockAdvance"


@workflow.defn(name=ADVANCE_CLOCK, sandboxed=False)
class AdvanceClockWorkflow:
    """Sleeps until the instant ``until`` (ISO 8601): awaiting it moves the test server's clock.

    (``WorkflowEnvironment.sleep`` unlocks time skipping in a way that leaves the
    test server's lock count off, after which it skips time while activities run.)
    """

    @workflow.run
    async def run(self, until: str) -> None:
        wait = datetime.fromisoformat(until) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)


HOLD_CLOCK = "SimulatedClockHold"
# The activity the hold runs: it returns when the client releases the clock.
CLOCK_HELD = "simulated_clock_held"


@workflow.defn(name=HOLD_CLOCK, sandboxed=False)
class HoldClockWorkflow:
    """Sleeps until the instant ``until`` (ISO 8601), then holds the clock there.

    The test server never skips time while an activity is outstanding, so the
    ``CLOCK_HELD`` activity, which its worker ends when told, keeps the clock at
    ``until`` while the client starts what must start then. Awaiting the end of an
    ``AdvanceClockWorkflow`` leaves a race instead: the server may skip on to some
    later timer before the client locks time skipping again.
    """

    @workflow.run
    async def run(self, until: str) -> None:
        wait = datetime.fromisoformat(until) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        await workflow.execute_activity(CLOCK_HELD, start_to_close_timeout=timedelta(hours=1))


# --- compliance, checked again ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """A contact that the rules did not allow when it was made."""

    account_id: str
    contact: PastContact
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        at = self.contact.at.isoformat(timespec="seconds")
        to = f" to {self.contact.to}" if self.contact.to else ""
        return f"{self.account_id}: {self.contact.channel} at {at}{to}: {', '.join(self.reasons)}"


def replay_compliance(
    accounts: Sequence[Account],
    contacts: Mapping[str, Sequence[PastContact]],
    barred: Sequence[BarredSince],
) -> list[Violation]:
    """Every outbound contact the rules deny, decided again independently of the campaign.

    Each account's contacts (from the contact ledger) are replayed in time order through
    :func:`domain.compliance.engine.decide`, with the contacts before it as history and
    facts built from the account as generated plus what the debtor did before that
    moment according to the simulator (a ``STOP`` on a channel, a dispute). So a contact
    in quiet hours, over a frequency limit, without consent, after an opt-out or during
    a dispute counts, whatever the campaign believed when its gate allowed it.
    """
    by_account: dict[str, list[BarredSince]] = {}
    for bar in barred:
        by_account.setdefault(bar.account_id, []).append(bar)
    found: list[Violation] = []
    for account in accounts:
        history = sorted(contacts.get(account.account_id, ()), key=lambda c: c.at)
        bars = by_account.get(account.account_id, [])
        for i, contact in enumerate(history):
            if contact.direction != "outbound":
                continue
            before = [
                b for b in bars if b.at <= contact.at and (b.until is None or contact.at < b.until)
            ]
            opted = [
                f"{b.channel.value}:{b.address or '*'}" for b in before if b.channel is not None
            ]
            holds = LegalHolds(disputed_unverified=any(b.channel is None for b in before))
            facts = facts_for(account, holds, contact.channel, contact.to)
            facts = facts.model_copy(update={"opted_out": [*facts.opted_out, *opted]})
            decision = decide(
                facts,
                history[:i],
                ProposedContact(at=contact.at, channel=contact.channel, to=contact.to),
            )
            if not decision.allowed:
                reasons = tuple(r.value for r in decision.reasons)
                found.append(Violation(account.account_id, contact, reasons))
    return found


# --- helpers -----------------------------------------------------------------------


def _reply(
    ref: str, channel: Channel, address: str | None, text: str, when: datetime
) -> DebtorAction:
    """The debtor's reply on the channel of the contact (for a call: what they said on it)."""
    return DebtorAction(
        at=when,
        reply=InboundReply(
            reply_id=f"{ref}-reply",
            channel=channel,
            text=text,
            from_address=address,
            received_at=when,
        ),
    )


_SAY_LANGUAGE = re.compile(r'<Say[^>]*\blanguage="([a-z]{2})', re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def _spoken(twiml: str) -> MessageTraits:
    """What a call says: its ``<Say>`` text, in the language the ``<Say>`` names."""
    named = _SAY_LANGUAGE.search(twiml)
    text = html.unescape(_TAG.sub(" ", twiml))
    return traits_of(text, language=named.group(1).lower() if named else None)


def _recent(reached: Sequence[datetime], at: datetime, days: int) -> int:
    """Contacts that reached the debtor in the ``days`` days up to ``at``, that one included.

    Gaps count in whole days, rounded. A playbook schedules its steps whole days apart,
    so a contact ``days`` days before sits exactly on the window's edge, where a second
    of the machine's timing decided whether it counted: the same seed gave two runs.
    """
    return sum(t <= at and round((at - t) / _DAY) < days for t in reached)


def _pay_boost(content: Content, message: MessageTraits) -> float:
    boost = 1.0
    if message.payment_link:
        boost *= content.payment_link
    if message.settlement_offer:
        boost *= content.settlement_offer
    return boost


def _zone(account: Account) -> ZoneInfo:
    return ZoneInfo(account.timezones[0] if account.timezones else "America/New_York")


def _rng(seed: int, *parts: object) -> random.Random:
    # hashlib, not hash(): str hashes change with every process (PYTHONHASHSEED).
    key = "\x1f".join(str(part) for part in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))
