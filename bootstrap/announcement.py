"""What a running ``recoup dev`` tells the other commands: where its state is.

``recoup dev`` writes ``dev.json`` in the user's state directory
(``platformdirs.user_state_dir("recoup")``: ``$XDG_STATE_HOME/recoup`` or
``~/.local/state/recoup`` on Linux) once its stack is up, and removes it when it
stops, if the file is still its own. A command run from any directory reads it to
find the data directory, Temporal, the codec keys and the breakers of that stack
(``bootstrap.whereabouts``), instead of making a ``.recoup/`` of its own with a key
the workers do not have.

The file holds ids and addresses only, never a secret: the codec keys by id, a
Redis URL without its password. A file whose process is gone (``recoup dev`` was
killed) is ignored: ``read_live`` checks the pid.

Pure file I/O, no Temporal and no settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

ANNOUNCEMENT_FILE = "dev.json"
IN_PROCESS = "in-process"  # the breakers live inside the `recoup dev` process


class DevAnnouncement(BaseModel):
    """One running ``recoup dev``: where its state is and what it serves."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    started_at: datetime
    data_dir: str  # absolute
    temporal_address: str
    temporal_namespace: str
    temporal_ui_port: int
    api_url: str | None
    # "environment" (RECOUP_CODEC_KEYS), the key ring file's path, or "disabled".
    codec_source: str
    codec_key_ids: list[str]
    # IN_PROCESS, or the Redis URL (without a password) the breakers are shared in.
    breakers: str
    redis_prefix: str | None = None
    # The Redis URL had a password, which this file does not hold.
    redis_password_omitted: bool = False


def announcement_path() -> Path:
    return Path(platformdirs.user_state_dir("recoup")) / ANNOUNCEMENT_FILE


def without_password(url: str) -> tuple[str, bool]:
    """``url`` with its password removed, and whether there was one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, False
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}@{host}" if user else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), True


def write(announcement: DevAnnouncement, path: Path | None = None) -> Path:
    """Replace the announcement atomically; readable by this user only (it names paths)."""
    path = path or announcement_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(announcement.model_dump_json(indent=2) + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def read(path: Path | None = None) -> DevAnnouncement | None:
    """The announcement, alive or not; None when there is none or it is not readable
    (a file another version wrote, or cut short: as good as none)."""
    path = path or announcement_path()
    try:
        return DevAnnouncement.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, json.JSONDecodeError):
        return None


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_live(path: Path | None = None) -> DevAnnouncement | None:
    """The announcement of a ``recoup dev`` that is still running, else None."""
    found = read(path)
    return found if found is not None and alive(found.pid) else None


def remove_own(pid: int, path: Path | None = None) -> None:
    """Remove the announcement if process ``pid`` wrote it (a later ``recoup dev``
    may have replaced it: that one's stays)."""
    path = path or announcement_path()
    found = read(path)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def now() -> datetime:
    return datetime.now(UTC)
