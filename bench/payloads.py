"""Payloads: what a campaign's activity inputs weigh once deflated, and what references could save.

Run: ``.venv/bin/python -m bench.payloads [--history tests/histories/standard.after-issue-15.json]``

Reads a recorded campaign history (``tests/record_histories.py``; its payloads are
encrypted with the tests' codec key), decrypts every activity input and deflates it as
the codec does (``bootstrap.codec``: zlib before AES-GCM). For each contact input it
then deflates the same input twice more: without the export records it carries
(``export.pending``), and also without the facts the gate decided on and the message
context (``compliance``, ``message``). The differences bound what any scheme of
references could save: records the workflow made must reach the event log in some
payload, and the facts are the evidence ``recoup compliance audit`` reads back from the
history.

Prints one JSON line: per campaign, the deflated bytes of all activity inputs (the
baseline), of the records in them and of the facts and message context, and each as a
ratio of the baseline; ``packing_*``: the records' plain and deflated bytes, to show
what writing their shared envelope once could still take out of them after deflate.
"""

from __future__ import annotations

import argparse
import base64
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from temporalio.api.common.v1 import Payload

from bench.suite import ROOT as REPO_ROOT
from bootstrap.codec import EncryptionCodec
from bootstrap.keyring import from_settings
from bootstrap.settings import Settings

DEFAULT_HISTORY = REPO_ROOT / "tests" / "histories" / "standard.after-issue-15.json"
# The key the recorded histories are encrypted with: the tests' (tests/conftest.py; a
# test checks the two agree). A benchmark does not import the tests.
HISTORY_KEY_ID = "test-1"
HISTORY_KEY = "SXzobI59RxeOqhT1MIWaGBK8N8jb7IBhRIsPTvMRmMM="


def _deflated(value: Any) -> int:
    return len(zlib.compress(json.dumps(value, separators=(",", ":")).encode()))


def activity_inputs(history: Path) -> list[tuple[str, Any]]:
    """Every scheduled activity's name and its decrypted JSON input, in order."""
    settings = Settings(
        codec_keys={HISTORY_KEY_ID: SecretStr(HISTORY_KEY)}, codec_key_id=HISTORY_KEY_ID
    )
    codec = EncryptionCodec(from_settings(settings))
    found: list[tuple[str, Any]] = []
    for event in json.loads(history.read_text())["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if not scheduled:
            continue
        for raw in scheduled.get("input", {}).get("payloads", []):
            payload = Payload(
                metadata={k: base64.b64decode(v) for k, v in raw["metadata"].items()},
                data=base64.b64decode(raw.get("data", "")),
            )
            [plain] = codec.decrypt([payload])
            found.append((scheduled["activityType"]["name"], json.loads(plain.data)))
    return found


def measure(history: Path) -> dict[str, Any]:
    inputs = activity_inputs(history)
    total = records = facts = 0
    records_plain = records_deflated = 0
    contacts = 0
    for _, value in inputs:
        size = _deflated(value)
        total += size
        export = value.get("export") if isinstance(value, dict) else None
        if not export:
            continue
        contacts += 1
        pending = export.get("pending", [])
        without_records = {**value, "export": {**export, "pending": []}}
        bare = {**without_records, "compliance": {}, "message": {}}
        records += size - _deflated(without_records)
        facts += _deflated(without_records) - _deflated(bare)
        records_plain += len(json.dumps(pending, separators=(",", ":")))
        records_deflated += _deflated(pending)
    return {
        "benchmark": "payloads",
        "history": str(history.relative_to(REPO_ROOT)),
        "activity_inputs": len(inputs),
        "contact_inputs": contacts,
        "inputs_deflated_bytes": total,
        "records_deflated_bytes": records,
        "records_ratio": round(records / total, 3),
        "facts_and_message_deflated_bytes": facts,
        "facts_and_message_ratio": round(facts / total, 3),
        "packing_records_plain_bytes": records_plain,
        "packing_records_deflated_bytes": records_deflated,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.history.resolve())))


if __name__ == "__main__":
    main()
