"""One place for state (issue 18): every command finds the data directory, codec keys
and breakers of the running ``recoup dev`` from any directory, through the file it
announces (bootstrap.announcement, bootstrap.whereabouts), and refuses, exit 2, to
send what the workers could not read.

Each test writes the announcement as ``recoup dev`` does, in a user state directory of
its own (XDG_STATE_HOME), and runs the real ``recoup`` from a directory of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from temporalio.worker import Worker

from bootstrap import announcement, keyring
from bootstrap.announcement import IN_PROCESS, DevAnnouncement
from bootstrap.dev_breakers import LOCAL_REDIS_URL, dev_breakers, redis_answers
from bootstrap.devserver import free_port
from bootstrap.settings import Settings
from tests.api_support import eventually
from tests.cli_support import ROOT, env_for, plain_env, recoup
from tests.conftest import CODEC_KEY_ID

EXAMPLE = ROOT / "examples" / "portfolio.csv"


def announce(state: Path, settings: Settings, **fields: object) -> Path:
    """What `recoup dev` writes for ``settings``' stack, as this (living) process."""
    ring = keyring.load(settings, create=False)
    told = {
        "pid": os.getpid(),
        "started_at": announcement.now(),
        "data_dir": str(settings.data_dir.absolute()),
        "temporal_address": settings.temporal_address,
        "temporal_namespace": settings.temporal_namespace,
        "temporal_ui_port": settings.temporal_ui_port,
        "api_url": None,
        "codec_source": str(keyring.ring_path(settings).absolute()),
        "codec_key_ids": list(ring.keys),
        "breakers": IN_PROCESS,
    } | fields
    return announcement.write(
        DevAnnouncement.model_validate(told), state / "recoup" / announcement.ANNOUNCEMENT_FILE
    )


def elsewhere_env(settings: Settings, state: Path) -> dict[str, str]:
    """A shell in another directory: the stack's task queues and simulators, but neither
    its data directory, its Temporal address nor its keys."""
    env = env_for(settings)
    for told in ("RECOUP_DATA_DIR", "RECOUP_TEMPORAL_ADDRESS", "RECOUP_CODEC_KEYS"):
        env.pop(told)
    env.pop("RECOUP_CODEC_KEY_ID")
    return env | {"XDG_STATE_HOME": str(state)}


async def finished_pid() -> int:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await process.wait()
    return process.pid


async def test_a_launch_from_another_directory_uses_the_announced_data_directory(
    settings: Settings, running: list[Worker], tmp_path: Path
) -> None:
    state, shell = tmp_path / "xdg", tmp_path / "elsewhere"
    shell.mkdir()
    announce(state, settings)
    env = elsewhere_env(settings, state)
    tenant = f"where-{uuid.uuid4().hex[:6]}"
    launched = await recoup(
        "campaign", "launch", str(EXAMPLE), "--playbook", "standard", "--tenant", tenant,
        "--campaign-id", "from-elsewhere", "--day-seconds", "3600", "--json",
        env=env, cwd=shell,
    )  # fmt: skip
    assert launched.code == 0, launched.err
    assert json.loads(launched.out)["accounts"] == 5  # stdout stays one JSON document
    # Said once, on stderr: whose directory this is.
    assert "using the data directory of `recoup dev`" in launched.err
    assert str(settings.data_dir.absolute()) in launched.err
    assert not (shell / ".recoup").exists()  # no state, no key ring of its own
    # The workers read the portfolio where the launch stored it, and its payloads.
    shown = await eventually(
        lambda: recoup(
            "account", "show", "A-1001", "--tenant", tenant, "--json", env=env, cwd=shell
        ),
        lambda r: r.code == 0,
    )
    assert json.loads(shown.out)["account_id"] == "A-1001"

    where = await recoup("where", "--json", env=env, cwd=shell)
    assert where.code == 0, where.err
    found = json.loads(where.out)
    assert found["data_dir"] == str(settings.data_dir.absolute())
    assert found["temporal"]["address"] == settings.temporal_address
    assert found["codec"]["active"] == CODEC_KEY_ID and found["dev"]["followed"] is True


