"""What the console's templates show, formatted once: amounts, rates, bands, figures.

Every figure of a campaign is shown as the service returns it (``RecoupService.campaign``)
and carried on the page twice: formatted for a person, and exact in ``data-value`` under a
stable ``data-figure`` name (``report.collected.USD``), for scripts and the browser tests.
List pages show account ids and nothing that identifies a debtor: the balance is shown
as a band (the web UI's ``RecoupBalanceBand``), and error texts from providers are shown
with addresses and numbers removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from domain.balance_band import balance_band
from domain.campaign import account_workflow_id
from service.models import CampaignView

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# A phone number as providers echo it: E.164, or ten or more digits with separators.
_PHONE = re.compile(r"\+?\d[\d ().-]{8,}\d")


@dataclass(frozen=True)
class Figure:
    """One number of a campaign: its name, the exact value, and how a person reads it."""

    name: str
    value: str
    shown: str


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def band(balance: Decimal, currency: str | None) -> str:
    """The balance as the web UI's ``RecoupBalanceBand`` shows it (``100-500``), so a list
    page does not carry each debtor's exact debt."""
    unit = f" {currency}" if currency else ""
    return f"{balance_band(max(balance, Decimal(0)))}{unit}"


def redact(text: str, limit: int = 160) -> str:
    """A provider's error text without email addresses or phone numbers, shortened."""
    cleaned = _PHONE.sub("[number]", _EMAIL.sub("[address]", text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def workflow_link(ui_url: str, tenant_id: str, account_id: str) -> str:
    """The account's campaign in the Temporal web UI (its latest run)."""
    return f"{ui_url}/workflows/{quote(account_workflow_id(tenant_id, account_id), safe='')}"


def _count(name: str, n: int) -> Figure:
    return Figure(name, str(n), f"{n:,}")


def _amount(name: str, amount: Decimal, currency: str) -> Figure:
    return Figure(name, str(amount), money(amount, currency))


def _rate(name: str, rate: float | None) -> Figure:
    return Figure(name, "" if rate is None else repr(rate), percent(rate))


@dataclass(frozen=True)
class Breakdown:
    """One row of the per-channel or per-step table."""

    key: str
    attempts: Figure
    reached: Figure
    failed: Figure
    skipped: Figure
    collected: Figure
    reach_rate: str


@dataclass(frozen=True)
class CampaignFigures:
    """A campaign view laid out for the page: launch counters, the report's figures, the
    by-status counts, and the per-channel and per-step tables."""

    campaign_id: str
    currency: str | None
    launch: list[Figure]
    counted: list[Figure]
    results: list[Figure]
    statuses: list[Figure]
    by_channel: list[Breakdown]
    by_step: list[Breakdown]
    paused: str | None
    cancelled: bool
    launching: bool

    @property
    def all(self) -> list[Figure]:
        return [*self.launch, *self.counted, *self.results, *self.statuses]

    @property
    def by_name(self) -> dict[str, Figure]:
        return {f.name: f for f in self.all}


def campaign_figures(view: CampaignView) -> CampaignFigures:
    progress, report = view.progress, view.report
    currency = None
    if report is not None and report.opening_balance:
        currency = max(report.opening_balance, key=lambda c: report.opening_balance[c])
    elif progress is not None and progress.collected:
        currency = next(iter(sorted(progress.collected)))
    launch: list[Figure] = []
    counted: list[Figure] = []
    if progress is not None:
        launch = [
            _count("progress.total", progress.total),
            _count("progress.started", progress.started),
            _count("progress.attached", progress.attached),
        ]
        counted = [
            _count("progress.active", progress.active),
            _count("progress.finished", progress.finished),
            _count("progress.promised", progress.promised),
            _count("progress.promises_kept", progress.promises_kept),
            *(
                _amount(f"progress.collected.{c}", amount, c)
                for c, amount in sorted(progress.collected.items())
            ),
            *(
                _count(f"progress.contacts.{channel.value}", n)
                for channel, n in sorted(progress.contacts.items())
            ),
        ]
    results: list[Figure] = []
    statuses: list[Figure] = []
    by_channel: list[Breakdown] = []
    by_step: list[Breakdown] = []
    if report is not None:
        results = [
            _count("report.accounts", report.accounts),
            _count("report.finished", report.finished),
            *(
                _amount(f"report.opening.{c}", amount, c)
                for c, amount in sorted(report.opening_balance.items())
            ),
            *(
                _amount(f"report.collected.{c}", amount, c)
                for c, amount in sorted(report.collected.items())
            ),
            *(
                _rate(f"report.recovery.{c}", rate)
                for c, rate in sorted(view.recovery_rate.items())
            ),
            _count("report.payments", report.payments),
            _rate("report.contact_rate", report.contact_rate),
            _rate("report.right_party_rate", report.right_party_rate),
            _count("report.promises_made", report.promises_made),
            _count("report.promises_kept", report.promises_kept),
            _count("report.promises_broken", report.promises_broken),
            _rate("report.opt_out_rate", report.opt_out_rate),
            _count("report.disputes", report.disputes),
        ]
        statuses = [_count(f"report.status.{s}", n) for s, n in sorted(report.statuses.items())]
        unit = currency or ""
        for prefix, table, rows in (
            ("report.channel", report.by_channel, by_channel),
            ("report.step", report.by_step, by_step),
        ):
            for key, b in sorted(table.items()):
                name = f"{prefix}.{key}"
                rows.append(
                    Breakdown(
                        key=key,
                        attempts=_count(f"{name}.attempts", b.attempts),
                        reached=_count(f"{name}.reached", b.reached),
                        failed=_count(f"{name}.failed", b.failed),
                        skipped=_count(f"{name}.skipped", b.skipped),
                        collected=_amount(f"{name}.collected", b.collected, unit),
                        reach_rate=percent(b.reach_rate),
                    )
                )
    elif progress is not None:
        statuses = [
            _count(f"progress.status.{s.value}", n) for s, n in sorted(progress.by_status.items())
        ]
    return CampaignFigures(
        campaign_id=view.campaign_id,
        currency=currency,
        launch=launch,
        counted=counted,
        results=results,
        statuses=statuses,
        by_channel=by_channel,
        by_step=by_step,
        paused=(
            f"paused by {progress.paused.operator}: {progress.paused.reason}"
            if progress is not None and progress.paused is not None
            else None
        ),
        cancelled=progress is not None and progress.cancelled,
        launching=progress is not None and not progress.launching_done,
    )
