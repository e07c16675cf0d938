"""The payload codec's key ring: which AES-256 keys exist and which one encrypts.

Two sources, chosen by the settings:

- ``RECOUP_CODEC_KEYS`` (``{"key id": "<base64 of 32 bytes>"}``) with
  ``RECOUP_CODEC_KEY_ID`` naming the encrypting key: production, where an operator's
  secret manager holds the keys and rotates them;
- otherwise the key ring file ``codec-keys.json`` in the data directory, created
  with one random key (mode 0600) the first time a process needs it, and rotated by
  ``recoup keys rotate``: the new key encrypts, older keys stay for decryption.

Pure file I/O: no Temporal here (``bootstrap.codec`` turns a ring into a codec).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bootstrap.settings import Settings

KEY_BYTES = 32  # AES-256
RING_FILE = "codec-keys.json"
RING_VERSION = 1


class KeyRingError(ValueError):
    """The key ring is missing, unreadable or inconsistent; the message says how."""


class MissingKeyRing(KeyRingError):
    """No key ring file at ``path``, and the caller may not create one."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no codec key ring at {path} yet (the first worker or `recoup keys rotate` creates it)"
        )
        self.path = path


@dataclass(frozen=True)
class CodecKey:
    key_id: str
    secret: bytes = field(repr=False)
    created_at: datetime | None = None


@dataclass(frozen=True)
class KeyRing:
    """Every key that may decrypt, and the one that encrypts (``active``)."""

    active: str
    keys: Mapping[str, CodecKey]
    source: str  # "environment" or the ring file's path

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyRingError(
                f"the active codec key {self.active!r} is not in the key ring "
                f"({self.source}; it has {', '.join(self.keys) or 'no keys'})"
            )

    @property
    def active_key(self) -> CodecKey:
        return self.keys[self.active]

    def get(self, key_id: str) -> CodecKey | None:
        return self.keys.get(key_id)


def ring_path(settings: Settings) -> Path:
    return settings.data_dir / RING_FILE


def uses_environment(settings: Settings) -> bool:
    """Keys come from RECOUP_CODEC_KEYS (an operator's secret manager), not the file."""
    return bool(settings.codec_keys)


def new_key_id(now: datetime | None = None) -> str:
    """A sortable, unique id: ``k-20260102T030405-1a2b3c``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"k-{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def new_secret() -> str:
    """A fresh key, base64 of 32 random bytes (the form RECOUP_CODEC_KEYS takes)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def decode_secret(key_id: str, encoded: str) -> bytes:
    """The key's bytes; errors name the key id, never the secret."""
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyRingError(f"codec key {key_id!r} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyRingError(
            f"codec key {key_id!r} is {len(raw)} bytes; AES-256 needs {KEY_BYTES} "
            "(base64 of 32 random bytes, e.g. from `recoup keys rotate`)"
        )
    return raw


def from_settings(settings: Settings) -> KeyRing:
    """The ring RECOUP_CODEC_KEYS and RECOUP_CODEC_KEY_ID describe."""
    keys = {
        key_id: CodecKey(key_id, decode_secret(key_id, secret.get_secret_value()))
        for key_id, secret in settings.codec_keys.items()
    }
    if not keys:
        raise KeyRingError("RECOUP_CODEC_KEYS is empty")
    active = settings.codec_key_id
    if active is None:
        if len(keys) > 1:
            raise KeyRingError(
                f"RECOUP_CODEC_KEYS has {len(keys)} keys ({', '.join(keys)}): set "
                "RECOUP_CODEC_KEY_ID to the one that encrypts"
            )
        [active] = keys
    elif active not in keys:
        raise KeyRingError(
            f"RECOUP_CODEC_KEY_ID is {active!r}, which RECOUP_CODEC_KEYS does not hold "
            f"(it has {', '.join(keys)})"
        )
    return KeyRing(active=active, keys=keys, source="environment")


def load(settings: Settings, *, create: bool = True) -> KeyRing:
    """The deployment's ring: from the settings when they hold keys, else from the file."""
    if uses_environment(settings):
        return from_settings(settings)
    return load_file(ring_path(settings), create=create)


# --- the ring file ---------------------------------------------------------------------