async def test_without_a_key_ring_or_a_running_dev_a_command_refuses_naming_where_it_looked(
    tmp_path: Path,
) -> None:
    state, shell = tmp_path / "xdg", tmp_path / "elsewhere"
    shell.mkdir()
    env = plain_env(tmp_path / "unused") | {"XDG_STATE_HOME": str(state)}
    env.pop("RECOUP_DATA_DIR")
    ring = shell / ".recoup" / "codec-keys.json"
    for command in (
        ("campaign", "launch", str(EXAMPLE), "--playbook", "standard"),
        ("account", "show", "A-1001"),
    ):
        refused = await recoup(*command, env=env, cwd=shell)
        assert refused.code == 2, refused.err
        [line] = refused.err.strip().splitlines()
        assert line.startswith(
            f"error: no codec key ring at {ring}, and this command does not make one"
        )
        assert "RECOUP_DATA_DIR (not set)" in line
        assert f"{state / 'recoup' / 'dev.json'}: none (no `recoup dev` running)" in line
        assert "recoup --data-dir PATH" in line
        assert refused.out == ""
        assert not ring.exists()
    assert not (shell / ".recoup").exists()  # the launch stored nothing either

    # An announcement whose `recoup dev` is gone is not followed, and says so.
    pid = await finished_pid()
    gone = Settings(data_dir=tmp_path / "gone", codec_keys={}, codec_key_id=None)
    keyring.load(gone)  # its ring exists: only the process is gone
    announce(state, gone, pid=pid)
    refused = await recoup("account", "show", "A-1001", env=env, cwd=shell)
    assert refused.code == 2, refused.err
    assert f"`recoup dev` pid {pid} no longer runs" in refused.err


async def test_keys_the_announced_workers_lack_are_refused_naming_both(
    settings: Settings, tmp_path: Path
) -> None:
    state = tmp_path / "xdg"
    # Dev's workers hold another key; this shell has the suite's in RECOUP_CODEC_KEYS.
    announce(state, settings, codec_source="environment", codec_key_ids=["dev-key-1"])
    env = env_for(settings) | {"XDG_STATE_HOME": str(state)}
    refused = await recoup("account", "show", "A-1001", env=env)
    assert refused.code == 2, refused.err
    assert f"would encrypt with codec key {CODEC_KEY_ID!r} (RECOUP_CODEC_KEYS)" in refused.err
    assert "hold only dev-key-1" in refused.err
    assert "Traceback" not in refused.err
    # `recoup api` sends to the same workers: it refuses too, before it serves anything.
    api = await recoup("api", "--port", str(free_port()), "--no-grpc", env=env)
    assert api.code == 2, api.err
    assert "hold only dev-key-1" in api.err


async def test_recoup_breakers_reads_the_announced_redis_or_says_they_live_in_dev(
    settings: Settings, tmp_path: Path
) -> None:
    state = tmp_path / "xdg"
    env = elsewhere_env(settings, state)
    announce(state, settings)  # dev found no Redis
    inside = await recoup("breakers", env=env, cwd=tmp_path)
    assert inside.code == 1, inside.err
    assert f"the breakers live inside the `recoup dev` process (pid {os.getpid()})" in inside.err
    assert "RECOUP_REDIS_URL" in inside.err

    prefix = f"recoup-where-{uuid.uuid4().hex[:8]}:"
    announce(state, settings, breakers=LOCAL_REDIS_URL, redis_prefix=prefix)
    shown = await recoup("breakers", "--json", env=env, cwd=tmp_path)
    assert shown.code == 0, shown.err
    listed = json.loads(shown.out)  # one document: a list
    assert {b["name"] for b in listed} == set(settings.breakers)
    assert {b["state"] for b in listed} == {"closed"}
    none = await recoup("breakers", "--json", env=env | {"RECOUP_BREAKERS": "{}"}, cwd=tmp_path)
    assert none.code == 0, none.err
    assert json.loads(none.out) == []


async def test_dev_shares_breakers_in_the_local_redis_under_a_prefix_of_its_own(
    tmp_path: Path,
) -> None:
    told = Settings(redis_url=None)
    shared = await dev_breakers(told, tmp_path / "a")
    assert shared["redis_url"] == LOCAL_REDIS_URL
    other = await dev_breakers(told, tmp_path / "b")
    assert shared["redis_prefix"] != other["redis_prefix"]  # two stacks, two sets
    assert str(shared["redis_prefix"]).startswith(f"{told.redis_prefix}dev-")
    # RECOUP_REDIS_URL given: as told, nothing to find.
    assert await dev_breakers(Settings(redis_url="redis://127.0.0.1:6379/3"), tmp_path) == {}
    # Nobody listening: in-process.
    assert not await redis_answers(f"redis://127.0.0.1:{free_port()}/0")
