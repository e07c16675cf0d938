"""``recoup dev`` and ``recoup worker``: run Recoup locally, or run workers anywhere."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from api.server import running_apis
from bootstrap import announcement, keyring
from bootstrap.announcement import IN_PROCESS, DevAnnouncement, without_password
from bootstrap.client import connect
from bootstrap.dev_breakers import LOCAL_REDIS_URL, dev_breakers
from bootstrap.metrics import runtime_for
from bootstrap.root import Root
from bootstrap.settings import Settings
from cli.common import console, fail, load_settings
from cli.stack import PLAINTEXT_TEMPORAL, embedded_stack, ensure_free, run_or_fail, stop_event
from service.tenants import tenant_store
from workers.run import Role, workers


def dev(
    port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal web UI port.")] = 8233,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the server's SQLite file, logs, mail and codec keys go; default: "
            "RECOUP_DATA_DIR, else ./.recoup. Announced to the other commands."
        ),
    ] = None,
    smtp_port: Annotated[int, typer.Option(help="SMTP simulator port.")] = 2525,
    mail_api_port: Annotated[
        int, typer.Option(help="Port of the SMTP simulator's events API (Mailgun-compatible).")
    ] = 2526,
    sms_port: Annotated[
        int, typer.Option(help="SMS/voice (Twilio-compatible) simulator port.")
    ] = 8765,
    payments_port: Annotated[
        int, typer.Option(help="Payments (Stripe-compatible) simulator port.")
    ] = 8766,
    ledger_port: Annotated[int, typer.Option(help="CRM ledger simulator port.")] = 8767,
    letter_port: Annotated[
        int, typer.Option(help="Letter (Lob-compatible print and mail) simulator port.")
    ] = 8768,
    api_port: Annotated[int, typer.Option(help="HTTP API port (docs, webhooks, codec).")] = 8080,
    grpc_port: Annotated[int, typer.Option(help="gRPC API port.")] = 50051,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the all-in-one worker too.")
    ] = True,
    api: Annotated[
        bool, typer.Option("--api/--no-api", help="Serve the HTTP and gRPC APIs.")
    ] = True,
) -> None:
    """Run the embedded stack until Ctrl-C: dev server + web UI, simulators, a worker, the APIs.

    State persists in DATA_DIR: a second `recoup dev` continues where the first stopped.
    The web UI shows decrypted payloads through the API's codec server. Other commands,
    run from any directory, find DATA_DIR through the file this announces (see `recoup
    where`). Breakers are shared in Redis (RECOUP_REDIS_URL, else the local one when it
    answers), else kept in this process.
    """
    base = load_settings()
    # Absolute: the announcement must mean the same directory from anywhere.
    data_dir = (data_dir or base.data_dir).absolute()
    api_url = f"http://127.0.0.1:{api_port}"
    ui_origins = [f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"]
    settings = base.model_copy(
        update={
            **PLAINTEXT_TEMPORAL,
            "temporal_address": f"127.0.0.1:{port}",
            "temporal_ui_port": ui_port,
            "data_dir": data_dir,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "mail_events_url": f"http://127.0.0.1:{mail_api_port}",
            "twilio_base_url": f"http://127.0.0.1:{sms_port}",
            "payments_base_url": f"http://127.0.0.1:{payments_port}",
            "ledger_base_url": f"http://127.0.0.1:{ledger_port}",
            "lob_base_url": f"http://127.0.0.1:{letter_port}",
            "api_host": "127.0.0.1",
            "api_port": api_port,
            "grpc_port": grpc_port,
            "api_public_url": None,
            "codec_cors_origins": sorted({*base.codec_cors_origins, *ui_origins}),
            # The simulators report to the API's webhooks, as the real providers would.
            "twilio_status_callback_url": (
                f"{api_url}/v1/webhooks/{{tenant}}/twilio/sms/status" if api else None
            ),
        }
    )

    async def main() -> None:
        nonlocal settings
        settings = settings.model_copy(update=await dev_breakers(settings, data_dir))
        codec_endpoint = None
        if api:
            ensure_free(api_port, "HTTP API")
            ensure_free(grpc_port, "gRPC API")
            ui_key = await asyncio.to_thread(dev_ui_key, settings)
            codec_endpoint = f"{api_url}/codec/key/{ui_key}"
        async with AsyncExitStack() as running:
            stack = await running.enter_async_context(
                embedded_stack(
                    settings,
                    db_file=data_dir / "temporal.db",
                    run_workers=worker,
                    ui_codec_endpoint=codec_endpoint,
                    payments_webhook_url=(
                        f"{api_url}/v1/webhooks/{DEV_TENANT}/payments" if api else None
                    ),
                    lob_webhook_url=f"{api_url}/v1/webhooks/{DEV_TENANT}/lob" if api else None,
                )
            )
            if api:
                await running.enter_async_context(running_apis(settings, stack.client))
            announced = announce(settings, api_url if api else None)
            if announced is not None:  # removed first when stopping: nothing serves after
                running.callback(announcement.remove_own, os.getpid(), announced)
            api_line = (
                f"[bold]API[/]        {api_url}/docs · gRPC 127.0.0.1:{grpc_port} · "
                f"console {api_url}/console · keys: recoup tenant create\n"
                if api
                else ""
            )
            console.print(
                Panel.fit(
                    f"[bold]Temporal[/]   {stack.server.address} (namespace "
                    f"{settings.temporal_namespace})\n"
                    f"[bold]Web UI[/]     {settings.ui_url}/workflows\n"
                    f"[bold]SMTP sim[/]   127.0.0.1:{smtp_port} (mail kept in "
                    f"{data_dir / 'mail.jsonl'})\n"
                    f"[bold]Mail API[/]   {stack.smtp.api_url}/v3/{settings.mail_domain}/events "
                    f"(what it accepted; RECOUP_MAIL_EVENTS_URL={stack.smtp.api_url})\n"
                    f"[bold]SMS/voice[/]  {stack.twilio.base_url}\n"
                    f"[bold]Letters[/]    {stack.lob.base_url} (Lob-compatible; "
                    f"RECOUP_LOB_BASE_URL={stack.lob.base_url})\n"
                    f"[bold]Payments[/]   {stack.payments.base_url} · ledger "
                    f"{stack.crm.base_url}\n"
                    f"[bold]Breakers[/]   {breakers_line(settings)}\n"
                    f"[bold]Worker[/]     {'all task queues' if worker else 'not started'}\n"
                    f"{api_line}"
                    f"[bold]Data[/]       {data_dir}"
                    f"{' (other commands find it from any directory)' if announced else ''}\n\n"
                    "Launch a campaign from another terminal:\n"
                    "  recoup campaign launch FILE.csv --playbook standard --day-seconds 60\n"
                    "Ctrl-C stops everything.",
                    title="recoup dev",
                )
            )
            await stop_event().wait()
            console.print("stopping…")

    run_or_fail(main())


def breakers_line(settings: Settings) -> str:
    if settings.redis_url:
        url, _ = without_password(settings.redis_url)
        return f"shared in Redis at {url} (keys {settings.redis_prefix}breaker:*)"
    return f"in this process (no Redis answered at {LOCAL_REDIS_URL}; RECOUP_REDIS_URL shares them)"


def announce(settings: Settings, api_url: str | None) -> Path | None:
    """Tell the other commands where this stack's state is; None if it could not be
    written (they then find it only from this directory)."""
    ring_ids: list[str] = []
    codec_source = "disabled"
    if settings.codec_enabled:
        ring = keyring.load(settings, create=False)  # the stack's clients made it
        ring_ids, codec_source = list(ring.keys), ring.source
    redis_url, omitted = (
        without_password(settings.redis_url) if settings.redis_url else (IN_PROCESS, False)
    )
    told = DevAnnouncement(
        pid=os.getpid(),
        started_at=announcement.now(),
        data_dir=str(settings.data_dir),
        temporal_address=settings.temporal_address,
        temporal_namespace=settings.temporal_namespace,
        temporal_ui_port=settings.temporal_ui_port,
        api_url=api_url,
        codec_source=codec_source,
        codec_key_ids=ring_ids,
        breakers=redis_url,
        redis_prefix=settings.redis_prefix if settings.redis_url else None,
        redis_password_omitted=omitted,
    )
    try:
        return announcement.write(told)
    except OSError as exc:
        console.print(f"[yellow]note:[/] could not announce the data directory: {exc}")
        return None


DEV_TENANT = "default"
_UI_KEY_LABEL = "web UI codec (recoup dev)"


def dev_ui_key(settings: Settings) -> str:
    """A fresh key for the web UI's codec calls; the previous run's is revoked.

    The web UI sends no credentials to a codec server, so its endpoint URL carries
    this key; it belongs to the dev tenant and lives as long as this ``recoup dev``.
    """
    with Root(settings) as root:
        store = tenant_store(root)
        # The dev tenant follows RECOUP_COLLECTOR_NAME and RECOUP_CREDITOR_NAME of each run.
        tenant = settings.tenant(DEV_TENANT)
        if not store.create_tenant(tenant):
            store.update_tenant(tenant)
        for key in store.keys(DEV_TENANT):
            if key.label == _UI_KEY_LABEL and key.active:
                store.revoke(key.key_id)
        return store.create_key(DEV_TENANT, _UI_KEY_LABEL).token


def worker(
    role: Annotated[
        list[Role] | None,
        typer.Option("--role", "-r", help="Task queue role(s) to serve; default: all."),
    ] = None,
) -> None:
    """Run workers against RECOUP_TEMPORAL_ADDRESS until Ctrl-C (one role per process scales).

    It refuses to start, with one line, when a setting is wrong (exit 2: a database URL
    that cannot work, codec keys that do not fit) or when Temporal, the database or
    Redis (RECOUP_REDIS_URL, when set) does not answer (exit 1).
    """
    settings = load_settings()
    roles = role or list(Role)

    async def main() -> None:
        try:
            client = await connect(settings, runtime_for(settings.metrics_bind))
        except RuntimeError as exc:  # TemporalConnectError names the address and TLS mode
            fail(str(exc))
        if settings.metrics_bind:
            console.print(f"metrics at http://{settings.metrics_bind}/metrics")
        stop = stop_event()
        names = ", ".join(settings.queues.model_dump()[r.value] for r in roles)
        async with workers(client, settings, roles) as built, AsyncExitStack() as running:
            for w in built:
                await running.enter_async_context(w)
            # Printed once the stores answered and the workers poll: a script waiting
            # for this line knows the worker is up.
            console.print(f"worker serving {names} on {settings.temporal_address}; Ctrl-C stops")
            await stop.wait()

    run_or_fail(main())
