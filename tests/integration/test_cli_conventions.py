"""The ``recoup`` command's conventions (issue 18, item 5): its version, JSON output,
whole lines when piped, exit codes for bad settings, Recoup's own words for what does
not exist, and suggestions for mistyped names.

Each test runs the real command in a process of its own with its output piped, as a
script would.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from tests.cli_support import plain_env, recoup


async def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = await recoup("--version", env=plain_env(tmp_path))
    assert result.code == 0, result.err
    assert result.out.strip() == f"recoup {version('recoup')}"
