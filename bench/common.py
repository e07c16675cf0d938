"""What every benchmark shares: the machine it reports, the stack it starts, its children."""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, text

from bootstrap.devserver import DevServer, free_port, start_dev_server
from bootstrap.settings import REPO_ROOT, Settings
from simulators.crm import CrmSimulator
from simulators.payments import PaymentsSimulator
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAYMENTS_KEY = "sk_test_bench"
LEDGER_KEY = "crm_test_bench"


async def simulated_stack(
    stack: AsyncExitStack, root: Path, tag: str, twilio: TwilioSimulator, **overrides: Any
) -> tuple[DevServer, Settings]:
    """A dev server (its own SQLite file in ``root``, a free port) and, beside ``twilio``,
    the SMTP, payments and CRM simulators, all stopped with ``stack``; and the settings
    that point at them (``overrides`` on top), with a task-queue suffix of ``tag``'s own.
    """
    server = await start_dev_server(
        port=free_port(), ui_port=None, db_file=root / "temporal.db", log_file=root / "t.log"
    )
    stack.push_async_callback(server.stop)
    smtp = SmtpSimulator()
    payments = PaymentsSimulator(PAYMENTS_KEY)
    crm = CrmSimulator(LEDGER_KEY)
    for sim in (smtp, twilio, payments, crm):
        await sim.start()
        stack.push_async_callback(sim.stop)
    await smtp.start_api()  # the mail provider's records, for reconciliation
    settings = Settings(
        **{
            "temporal_address": server.address,
            "task_queue_suffix": f"-{tag}-{uuid.uuid4().hex[:8]}",
            "data_dir": root / "recoup",
            "database_url": None,
            "smtp_port": smtp.port,
            "mail_events_url": smtp.api_url,
            "twilio_base_url": twilio.base_url,
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "payments_base_url": payments.base_url,
            "payments_api_key": PAYMENTS_KEY,
            "ledger_base_url": crm.base_url,
            "ledger_api_key": LEDGER_KEY,
            **overrides,
        }
    )
    settings.data_dir.mkdir(parents=True)
    return server, settings


def _admin(statement: str) -> None:
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def create_database(prefix: str) -> tuple[str, str]:
    """A fresh PostgreSQL database on the machine's server: (name, URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    return name, POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_command(
    argv: Sequence[str], env: Mapping[str, str], log_path: Path, ok: Collection[int] = (0,)
) -> dict[str, float]:
    """``python -m <argv>`` in a child process, as an operator runs it; its wall time,
    peak RSS and CPU time, from the child's own resource usage (``wait4``: exact, not
    sampled). Raises naming the log when it exits with a code not in ``ok``."""
    began = time.monotonic()
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *argv],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=REPO_ROOT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {process.returncode}; see {log_path}")
    return {
        "seconds": round(time.monotonic() - began, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "exit_code": process.returncode,
    }


def recoup_env(settings: Settings) -> dict[str, str]:
    """The environment of a ``recoup`` child process (worker, API, launch) that serves
    what ``settings`` point at: this process's own RECOUP_* variables left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update(
        RECOUP_TEMPORAL_ADDRESS=settings.temporal_address,
        RECOUP_TASK_QUEUE_SUFFIX=settings.task_queue_suffix,
        RECOUP_DATA_DIR=str(settings.data_dir),
        RECOUP_SMTP_PORT=str(settings.smtp_port),
        RECOUP_MAIL_EVENTS_URL=settings.mail_events_url or "",
        RECOUP_TWILIO_BASE_URL=settings.twilio_base_url,
        RECOUP_TWILIO_ACCOUNT_SID=settings.twilio_account_sid,
        RECOUP_TWILIO_AUTH_TOKEN=settings.twilio_auth_token,
        RECOUP_CALL_POLL_SECONDS=str(settings.call_poll_seconds),
        RECOUP_PAYMENTS_BASE_URL=settings.payments_base_url,
        RECOUP_PAYMENTS_API_KEY=settings.payments_api_key,
        RECOUP_LEDGER_BASE_URL=settings.ledger_base_url,
        RECOUP_LEDGER_API_KEY=settings.ledger_api_key,
    )
    if settings.database_url:
        env["RECOUP_DATABASE_URL"] = settings.database_url
    return env


def machine() -> str:
    """The machine a figure came from: OS, architecture and CPU model."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return f"{platform.system()} {platform.machine()} {cpu}".strip()


class Child:
    """A child process that prints ``marker`` once it serves; stopped with SIGTERM."""

    def __init__(
        self, name: str, args: Sequence[str], env: Mapping[str, str], log_path: Path, marker: str
    ) -> None:
        self.name = name
        self._args = list(args)
        self._env = {**env, "PYTHONUNBUFFERED": "1"}
        self._log_path = log_path
        self._marker = marker
        self._log: IO[bytes] | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    async def start(self, ready_within: float = 90.0) -> None:
        self._log = self._log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            *self._args,
            stdout=self._log,
            stderr=self._log,
            stdin=asyncio.subprocess.DEVNULL,
            env=self._env,
            cwd=REPO_ROOT,
            start_new_session=True,  # a Ctrl-C meant for the benchmark does not reach it
        )
        deadline = time.monotonic() + ready_within
        while self._marker not in self._log_path.read_text(errors="replace"):
            if self._process.returncode is not None or time.monotonic() > deadline:
                tail = self._log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not come up:\n{tail}")
            await asyncio.sleep(0.1)

    async def stop(self, grace: float = 60.0) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
