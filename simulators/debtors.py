"""Simulated debtors: who pays, who promises, who asks to stop, who stays silent.

Used by ``recoup dev``/``recoup demo``, the tests and the benchmarks in place of
real people. Every draw comes from a ``random.Random`` seeded with a stable hash
of (seed, account, contact), so a run can be replayed exactly: the same seed and
the same sequence of contacts give the same reactions, in any process.

It also writes sample portfolios whose contact points can never reach anyone:
emails at example.com/example.org and US numbers in the 555-0100…0199 range,
which is reserved for fiction.
"""

from __future__ import annotations

import csv
import hashlib
import random
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.account import Account, PostalAddress
from domain.channels import Channel
from domain.portfolio import ADDRESS_COLUMNS, PORTFOLIO_COLUMNS
from simulators.zones import awake, most_awake

_CENT = Decimal("0.01")


class Persona(StrEnum):
    """How a simulated debtor behaves for the whole campaign."""

    PAYER = "payer"  # pays in full after one or two contacts
    PARTIAL = "partial"  # pays 30–60 %, then sometimes the rest
    PROMISER = "promiser"  # promises to pay, then sometimes pays
    OPT_OUT = "opt_out"  # replies STOP
    REPLIER = "replier"  # asks a question
    SILENT = "silent"  # never reacts


class ReactionKind(StrEnum):
    PAY = "pay"
    REPLY = "reply"


class DebtorMix(BaseModel):
    """Relative shares of the personas (normalised, so they need not sum to 1)."""

    model_config = ConfigDict(frozen=True)

    payer: float = Field(default=0.25, ge=0)
    partial: float = Field(default=0.10, ge=0)
    promiser: float = Field(default=0.15, ge=0)
    opt_out: float = Field(default=0.10, ge=0)
    replier: float = Field(default=0.05, ge=0)
    silent: float = Field(default=0.35, ge=0)

    @model_validator(mode="after")
    def _some_share(self) -> Self:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one persona needs a positive share")
        return self

    def share(self, persona: Persona) -> float:
        weights = self.model_dump()
        return float(weights[persona.value] / sum(weights.values()))


class Reaction(BaseModel):
    """What a debtor does after one contact, ``delay_days`` after it."""

    model_config = ConfigDict(frozen=True)

    kind: ReactionKind
    amount: Decimal | None = Field(default=None, gt=0, description="For a payment.")
    text: str | None = Field(default=None, min_length=1, description="For a reply.")
    channel: Channel = Field(
        description="A reply's channel; for a payment, the contact's channel that prompted it."
    )
    delay_days: float = Field(ge=0.1, le=2.0)

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if (self.kind is ReactionKind.PAY) != (self.amount is not None):
            raise ValueError("a payment, and only a payment, has an amount")
        if (self.kind is ReactionKind.REPLY) != (self.text is not None):
            raise ValueError("a reply, and only a reply, has a text")
        return self


