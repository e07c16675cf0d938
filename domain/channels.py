"""Contact channels: one row per channel, read by the workflow, the workers, export and CLI.

A channel's row (``ChannelSpec``) says everything the rest of Recoup needs to know about
it: the command the campaign exports, the activity its agent offers and the task queue
it runs on, how long a send may take and how often it heartbeats, how it retries and
which errors end it for good, which contact point it goes to (and what makes that point
usable), what the compliance gate does with it (quiet hours, the 7-in-7 call frequency),
whether the next-best-action agent may choose it, and where a step goes when it cannot.
Adding a channel is adding a row here (and its agent); nothing else keys by channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from domain import names
from domain.account import Account
from domain.messages import CommandType
from domain.resilience import SEED_EMAIL, SEED_LETTER, SEED_PHONE, SEED_SMS, RetryRule


class Channel(StrEnum):
    """A medium through which a debtor is contacted."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    LETTER = "letter"


# A provider's permanent failures, raised by every channel agent (activities/errors.py):
# retrying cannot help, so Temporal does not, and the step's fallback is tried.
PERMANENT_ERRORS: tuple[str, ...] = (
    names.PERMANENT_PROVIDER_ERROR,
    names.INVALID_ADDRESS,
    names.OPTED_OUT,
    names.TEMPLATE_ERROR,
)
# Of those, the ones that say the address itself is unusable: never used again.
ADDRESS_ERRORS: tuple[str, ...] = (names.OPTED_OUT, names.INVALID_ADDRESS)


def _email(account: Account) -> str | None:
    return next((e.address for e in account.emails if e.usable), None)


def _sms(account: Account) -> str | None:
    return next((p.number for p in account.phones if p.sms_usable), None)


def _voice(account: Account) -> str | None:
    return next((p.number for p in account.phones if p.voice_usable), None)


def _letter(account: Account) -> str | None:
    address = account.address
    return address.one_line() if address is not None and address.usable else None


@dataclass(frozen=True)
class ChannelSpec:
    """Everything about one channel that is not its agent's code."""

    channel: Channel
    command: CommandType
    activity: str
    queue: str  # the TaskQueues field its agent listens on
    start_to_close: timedelta
    heartbeat: timedelta
    retry: RetryRule  # the default; settings and tenants may change it (RetryRules)
    permanent_errors: tuple[str, ...]
    consent: str  # which contact-point fields make it usable, in words
    address_of: Callable[[Account], str | None]  # the consent rule, as code
    quiet_hours: bool  # the gate keeps it to convenient hours (12 CFR 1006.6(b)(1)(i))
    call_frequency: bool  # counts in, and is limited by, 7-in-7 (12 CFR 1006.14(b)(2))
    adaptive: bool  # the next-best-action agent may choose it (arms: channel × time of day)
    fallback: tuple[Channel, ...]  # when a step names none: the first of these usable
    description: str

    @property
    def agent(self) -> str:
        """The agent an exported command targets (and RabbitMQ routes on)."""
        return f"{self.channel.value}-agent"


CHANNELS: Mapping[Channel, ChannelSpec] = MappingProxyType(
    {
        Channel.EMAIL: ChannelSpec(
            channel=Channel.EMAIL,
            command=CommandType.SEND_EMAIL,
            activity=names.SEND_EMAIL,
            queue="email",
            start_to_close=timedelta(seconds=60),
            heartbeat=timedelta(seconds=10),
            retry=SEED_EMAIL,
            permanent_errors=PERMANENT_ERRORS,
            consent="emails[]: consent and not opted_out",
            address_of=_email,
            quiet_hours=True,
            call_frequency=False,
            adaptive=True,
            fallback=(),
            description="An email over SMTP; carries the validation notice.",
        ),
        Channel.SMS: ChannelSpec(
            channel=Channel.SMS,
            command=CommandType.SEND_SMS,
            activity=names.SEND_SMS,
            queue="sms",
            start_to_close=timedelta(seconds=30),
            heartbeat=timedelta(seconds=10),
            retry=SEED_SMS,
            permanent_errors=PERMANENT_ERRORS,
            consent="phones[]: sms_consent and not sms_opted_out (TCPA)",
            address_of=_sms,
            quiet_hours=True,
            call_frequency=False,
            adaptive=True,
            fallback=(),
            description="A text message through Twilio's Messages API.",
        ),
        Channel.PHONE: ChannelSpec(
            channel=Channel.PHONE,
            command=CommandType.MAKE_CALL,
            activity=names.PLACE_CALL,
            queue="phone",
            # A call rings, is answered and runs its message: give it longer.
            start_to_close=timedelta(minutes=10),
            heartbeat=timedelta(seconds=30),
            retry=SEED_PHONE,
            permanent_errors=PERMANENT_ERRORS,
            consent="phones[]: voice_consent and not voice_opted_out (TCPA)",
            address_of=_voice,
            quiet_hours=True,
            call_frequency=True,
            adaptive=True,
            # A call that fails goes to SMS where texting is allowed, else to email,
            # even without a fallback in the playbook (the seed's rule).
            fallback=(Channel.SMS, Channel.EMAIL),
            description="A voice call through Twilio's Calls API, reading the call script.",
        ),
        Channel.LETTER: ChannelSpec(
            channel=Channel.LETTER,
            command=CommandType.SEND_LETTER,
            activity=names.SEND_LETTER,
            queue="letter",
            start_to_close=timedelta(seconds=60),
            heartbeat=timedelta(seconds=10),
            retry=SEED_LETTER,
            permanent_errors=PERMANENT_ERRORS,
            consent="address: all of line1, city, state, zip, and not opted_out",
            address_of=_letter,
            # Mail is delivered when the carrier comes, not at a moment the sender picks;
            # it is no call, so neither counts in nor is held by 7-in-7.
            quiet_hours=False,
            call_frequency=False,
            # The agent's arms are times of day, which a letter does not have.
            adaptive=False,
            fallback=(),
            description="A printed letter mailed by a print-and-mail provider (Lob's API).",
        ),
    }
)


def spec(channel: Channel) -> ChannelSpec:
    """The row of ``channel``."""
    return CHANNELS[channel]


def by_activity() -> dict[str, Channel]:
    """Channel of each contact activity name (reading histories and audits)."""
    return {s.activity: s.channel for s in CHANNELS.values()}


class TaskQueues(BaseModel):
    """Task queue names (DESIGN.md contracts).

    Carried in workflow inputs so that a deployment (or a test) can run several
    isolated sets of workers against one Temporal namespace.
    """

    model_config = ConfigDict(frozen=True)

    campaigns: str = "campaigns"
    email: str = "email-tasks"
    sms: str = "sms-tasks"
    phone: str = "phone-tasks"
    letter: str = "letter-tasks"
    payments: str = "payments-tasks"
    research: str = "research-tasks"
    escalation: str = "escalation-tasks"
    export: str = "export-tasks"
    # A portfolio's launcher: its page starts and campaign counts (inputs written
    # before this field get the default: workers of one release serve it).
    portfolios: str = "portfolio-tasks"

    def for_channel(self, channel: Channel) -> str:
        queue: str = getattr(self, spec(channel).queue)
        return queue

    @classmethod
    def with_suffix(cls, suffix: str) -> TaskQueues:
        """Every queue name with ``suffix`` appended (isolated test or staging workers)."""
        base = cls()
        return cls(**{name: f"{value}{suffix}" for name, value in base.model_dump().items()})
