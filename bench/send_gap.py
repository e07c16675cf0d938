"""How long a revocation can go unseen: the gap between the last check and the provider.

Run: ``.venv/bin/python -m bench.send_gap [--accounts 200]``

A STOP stored before a channel agent's last check stops the message (``tests/
test_send_after_stop.py``); one stored after it can still go out, and is then recorded
as sent after it. This measures that window on the embedded stack: ``--accounts``
campaigns, each texting at once (all together, so that queues and the database are
under load), real workers, the SMS simulator, the SQL suppression store.

For every text, four moments on this machine's clock:

- **scheduled**: the workflow scheduled the send (the activity's scheduled event):
  before this change, the facts the send-time check decided on were taken here;
- **checked**: the agent's read of the suppression store returned (the last check);
- **called**: the agent called the provider (``ContactResult.handed_at``);
- **at the provider**: the SMS simulator created the message.

It reports the percentiles of checked → called (the window now: a revocation stored
in it is reported, not stopped) against scheduled → called (the window of a check on
the scheduling snapshot), measured on the same sends in the same run, and their ratio;
and called → at the provider (transport and provider, beyond any check). Prints
exactly one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client

from adapters.suppressions import SuppressionStore
from bench.common import machine, simulated_stack
from bootstrap.client import connect
from bootstrap.settings import Settings
from domain import names
from domain.account import Account, EmailContact, PhoneContact, Tenant
from domain.campaign import account_workflow_id
from domain.channels import Channel
from domain.contact import ContactResult
from domain.playbook import Playbook, Step
from domain.revocations import Revocation
from service.campaigns import start_account_campaign
from simulators.twilio import SimulatedMessage, TwilioSimulator
from simulators.zones import most_awake
from workers.run import workers

TENANT = Tenant(tenant_id="bench", name="Bench Recovery")
TEXT_NOW = Playbook(
    name="text-now",
    steps=[Step(id="text", day=0, channel=Channel.SMS, template="reminder")],
    closing_days=0,
)


class TimedStore(SuppressionStore):
    """The suppression store, noting when each account's first read (the check) returned."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.checked: dict[str, float] = {}

    def for_account(self, tenant_id: str, account_id: str) -> list[Revocation]:
        found = super().for_account(tenant_id, account_id)
        self.checked.setdefault(account_id, time.time())
        return found


def _account(n: int) -> Account:
    return Account(
        account_id=f"G-{n:06d}",
        debtor_name="Gap Debtor",
        emails=[EmailContact(address=f"gap{n}@example.com")],
        phones=[PhoneContact(number=f"+1415555{n:04d}", sms_consent=True)],
        amount_due=Decimal("120.00"),
        due_date=date.today() - timedelta(days=90),
        days_past_due=90,
        timezones=[most_awake(datetime.now(UTC))],
    )


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50": round(cuts[49], 2),
        "p95": round(cuts[94], 2),
        "p99": round(cuts[98], 2),
        "max": round(ordered[-1], 2),
    }


async def _moments(client: Client, account_id: str) -> tuple[float, float]:
    """When the workflow scheduled the text, and when the agent handed it to the provider."""
    handle = client.get_workflow_handle(account_workflow_id(TENANT.tenant_id, account_id))
    scheduled: float | None = None
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == names.SEND_SMS:
                scheduled = event.event_time.ToDatetime(tzinfo=UTC).timestamp()
        elif event.HasField("activity_task_completed_event_attributes") and scheduled:
            payloads = event.activity_task_completed_event_attributes.result.payloads
            [result] = await client.data_converter.decode(payloads, [ContactResult])
            assert result.handed_at is not None
            return scheduled, result.handed_at.timestamp()
    raise SystemExit(f"{account_id}: no completed text in its history")


async def _send_all(
    client: Client, settings: Settings, accounts: int, at_provider: dict[str, float]
) -> float:
    """Start every campaign at once; return the seconds until every text was at the provider."""
    started = time.monotonic()
    await asyncio.gather(
        *(
            start_account_campaign(
                client,
                settings,
                tenant=TENANT,
                campaign_id="gap",
                playbook=TEXT_NOW,
                account=_account(n),
                seconds_per_day=60,
            )
            for n in range(accounts)
        )
    )
    while len(at_provider) < accounts:
        if time.monotonic() - started > 600:
            raise SystemExit(f"only {len(at_provider)}/{accounts} texts went out in 600 s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def run(accounts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recoup-gap-") as tmp:
        async with AsyncExitStack() as stack:
            twilio = TwilioSimulator(answer_rate=1.0, machine_rate=0.0)
            _, settings = await simulated_stack(stack, Path(tmp), "gap", twilio)
            at_provider: dict[str, float] = {}

            def arrived(message: SimulatedMessage) -> None:
                at_provider.setdefault(message.to, time.time())

            twilio.on_message(arrived)
            client = await connect(settings)
            store = TimedStore(settings.sql_url)
            stack.callback(store.dispose)
            async with workers(client, settings, suppressions=store) as built:
                for w in built:
                    await w.__aenter__()
                try:
                    elapsed = await _send_all(client, settings, accounts, at_provider)
                finally:
                    for w in built:
                        await w.__aexit__(None, None, None)
            gap_ms: list[float] = []
            window_ms: list[float] = []
            transport_ms: list[float] = []
            for n in range(accounts):
                account = _account(n)
                scheduled, handed = await _moments(client, account.account_id)
                gap_ms.append((handed - store.checked[account.account_id]) * 1000)
                window_ms.append((handed - scheduled) * 1000)
                transport_ms.append((at_provider[account.phones[0].number] - handed) * 1000)
    gap, window = _percentiles(gap_ms), _percentiles(window_ms)
    return {
        "benchmark": "send_gap",
        "sends": accounts,
        "seconds": round(elapsed, 2),
        "check_to_call_ms": gap,
        "scheduled_to_call_ms": window,
        "call_to_provider_ms": _percentiles(transport_ms),
        "ratio_p99": round(gap["p99"] / window["p99"], 4) if window["p99"] else None,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200, help="texts sent at once")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.accounts))))


if __name__ == "__main__":
    main()
