"""``recoup dev`` and ``recoup worker``: run Recoup locally, or run workers anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from cli.common import console, fail, load_settings, run
from cli.stack import PortInUse, embedded_stack, stop_event
from workers.client import connect
from workers.devserver import DevServerError
from workers.metrics import runtime_for
from workers.run import Role, run_until_stopped


def dev(
    port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal web UI port.")] = 8233,
    data_dir: Annotated[
        Path, typer.Option(help="Where the server's SQLite file, logs and mail go.")
    ] = Path(".recoup"),
    smtp_port: Annotated[int, typer.Option(help="SMTP simulator port.")] = 2525,
    sms_port: Annotated[
        int, typer.Option(help="SMS/voice (Twilio-compatible) simulator port.")
    ] = 8765,
    payments_port: Annotated[
        int, typer.Option(help="Payments (Stripe-compatible) simulator port.")
    ] = 8766,
    ledger_port: Annotated[int, typer.Option(help="CRM ledger simulator port.")] = 8767,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the all-in-one worker too.")
    ] = True,
) -> None:
    """Run the embedded stack until Ctrl-C: dev server + web UI, simulators, a worker.

    State persists in DATA_DIR: a second `recoup dev` continues where the first stopped.
    """
    settings = load_settings().model_copy(
        update={
            "temporal_address": f"127.0.0.1:{port}",
            "temporal_ui_port": ui_port,
            "data_dir": data_dir,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "twilio_base_url": f"http://127.0.0.1:{sms_port}",
            "payments_base_url": f"http://127.0.0.1:{payments_port}",
            "ledger_base_url": f"http://127.0.0.1:{ledger_port}",
        }
    )

    async def main() -> None:
        async with embedded_stack(
            settings, db_file=data_dir / "temporal.db", run_workers=worker
        ) as stack:
            console.print(
                Panel.fit(
                    f"[bold]Temporal[/]   {stack.server.address} (namespace "
                    f"{settings.temporal_namespace})\n"
                    f"[bold]Web UI[/]     {settings.ui_url}/workflows\n"
                    f"[bold]SMTP sim[/]   127.0.0.1:{smtp_port} (mail kept in "
                    f"{data_dir / 'mail.jsonl'})\n"
                    f"[bold]SMS/voice[/]  {stack.twilio.base_url}\n"
                    f"[bold]Payments[/]   {stack.payments.base_url} · ledger "
                    f"{stack.crm.base_url}\n"
                    f"[bold]Breakers[/]   "
                    f"{'shared in Redis' if settings.redis_url else 'in this process'}\n"
                    f"[bold]Worker[/]     {'all task queues' if worker else 'not started'}\n"
                    f"[bold]Data[/]       {data_dir.resolve()}\n\n"
                    "Launch a campaign from another terminal:\n"
                    "  recoup campaign launch FILE.csv --playbook standard --day-seconds 60\n"
                    "Ctrl-C stops everything.",
                    title="recoup dev",
                )
            )
            await stop_event().wait()
            console.print("stopping…")

    try:
        run(main())
    except (PortInUse, DevServerError) as exc:
        fail(str(exc))


def worker(
    role: Annotated[
        list[Role] | None,
        typer.Option("--role", "-r", help="Task queue role(s) to serve; default: all."),
    ] = None,
) -> None:
    """Run workers against RECOUP_TEMPORAL_ADDRESS until Ctrl-C (one role per process scales)."""
    settings = load_settings()
    roles = role or list(Role)

    async def main() -> None:
        try:
            client = await connect(settings, runtime_for(settings.metrics_bind))
        except RuntimeError as exc:
            fail(f"cannot reach Temporal at {settings.temporal_address}: {exc}")
        if settings.metrics_bind:
            console.print(f"metrics at http://{settings.metrics_bind}/metrics")
        names = ", ".join(settings.queues.model_dump()[r.value] for r in roles)
        console.print(f"worker serving {names} on {settings.temporal_address}; Ctrl-C stops")
        await run_until_stopped(client, settings, roles, stop_event())

    run(main())
