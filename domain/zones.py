"""IANA time-zone names, checked once where they enter the system."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_zones(zones: list[str]) -> list[str]:
    """Return ``zones`` unchanged, or raise ValueError naming the first unknown one."""
    for zone in zones:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {zone!r} (use IANA names like America/New_York)"
            ) from exc
    return zones
