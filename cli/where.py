"""``recoup where``: which data directory, keys, Temporal and breakers commands use, and why."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bootstrap import keyring
from bootstrap.announcement import IN_PROCESS, without_password
from bootstrap.keyring import KeyRingError, MissingKeyRing
from bootstrap.whereabouts import Whereabouts
from cli.common import JsonOption, console, load_settings, print_json, whereabouts
from workers.run import redact


def where(as_json: JsonOption = False) -> None:
    """Show where this shell's commands keep their state: the data directory and why
    (--data-dir, RECOUP_DATA_DIR, the running `recoup dev`, or ./.recoup), the codec
    keys, Temporal, the database and the circuit breakers."""
    settings = load_settings()
    found = facts(whereabouts(settings))
    if as_json:
        print_json(found)
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    codec = found["codec"]
    if codec["problem"]:
        keys = codec["problem"]
    elif codec["source"] == "disabled":
        keys = "disabled (RECOUP_CODEC_ENABLED=false)"
    else:
        keys = f"{codec['active']} encrypts; {', '.join(codec['key_ids'])} ({codec['source']})"
    breakers = found["breakers"]
    rows = [
        ("data directory", f"{found['data_dir']} ({found['data_dir_source']})"),
        ("codec keys", keys),
        (
            "Temporal",
            f"{found['temporal']['address']} (namespace {found['temporal']['namespace']})",
        ),
        ("database", found["database"]),
        ("breakers", breakers["description"]),
        ("recoup dev", found["dev"]["state"]),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table, highlight=False)


def facts(where: Whereabouts) -> dict[str, Any]:
    """What ``recoup where`` reports, never a secret (key ids, URLs without passwords)."""
    settings = where.settings
    codec: dict[str, Any] = {"source": "disabled", "active": None, "key_ids": [], "problem": None}
    if settings.codec_enabled:
        try:
            ring = keyring.load(settings, create=False)
        except MissingKeyRing as missing:
            codec["source"] = str(missing.path.absolute())
            codec["problem"] = (
                f"none yet at {codec['source']} (`recoup dev`, `recoup worker` or `recoup keys "
                "rotate` makes one)"
            )
        except KeyRingError as exc:
            codec["source"] = str(keyring.ring_path(settings).absolute())
            codec["problem"] = str(exc)
        else:
            source = "RECOUP_CODEC_KEYS" if ring.source == "environment" else ring.source
            codec.update(source=source, active=ring.active, key_ids=list(ring.keys))
    dev = where.dev
    store: dict[str, str | None]
    if settings.redis_url:
        url, _ = without_password(settings.redis_url)
        store = {
            "store": "redis",
            "url": url,
            "prefix": settings.redis_prefix,
            "description": f"shared in Redis at {url} (keys {settings.redis_prefix}breaker:*)",
        }
    elif dev is not None and dev.breakers == IN_PROCESS:
        store = {
            "store": IN_PROCESS,
            "url": None,
            "prefix": None,
            "description": f"inside the `recoup dev` process (pid {dev.pid}): only it sees them",
        }
    else:
        store = {
            "store": IN_PROCESS,
            "url": None,
            "prefix": None,
            "description": "in each worker process (RECOUP_REDIS_URL is not set)",
        }
    source = {
        "RECOUP_DATA_DIR": "RECOUP_DATA_DIR or --data-dir",
        "recoup dev": f"the running `recoup dev`'s, pid {dev.pid if dev else '?'}",
        "default": "./.recoup in this directory, the default",
    }[where.data_dir_source]
    return {
        "data_dir": str(where.data_dir),
        "data_dir_source": source,
        "codec": codec,
        "temporal": {
            "address": settings.temporal_address,
            "namespace": settings.temporal_namespace,
        },
        "database": redact(settings.sql_url),
        "breakers": store,
        "dev": {
            "announcement": str(where.announcement_path),
            "pid": where.found.pid if where.found else None,
            "running": where.running,
            "followed": where.followed,
            "state": where.announcement_state(),
        },
    }
