"""Which data directory, Temporal, codec keys and breakers a command uses, and why.

Every command resolves them the same way (``cli.common.load_settings``):

1. what it is told: ``recoup --data-dir PATH``, ``RECOUP_DATA_DIR`` or ``.env``;
2. else the data directory of the running ``recoup dev`` that announced itself
   (``bootstrap.announcement``), when that stack serves the Temporal the command
   talks to: the same ``RECOUP_TEMPORAL_ADDRESS`` (and namespace), or none set, and
   then the command talks to that stack's Temporal as well;
3. else ``.recoup`` in the current directory.

A command that follows the announcement also shares that stack's breakers in Redis
unless it is given ``RECOUP_REDIS_URL`` itself.

``key_refusal`` is the check of a command that sends to running workers: it must not
make a key ring of its own (what it encrypted, they could not read), nor encrypt
with a key the announced stack's workers do not hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bootstrap import announcement, keyring
from bootstrap.announcement import IN_PROCESS, DevAnnouncement
from bootstrap.keyring import KeyRing, MissingKeyRing
from bootstrap.settings import Settings

DEFAULT_DATA_DIR = Path(".recoup")
DATA_DIR = "RECOUP_DATA_DIR"


@dataclass(frozen=True)
class Whereabouts:
    """The settings a command runs with, and where their state came from."""

    settings: Settings
    # How the data directory was chosen: DATA_DIR, "recoup dev" or "default".
    data_dir_source: str
    announcement_path: Path
    # The announcement as read (None: no file), whether its process still runs, and
    # whether this command follows it (the stack serves its Temporal).
    found: DevAnnouncement | None
    running: bool
    followed: bool

    @property
    def dev(self) -> DevAnnouncement | None:
        """The announced ``recoup dev`` this command talks to, if any."""
        return self.found if self.followed else None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.absolute()

    def announcement_state(self) -> str:
        """What the announcement says, for messages: none, stale, another stack, or used."""
        where = str(self.announcement_path)
        if self.found is None:
            return f"{where}: none (no `recoup dev` running)"
        pid = self.found.pid
        if not self.running:
            return f"{where}: `recoup dev` pid {pid} no longer runs"
        if not self.followed:
            return (
                f"{where}: `recoup dev` pid {pid} serves Temporal {self.found.temporal_address} "
                f"(namespace {self.found.temporal_namespace}), not "
                f"{self.settings.temporal_address} (namespace "
                f"{self.settings.temporal_namespace})"
            )
        return f"{where}: `recoup dev` pid {pid}, data directory {self.found.data_dir}"

    def looked(self) -> str:
        """Where the data directory was looked for, in order, and what was found."""
        if self.data_dir_source == DATA_DIR:
            told = os.environ.get(DATA_DIR)
            origin = f"{DATA_DIR}={told}" if told is not None else f"{DATA_DIR} in .env"
            return f"{origin} (given, so nothing else was looked at: {self.data_dir})"
        steps = [f"{DATA_DIR} (not set)", f"the announcement {self.announcement_state()}"]
        if self.data_dir_source == "default":
            steps.append(f"./{DEFAULT_DATA_DIR} in this directory ({self.data_dir})")
        return "; ".join(steps)

    def note(self) -> str | None:
        """One line to say that the data directory is `recoup dev`'s, when that is not
        the one in this directory (which a person would expect)."""
        dev = self.dev
        if dev is None or self.data_dir_source != "recoup dev":
            return None
        if Path(dev.data_dir).resolve() == DEFAULT_DATA_DIR.resolve():
            return None  # run from dev's own directory: nothing to say
        return (
            f"using the data directory of `recoup dev` (pid {dev.pid}): {dev.data_dir}, "
            f"Temporal {self.settings.temporal_address} (recoup --data-dir or "
            f"{DATA_DIR} to choose another)"
        )


def resolve(
    settings: Settings, *, follow_dev: bool = True, path: Path | None = None
) -> Whereabouts:
    """``settings`` completed from the announcement of a running ``recoup dev``.

    ``follow_dev`` is False for the commands that run a stack of their own (``recoup
    dev``, ``demo``, ``simulate``): they never take another stack's state.
    """
    path = path or announcement.announcement_path()
    told = settings.model_fields_set
    source = DATA_DIR if "data_dir" in told else "default"
    found = announcement.read(path) if follow_dev else None
    running = found is not None and announcement.alive(found.pid)
    if found is None or not running or not _serves(found, settings):
        return Whereabouts(settings, source, path, found, running, followed=False)
    update: dict[str, object] = {}
    for field, value in (
        ("temporal_address", found.temporal_address),
        ("temporal_namespace", found.temporal_namespace),
        ("temporal_ui_port", found.temporal_ui_port),
    ):
        if field not in told:
            update[field] = value
    if "data_dir" not in told:
        update["data_dir"] = Path(found.data_dir)
        source = "recoup dev"
    shared = found.breakers != IN_PROCESS and not found.redis_password_omitted
    if "redis_url" not in told and shared:
        update["redis_url"] = found.breakers
        if "redis_prefix" not in told and found.redis_prefix is not None:
            update["redis_prefix"] = found.redis_prefix
    return Whereabouts(
        settings.model_copy(update=update), source, path, found, running, followed=True
    )


def _serves(dev: DevAnnouncement, settings: Settings) -> bool:
    """Whether the announced stack is the Temporal (and namespace) ``settings`` name."""
    told = settings.model_fields_set
    if "temporal_address" in told and settings.temporal_address != dev.temporal_address:
        return False
    return "temporal_namespace" not in told or settings.temporal_namespace == dev.temporal_namespace


def key_refusal(where: Whereabouts, settings: Settings | None = None) -> str | None:
    """Why a command that sends to running workers must not run with these keys, or None.

    Raises ``KeyRingError`` for a ring that is there but unusable (its own message).
    """
    settings = settings or where.settings
    if not settings.codec_enabled:
        return None
    try:
        ring = keyring.load(settings, create=False)
    except MissingKeyRing as missing:
        return (
            f"no codec key ring at {missing.path.absolute()}, and this command does not "
            "make one: a new key would encrypt what it sends with a key the workers do not "
            f"have, and they could not read it. Looked at: {where.looked()}. Run it from "
            "the directory of `recoup dev`, or give that data directory (recoup --data-dir "
            f"PATH, or {DATA_DIR}), or start `recoup dev` first (`recoup keys rotate` makes "
            "a key ring on purpose)."
        )
    dev = where.dev
    if dev is None or dev.codec_source == "disabled" or _same_ring(ring, dev.codec_source):
        return None  # the same ring file: dev's workers re-read it when it changes
    if ring.active in dev.codec_key_ids:
        return None
    held = ", ".join(dev.codec_key_ids) or "no key"
    fix = (
        "unset RECOUP_CODEC_KEYS here, or give `recoup dev` the same RECOUP_CODEC_KEYS"
        if ring.source == "environment"
        else f"use its data directory (recoup --data-dir {dev.data_dir}), or give both the "
        "same RECOUP_CODEC_KEYS"
    )
    return (
        f"this command would encrypt with codec key {ring.active!r} ({_source(ring)}), but "
        f"the workers of `recoup dev` (pid {dev.pid}, Temporal {dev.temporal_address}) hold "
        f"only {held} ({dev.codec_source}) and could not read what it sends: {fix}."
    )


def _source(ring: KeyRing) -> str:
    return (
        "RECOUP_CODEC_KEYS" if ring.source == "environment" else str(Path(ring.source).absolute())
    )


def _same_ring(ring: KeyRing, dev_source: str) -> bool:
    if ring.source == "environment" or dev_source == "environment":
        return False
    return Path(ring.source).resolve() == Path(dev_source).resolve()
