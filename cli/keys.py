"""``recoup keys``: the payload codec's key ring (PII in workflow histories is encrypted)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from bootstrap import keyring
from bootstrap.keyring import KeyRing, KeyRingError
from cli.common import console, fail, load_settings

app = typer.Typer(
    help="The keys that encrypt PII in workflow histories: list them, or rotate to a new one.",
    no_args_is_help=True,
)


def _note_disabled(enabled: bool) -> None:
    if not enabled:
        console.print("note: the codec is disabled (RECOUP_CODEC_ENABLED=false): nothing encrypts")


@app.command()
def rotate(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a new key the one that encrypts; older keys stay, so old histories still decrypt.

    With the key ring file (DATA_DIR/codec-keys.json, the default) the file gets the new
    key and running workers pick it up by themselves. With RECOUP_CODEC_KEYS set, your
    secret manager holds the keys: this prints a new key and the values to set instead.
    """
    settings = load_settings()
    if keyring.uses_environment(settings):
        _rotate_environment(settings.codec_keys.keys(), as_json)
        return
    path = keyring.ring_path(settings)
    try:
        ring, created = keyring.rotate_file(path)
    except (KeyRingError, OSError) as exc:
        fail(f"cannot rotate the codec key ring: {exc}")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "source": str(path),
                    "active": ring.active,
                    "created": created,
                    "keys": len(ring.keys),
                }
            )
        )
        return
    if created:
        console.print(f"created the codec key ring {path} with key {ring.active}")
    else:
        console.print(
            f"rotated {path}: {ring.active} now encrypts; {len(ring.keys) - 1} older key(s) "
            "kept to decrypt what they encrypted"
        )
        console.print("running workers and API servers pick the new key up by themselves")
    _note_disabled(settings.codec_enabled)


def _rotate_environment(existing: Any, as_json: bool) -> None:
    key_id, secret = keyring.new_key_id(), keyring.new_secret()
    keys = {old: "<unchanged>" for old in existing} | {key_id: secret}
    env = {"RECOUP_CODEC_KEYS": json.dumps(keys), "RECOUP_CODEC_KEY_ID": key_id}
    if as_json:
        typer.echo(
            json.dumps({"source": "environment", "key_id": key_id, "key": secret, "env": env})
        )
        return
    console.print(
        "RECOUP_CODEC_KEYS is set: the keys live in your secret manager, so nothing was written."
    )
    typer.echo(f"new key {key_id}: {secret}")
    console.print(
        "Set these (keep every old key: what it encrypted is unreadable without it), then "
        "restart the workers, the API and the CLI's environment:"
    )
    for name, value in env.items():
        typer.echo(f"  {name}='{value}'")


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Key ids, the one that encrypts and when each was made (never the secrets)."""
    settings = load_settings()
    try:
        ring: KeyRing = keyring.load(settings, create=False)
    except KeyRingError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "source": ring.source,
                    "active": ring.active,
                    "keys": [
                        {
                            "id": key.key_id,
                            "active": key.key_id == ring.active,
                            "created_at": key.created_at.isoformat() if key.created_at else None,
                        }
                        for key in ring.keys.values()
                    ],
                }
            )
        )
        return
    table = Table(title=f"codec keys ({ring.source})")
    for column in ("key id", "encrypts", "created"):
        table.add_column(column)
    for key in ring.keys.values():
        table.add_row(
            key.key_id,
            "yes" if key.key_id == ring.active else "decrypts only",
            f"{key.created_at:%Y-%m-%d %H:%M:%S %Z}" if key.created_at else "—",
        )
    console.print(table)
    _note_disabled(settings.codec_enabled)