@dataclass(slots=True)
class _Ledger:
    """All the simulator remembers about one debtor."""

    paid: Decimal = Decimal("0")
    opted_out: bool = False
    # Contact number of the debtor's first reaction; later ones (the rest of a
    # partial payment, the payment after a promise) are counted from it.
    first_reaction_at: int | None = None
    # Answers by contact number: asking again about a contact (an activity retry)
    # returns the same reaction instead of, say, paying twice.
    answers: dict[int, Reaction | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A debtor's persona-level draws, fixed for the whole campaign."""

    persona: Persona
    acts_at: int  # first contact number the debtor reacts to (1 or 2)
    follows_up: bool  # partial: pays the rest; promiser: pays after promising
    follow_up_after: int  # contacts between the first reaction and the follow-up


_PROMISES = {
    "en": (
        "I will pay on Friday.",
        "I'll pay next week, when I get paid.",
        "I will pay the balance by the end of the month.",
    ),
    "es": (
        "Voy a pagar el viernes.",
        "Voy a pagar la próxima semana, cuando cobre.",
        "Pagaré el saldo a fin de mes.",
    ),
}
_QUESTIONS = {
    "en": (
        "Can you send me the details of this debt?",
        "Is a payment plan possible?",
        "Who was the original creditor for this account?",
    ),
    "es": (
        "¿Pueden enviarme los detalles de esta deuda?",
        "¿Es posible un plan de pagos?",
        "¿Quién era el acreedor original de esta cuenta?",
    ),
}
# The carrier-standard keyword, and what the email footer tells the debtor to send.
_STOP_TEXT = "STOP"


class DebtorSimulator:
    """Deterministic reactions of simulated debtors to contacts.

    Call :meth:`react` once per contact that reached the debtor, in order, with
    the account as imported (``amount_due`` is the original balance: the simulator
    itself remembers what each debtor has paid). It keeps a small ledger per account
    and is safe to share between threads.
    """

    def __init__(self, seed: int = 0, mix: DebtorMix | None = None) -> None:
        self._seed = seed
        mix = mix or DebtorMix()
        # Upper bounds of each persona's slice of [0, 1), computed once.
        self._slices: list[tuple[float, Persona]] = []
        cumulative = 0.0
        for persona in Persona:
            cumulative += mix.share(persona)
            self._slices.append((cumulative, persona))
        self._ledgers: dict[str, _Ledger] = {}
        self._lock = threading.Lock()

    def persona(self, account_id: str) -> Persona:
        return self._plan(account_id).persona

    def react(self, account: Account, channel: Channel, contact_number: int) -> Reaction | None:
        """The debtor's reaction to its ``contact_number``-th contact (1-based), if any."""
        if contact_number < 1:
            raise ValueError(f"contact_number starts at 1, got {contact_number}")
        with self._lock:
            ledger = self._ledgers.setdefault(account.account_id, _Ledger())
            if contact_number not in ledger.answers:
                reaction = self._decide(account, channel, contact_number, ledger)
                ledger.answers[contact_number] = reaction
                if reaction is not None:
                    ledger.first_reaction_at = ledger.first_reaction_at or contact_number
                    if reaction.amount is not None:
                        ledger.paid += reaction.amount
                    ledger.opted_out = reaction.text == _STOP_TEXT
            return ledger.answers[contact_number]

    def _decide(
        self, account: Account, channel: Channel, n: int, ledger: _Ledger
    ) -> Reaction | None:
        remaining = account.amount_due - ledger.paid
        if ledger.opted_out or remaining <= 0:
            return None
        plan = self._plan(account.account_id)
        rng = _rng(self._seed, "contact", account.account_id, n)
        delay = round(rng.uniform(0.1, 2.0), 2)
        lang = "es" if account.language == "es" else "en"
        first = ledger.first_reaction_at
        # Replies come back on the contact's channel; a call is answered by text.
        reply_channel = Channel.SMS if channel is Channel.PHONE else channel

        def pay(amount: Decimal) -> Reaction:
            return Reaction(kind=ReactionKind.PAY, amount=amount, channel=channel, delay_days=delay)

        def reply(text: str) -> Reaction:
            return Reaction(
                kind=ReactionKind.REPLY, text=text, channel=reply_channel, delay_days=delay
            )

        if first is None:
            if n < plan.acts_at:
                return None
            match plan.persona:
                case Persona.PAYER:
                    return pay(remaining)
                case Persona.PARTIAL:
                    part = (remaining * Decimal(str(rng.uniform(0.3, 0.6)))).quantize(
                        _CENT, ROUND_HALF_UP
                    )
                    return pay(min(max(part, _CENT), remaining))
                case Persona.PROMISER:
                    return reply(rng.choice(_PROMISES[lang]))
                case Persona.OPT_OUT:
                    return reply(_STOP_TEXT)
                case Persona.REPLIER:
                    return reply(rng.choice(_QUESTIONS[lang]))
                case Persona.SILENT:
                    return None
        if plan.follows_up and n >= first + plan.follow_up_after:
            return pay(remaining)
        return None

    def _plan(self, account_id: str) -> _Plan:
        rng = _rng(self._seed, "persona", account_id)
        draw = rng.random()
        # The last slice also takes a draw that float rounding left above its bound.
        persona = next((p for bound, p in self._slices if draw < bound), self._slices[-1][1])
        follow_up_odds = {Persona.PARTIAL: 0.5, Persona.PROMISER: 0.6}.get(persona, 0.0)
        return _Plan(
            persona=persona,
            acts_at=rng.choice((1, 2)),
            follows_up=rng.random() < follow_up_odds,
            follow_up_after=rng.choice((1, 2)),
        )


def _rng(seed: int, *parts: object) -> random.Random:
    # hashlib, not hash(): str hashes change with every process (PYTHONHASHSEED).
    key = "\x1f".join(str(part) for part in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))


