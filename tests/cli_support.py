"""Running the real ``recoup`` command from tests, as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bootstrap.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that points a ``recoup`` process at the same stack as ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update(
        {
            "RECOUP_TEMPORAL_ADDRESS": settings.temporal_address,
            "RECOUP_TASK_QUEUE_SUFFIX": settings.task_queue_suffix,
            "RECOUP_DATA_DIR": str(settings.data_dir),
            "RECOUP_SMTP_PORT": str(settings.smtp_port),
            "RECOUP_MAIL_EVENTS_URL": settings.mail_events_url or "",
            "RECOUP_TWILIO_BASE_URL": settings.twilio_base_url,
            "RECOUP_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "RECOUP_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
            "RECOUP_LOB_BASE_URL": settings.lob_base_url,
            "RECOUP_LOB_API_KEY": settings.lob_api_key.get_secret_value(),
            # The same codec keys as the test's workers, or the CLI could not read them.
            "RECOUP_CODEC_KEYS": json.dumps(
                {k: v.get_secret_value() for k, v in settings.codec_keys.items()}
            ),
            "RECOUP_CODEC_KEY_ID": settings.codec_key_id or "",
            "COLUMNS": "200",  # rich wraps at the terminal width; keep lines whole
            "NO_COLOR": "1",
        }
    )
    return env


async def recoup(
    *args: str, env: dict[str, str], within: float = 60.0, cwd: Path | None = None
) -> Result:
    """Run ``recoup ARGS`` without blocking the event loop the test's workers run on
    (from the repository, or ``cwd``)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=cwd or ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


HEADER = (
    "account_id,name,email,phone,amount_due,currency,due_date,timezone,state,"
    "language,sms_consent,voice_consent"
)


def plain_env(data_dir: Path) -> dict[str, str]:
    """The environment of a ``recoup`` that needs no running service: no RECOUP_* setting
    but its own data directory, and no COLUMNS, so its output is what a pipe gets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_") and k != "COLUMNS"}
    env.update({"RECOUP_DATA_DIR": str(data_dir), "NO_COLOR": "1"})
    return env