def _parse(path: Path, text: str) -> KeyRing:
    try:
        document = json.loads(text)
        active = document["active"]
        entries = document["keys"]
        keys: dict[str, CodecKey] = {}
        for entry in entries:
            key_id = str(entry["id"])
            created = entry.get("created_at")
            keys[key_id] = CodecKey(
                key_id,
                decode_secret(key_id, str(entry["secret"])),
                datetime.fromisoformat(created) if created else None,
            )
    except KeyRingError as exc:
        raise KeyRingError(f"{path}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyRingError(f"{path} is not a Recoup codec key ring: {exc!r}") from exc
    return KeyRing(active=str(active), keys=keys, source=str(path))


def _render(ring: KeyRing) -> str:
    document: dict[str, Any] = {
        "version": RING_VERSION,
        "active": ring.active,
        "keys": [
            {
                "id": key.key_id,
                "secret": base64.b64encode(key.secret).decode(),
                "created_at": key.created_at.isoformat() if key.created_at else None,
            }
            for key in ring.keys.values()
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _write(path: Path, ring: KeyRing) -> None:
    """Replace the file atomically; the secret never sits in a world-readable file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_render(ring))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise creation and rotation between processes (a worker, the CLI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # closing releases the lock


def _fresh_key(now: datetime | None = None) -> CodecKey:
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return CodecKey(new_key_id(moment), base64.b64decode(new_secret()), moment)


def load_file(path: Path, *, create: bool = True) -> KeyRing:
    """Read the ring file; create it with one random key when missing and ``create``."""
    try:
        return _parse(path, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if not create:
            raise MissingKeyRing(path) from None
    with _locked(path):
        if path.exists():  # another process created it meanwhile
            return _parse(path, path.read_text(encoding="utf-8"))
        key = _fresh_key()
        ring = KeyRing(active=key.key_id, keys={key.key_id: key}, source=str(path))
        _write(path, ring)
        return ring


def save_file(path: Path, ring: KeyRing) -> None:
    """Write ``ring`` as the ring file at ``path`` (replacing one that is there)."""
    with _locked(path):
        _write(path, ring)


def rotate_file(path: Path, now: datetime | None = None) -> tuple[KeyRing, bool]:
    """Add a new key and make it the encrypting one; older keys stay to decrypt.

    Returns the new ring and whether the file was created (a first key, nothing rotated).
    """
    with _locked(path):
        if not path.exists():
            key = _fresh_key(now)
            ring = KeyRing(active=key.key_id, keys={key.key_id: key}, source=str(path))
            _write(path, ring)
            return ring, True
        old = _parse(path, path.read_text(encoding="utf-8"))
        key = _fresh_key(now)
        while key.key_id in old.keys:  # two rotations in one second
            key = _fresh_key(now)
        ring = KeyRing(active=key.key_id, keys={**old.keys, key.key_id: key}, source=str(path))
        _write(path, ring)
        return ring, False


class KeyRingSource:
    """The current ring for a long-lived process.

    A file ring is re-read when the file changes (checked at most every
    ``check_seconds``, and at once when a payload names a key this process has not
    seen), so ``recoup keys rotate`` reaches running workers without a restart.

    ``create``: whether this process may make the ring file when there is none (workers,
    ``recoup dev``); a command that only sends to workers may not, since a key of its
    own would encrypt what they cannot read (``MissingKeyRing``).
    """

    def __init__(
        self, settings: Settings, *, check_seconds: float = 1.0, create: bool = True
    ) -> None:
        self._path: Path | None = None if uses_environment(settings) else ring_path(settings)
        self._ring = load(settings, create=create)
        self._check_seconds = check_seconds
        self._checked = time.monotonic()
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def current(self) -> KeyRing:
        if self._path is not None and time.monotonic() - self._checked >= self._check_seconds:
            self._refresh()
        return self._ring

    def reload(self) -> KeyRing:
        """Re-read the file now (a payload named a key id this ring lacks)."""
        if self._path is not None:
            self._refresh()
        return self._ring

    def _refresh(self) -> None:
        assert self._path is not None
        self._checked = time.monotonic()
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return
        self._ring = load_file(self._path, create=False)
        self._stamp = stamp
