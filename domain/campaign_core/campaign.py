"""One account campaign as the decision core sees it, and what it hands its shell.

The core decides; the shell (the Temporal workflow) carries out. What only Temporal
can do from a handler is an *effect*: upsert search attributes, set the web UI's
details, log. The core hands each effect to its ``sink`` the moment it decides it, so
the shell carries them out in the order they were decided (the order of commands in
the history). Events, commands and agent messages leave through the outbox, which is
part of the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.campaign import AccountCampaignInput, CampaignState
from domain.channels import Channel
from domain.contact import ContactRequest
from domain.dead_letters import FailedSend

# Search attributes by name (``workflows/search_attributes.py`` holds their keys).
SearchValue = str | float | bool | datetime


@dataclass(frozen=True)
class Upsert:
    """Set these search attributes, in this order, in one upsert (``None`` unsets one)."""

    fields: tuple[tuple[str, SearchValue | None], ...]


@dataclass(frozen=True)
class Describe:
    """The web UI's "current details" of the campaign."""

    text: str


@dataclass(frozen=True)
class Log:
    level: str  # "info" | "warning"
    message: str


Effect = Upsert | Describe | Log


class Host(Protocol):
    """What the core needs from where it runs: the run's clock and ids."""

    def now(self) -> datetime: ...

    @property
    def workflow_id(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    @property
    def first_execution_run_id(self) -> str: ...


class Campaign:
    """An account campaign's input and state, the host it runs in, and where its effects go.

    Besides the state (carried across continue-as-new), a few things only the current
    run needs: whether a signal changed anything (``changed``, which wakes a wait), the
    count of legal events (``legal_epoch``: a send in flight is checked again when it
    moves), what it waits for next, the channel of its last contact, the current
    step's failed sends, and what the web UI's list was last told (``view``).
    """

    def __init__(
        self,
        inp: AccountCampaignInput,
        state: CampaignState,
        host: Host,
        sink: Callable[[Effect], None],
    ) -> None:
        self.inp = inp
        self.state = state
        self.host = host
        self.sink = sink
        self.changed = False
        self.legal_epoch = 0
        self.next_action: str | None = None
        self.next_action_at: datetime | None = None
        self.last_channel: Channel | None = None
        # The current step's sends that failed for good, and its last command (for the
        # step's dead letter).
        self.failures: list[FailedSend] = []
        self.last_request: ContactRequest | None = None
        # The list's columns (``campaign_core.view``): off in runs that began before
        # them, which upsert the exact amount due instead (their histories replay so).
        self.view_attributes = True
        # Their values as last upserted (the shell seeds them from the run's start), so
        # that only a change costs an upsert; and whether the campaign has finished.
        self.published: dict[str, SearchValue | None] = {}
        self.finished = False

    def now(self) -> datetime:
        return self.host.now()

    def days(self, days: float) -> timedelta:
        """Playbook days (compressed in the demo and tests) as time."""
        return timedelta(seconds=days * self.inp.seconds_per_day)

    def log(self, level: str, message: str) -> None:
        self.sink(Log(level, message))