# --- sample portfolios -------------------------------------------------------


# (state, IANA zone, area codes, weight ≈ population). Phone, state and time zone
# of a row agree, as they would in a real portfolio.
_REGIONS = (
    ("CA", "America/Los_Angeles", ("213", "310", "323", "415", "619"), 12),
    ("TX", "America/Chicago", ("210", "214", "512", "713"), 9),
    ("FL", "America/New_York", ("305", "786"), 7),
    ("NY", "America/New_York", ("212", "347", "646", "718"), 6),
    ("IL", "America/Chicago", ("312",), 4),
    ("GA", "America/New_York", ("404",), 3),
    ("NC", "America/New_York", ("704",), 3),
    ("AZ", "America/Phoenix", ("480", "602"), 2),
    ("MA", "America/New_York", ("617",), 2),
    ("WA", "America/Los_Angeles", ("206",), 2),
    ("TN", "America/Chicago", ("615",), 2),
    ("CO", "America/Denver", ("303",), 2),
    ("NV", "America/Los_Angeles", ("702",), 1),
    ("OR", "America/Los_Angeles", ("503",), 1),
    ("HI", "Pacific/Honolulu", ("808",), 1),
    ("AK", "America/Anchorage", ("907",), 1),
)
# Where most Spanish-speaking debtors of a US portfolio live.
_SPANISH_STATES = frozenset({"CA", "TX", "FL", "NY", "AZ", "IL"})

# fmt: off
_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Emily", "Daniel",
)
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
    "O'Brien", "O'Hara",
)
_SPANISH_FIRST_NAMES = (
    "José", "María", "Luis", "Ana", "Carlos", "Carmen", "Jorge", "Lucía", "Juan", "Rosa",
    "Miguel", "Sofía", "Andrés", "Elena", "Javier",
)
_SPANISH_LAST_NAMES = (
    "García", "Martínez", "Rodríguez", "López", "Hernández", "González", "Pérez", "Sánchez",
    "Ramírez", "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Cruz",
)
# fmt: on


def sample_portfolio_rows(
    n: int, *, seed: int, as_of: date, awake_at: datetime | None = None
) -> list[dict[str, str]]:
    """``n`` plausible, fictional accounts as CSV rows (columns ``PORTFOLIO_COLUMNS``).

    Amounts 50.00–5,000.00 USD, due 30–400 days before ``as_of``, about 15 % in
    Spanish, consents mixed. Phone numbers repeat beyond 100 rows per area code:
    the fictional range is that small, and a shared number is realistic anyway.

    With ``awake_at``, only regions where it is daytime at that instant are used,
    so a compressed campaign is not held back by quiet hours; when no US region is
    awake, debtors keep their US state and number but are placed in the zone where
    it is closest to mid-day.
    """
    rng = _rng(seed, "portfolio")
    chosen = [r for r in _REGIONS if awake_at is None or awake(r[1], awake_at)]
    abroad = None
    if not chosen:
        assert awake_at is not None
        chosen, abroad = list(_REGIONS), most_awake(awake_at)
    regions = [region[:3] for region in chosen]
    weights = [region[3] for region in chosen]
    spanish_regions = [r for r in regions if r[0] in _SPANISH_STATES] or regions
    rows = []
    for i in range(1, n + 1):
        spanish = rng.random() < 0.15
        state, zone, area_codes = (
            rng.choice(spanish_regions) if spanish else rng.choices(regions, weights)[0]
        )
        hispanic_name = spanish or rng.random() < 0.1
        first = rng.choice(_SPANISH_FIRST_NAMES if hispanic_name else _FIRST_NAMES)
        last = rng.choice(_SPANISH_LAST_NAMES if hispanic_name else _LAST_NAMES)
        cents = rng.randint(5_000, 500_000)
        rows.append(
            {
                "account_id": f"ACC-{i:06d}",
                "name": f"{first} {last}",
                "email": f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}"
                f"@{rng.choice(('example.com', 'example.org'))}",
                "phone": f"+1{rng.choice(area_codes)}55501{rng.randint(0, 99):02d}",
                "amount_due": f"{Decimal(cents) / 100:.2f}",
                "currency": "USD",
                "due_date": (as_of - timedelta(days=rng.randint(30, 400))).isoformat(),
                "timezone": abroad or zone,
                "state": state,
                "language": "es" if spanish else "en",
                "sms_consent": _flag(rng.random() < 0.6),
                "voice_consent": _flag(rng.random() < 0.5),
            }
        )
    return rows


