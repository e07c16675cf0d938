"""``recoup events``: follow what campaigns decide, and how far each sink has exported it."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from bootstrap.root import Root
from bootstrap.settings import SQL_SINK
from cli.common import JsonOption, console, load_settings, print_json
from service.events import EventRow, event_log, start_position

app = typer.Typer(
    help="The event stream: follow it, and see each sink's export lag.", no_args_is_help=True
)


@app.command()
def tail(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only this type (repeatable), e.g. PaymentEvent, SEND_SMS."),
    ] = None,
    last: Annotated[int, typer.Option(help="Start with the last N matching records.")] = 20,
    follow: Annotated[bool, typer.Option(help="Keep following new records (Ctrl-C stops).")] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="One record per line, as exported (JSON).")
    ] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks while following.")] = 0.5,
) -> None:
    """Print the live event stream (from the event log, which every sink is fed from)."""
    root = Root(load_settings())
    events = event_log(root)
    types = list(type_ or [])
    try:
        position = start_position(events, last, tenant, campaign, types)
        while True:
            rows = events.read_after(position, 500, tenant, campaign, types)
            for row in rows:
                _print(row, as_json)
            if rows:
                position = rows[-1].position or position
                continue
            if not follow:
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        return
    finally:
        root.close()


def _print(row: EventRow, as_json: bool) -> None:
    record = row.export_record()
    if as_json:
        typer.echo(record.model_dump_json())
        return
    status = record.status or record.target or ""
    meta = record.metadata
    detail = ", ".join(
        f"{k}={meta[k]}" for k in ("channel", "stepId", "amount", "intent", "reasons") if k in meta
    )
    if record.kind.value == "agent_message":
        detail = str(record.body.get("content", ""))[:100]
    console.print(
        f"[dim]{record.occurred_at:%Y-%m-%d %H:%M:%S}[/] #{row.position} "
        f"[bold]{record.type}[/] {status} · {record.tenant_id}/{record.campaign_id or '-'}/"
        f"{record.customer_id or '-'} {detail}",
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Each sink's cursor and how many records it has still to export."""
    settings = load_settings()
    with Root(settings) as root:
        events = event_log(root)
        head = events.last_position()
        cursors = events.cursors()
        counts = events.counts_by_kind()
    sinks = [
        {
            "sink": name,
            "enabled": name in settings.all_sinks,
            "position": cursors.get(name, 0),
            "behind": head - cursors.get(name, 0),
        }
        for name in sorted({SQL_SINK, *settings.all_sinks, *cursors})
    ]
    if as_json:
        print_json(
            {
                "records": sum(counts.values()),
                "by_kind": counts,
                "last_position": head,
                "sinks": sinks,
            }
        )
        return
    table = Table(title=f"event log: {sum(counts.values())} record(s), last position {head}")
    for column in ("sink", "enabled", "position", "behind"):
        table.add_column(column, no_wrap=True)
    for sink in sinks:
        table.add_row(
            str(sink["sink"]),
            "yes" if sink["enabled"] else "no",
            str(sink["position"]),
            str(sink["behind"]),
        )
    console.print(table)
