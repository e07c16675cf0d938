"""Errors raised by adapters, classified once so activities need not guess."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class AdapterError(Exception):
    """Base of every adapter error."""


class ProviderError(AdapterError):
    """A provider (SMTP server, SMS/voice API, ...) refused or failed a request.

    ``retryable`` is False for failures that will never succeed on retry
    (invalid number, hard bounce, opted-out address, most 4xx); True for
    outages, timeouts, 5xx and rate limiting.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        provider: str,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.provider = provider
        self.status_code = status_code
        self.code = code


class TemplateError(AdapterError):
    """A template is missing, fails to render, or lacks a required disclosure."""


def unknown_name(kind: str, name: str, known: Iterable[str], *, place: str = "") -> str:
    """``unknown playbook 'standrd'; did you mean 'standard'? (known in DIR: demo, standard)``.

    One wording for every name looked up in a list (playbooks, tenants), so that a typo
    gets the same help wherever it is made; the suggestion is left out when no known
    name is close. ``place``: where the known names were looked for, if it helps.
    """
    names = sorted(set(known))
    close = get_close_matches(name, names, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(names) if names else "none"
    where = f" in {place}" if place else ""
    return f"unknown {kind} {name!r}{guess} (known{where}: {listed})"
