"""What every benchmark reports besides its figures."""

from __future__ import annotations

import platform
from pathlib import Path


def machine() -> str:
    """The machine a figure came from: OS, architecture and CPU model."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return f"{platform.system()} {platform.machine()} {cpu}".strip()
