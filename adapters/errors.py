"""Errors raised by adapters, classified once so activities need not guess."""

from __future__ import annotations


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