# A city and ZIP code per state of ``_REGIONS``: fictional street, real-looking place.
_CITIES = {
    "CA": ("Fresno", "93721"), "TX": ("Austin", "78701"), "FL": ("Tampa", "33602"),
    "NY": ("Albany", "12207"), "IL": ("Peoria", "61602"), "GA": ("Macon", "31201"),
    "NC": ("Durham", "27701"), "AZ": ("Tempe", "85281"), "MA": ("Worcester", "01608"),
    "WA": ("Spokane", "99201"), "TN": ("Memphis", "38103"), "CO": ("Boulder", "80302"),
    "NV": ("Reno", "89501"), "OR": ("Salem", "97301"), "HI": ("Hilo", "96720"),
    "AK": ("Juneau", "99801"),
}  # fmt: skip
_STREETS = ("Oak", "Maple", "Cedar", "Pine", "Elm", "Willow", "Lakeview", "Hillcrest")


def postal_address(account_id: str, state: str | None, *, seed: int) -> PostalAddress:
    """A plausible, fictional mailing address for ``account_id`` in ``state``."""
    rng = _rng(seed, "address", account_id)
    where = state if state in _CITIES else "IL"
    city, zip_code = _CITIES[where]
    street = f"{rng.randint(10, 9899)} {rng.choice(_STREETS)} {rng.choice(('St', 'Ave', 'Dr'))}"
    return PostalAddress(line1=street, city=city, state=where, zip=zip_code)


def with_letter_only_debtors(
    rows: Iterable[dict[str, str]], *, seed: int, share: float = 0.04
) -> list[dict[str, str]]:
    """Portfolio ``rows`` with about ``share`` of them reachable by post only: no email,
    no phone, a mailing address in the ``address_*`` columns (the validation notice goes
    to them by letter). Written to the file like any operator's, so the demo loads
    them through the same parser."""
    found = []
    for row in rows:
        row = {**row, **dict.fromkeys(ADDRESS_COLUMNS, "")}
        if _rng(seed, "letter-only", row["account_id"]).random() < share:
            address = postal_address(row["account_id"], row.get("state") or None, seed=seed)
            row |= {
                "email": "",
                "phone": "",
                "sms_consent": "",
                "voice_consent": "",
                "address_line1": address.line1,
                "address_line2": address.line2 or "",
                "address_city": address.city,
                "address_state": address.state,
                "address_zip": address.zip,
            }
        found.append(row)
    return found


def write_portfolio_csv(rows: Iterable[dict[str, str]], path: Path) -> None:
    """Write rows (as from :func:`sample_portfolio_rows`) as UTF-8 CSV with a header."""
    with path.open("w", encoding="utf-8", newline="") as out:
        rows = list(rows)
        # The address columns only when some row has them: most files have none.
        extra = [c for c in ADDRESS_COLUMNS if any(c in row for row in rows)]
        writer = csv.DictWriter(out, fieldnames=[*PORTFOLIO_COLUMNS, *extra])
        writer.writeheader()
        writer.writerows(rows)


def _ascii(name: str) -> str:
    """``"O'Hara"`` → ``"ohara"``, ``"Martínez"`` → ``"martinez"``: safe in an email address."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _flag(value: bool) -> str:
    return "true" if value else "false"
