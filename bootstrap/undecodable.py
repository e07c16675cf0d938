"""A payload a worker cannot decode: a named failure, and one log line per key id.

When a payload was encrypted with a key this worker's ring does not hold (or does not
decrypt), the SDK fails the task with the codec's ``CodecKeyError``:

- for an activity, as a retryable ``ApplicationError("Failed decoding arguments")``
  caused by it: retried forever, each attempt failing the same way. Here it becomes
  a non-retryable ``ApplicationError`` of type ``CodecKeyError`` whose message names
  the key id and the ids the worker has, so the workflow sees a named failure at once;
- for a workflow task, as the ``CodecKeyError`` itself. Temporal retries a failed
  workflow task until a worker can run it (it cannot be made final without failing
  the workflow, which a missing key on one worker must not do), so the failure only
  gets its name and a message the web UI shows without the codec server.

Both messages stay in plaintext, outside the failure's encoded attributes: they hold
key ids and a key ring's path, never a payload, and the operator must read them even
when nothing can decode (the web UI's codec server may lack the key too).

The SDK logs every failed attempt with a traceback; ``quiet_undecodable_logs`` keeps
the first one per key id, as one line, and drops the rest (a ``logging.Filter`` on the
SDK's loggers, the standard way to shape another library's logs).
"""

from __future__ import annotations

import logging
import threading

from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes, PayloadConverter
from temporalio.exceptions import ApplicationError

FAILURE_TYPE = "CodecKeyError"
# The SDK's loggers of a failed workflow activation and a failed activity.
SDK_LOGGERS = ("temporalio.worker._workflow", "temporalio.activity")


class CodecKeyError(ValueError):
    """A payload cannot be decrypted: its key is unknown, or the key does not fit.

    ``key_id`` names the key the payload was encrypted with (None when the payload
    did not say).
    """

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


def undecodable(error: BaseException | None) -> CodecKeyError | None:
    """The codec's error behind ``error``: itself (a workflow task), or the cause of the
    SDK's "Failed decoding arguments" (an activity); None for any other error."""
    if isinstance(error, CodecKeyError):
        return error
    if isinstance(error, ApplicationError) and isinstance(error.__cause__, CodecKeyError):
        return error.__cause__
    return None


def named(error: BaseException) -> ApplicationError | None:
    """The failure a worker reports for ``error`` when it could not decode a payload."""
    cause = undecodable(error)
    if cause is None:
        return None
    if isinstance(error, ApplicationError):  # the SDK's wrapper of an activity's input
        return ApplicationError(
            f"this worker cannot decode the activity's input: {cause}",
            type=FAILURE_TYPE,
            non_retryable=True,  # every attempt would fail the same way
        )
    return ApplicationError(f"this worker cannot decode a payload: {cause}", type=FAILURE_TYPE)


class NamedDecodeFailures(DefaultFailureConverterWithEncodedAttributes):
    """Encoded failure messages (PII stays ciphertext), except a decode failure's, which
    is named, final for an activity, and readable without the codec."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        replacement = named(exception)
        if replacement is None:
            super().to_failure(exception, payload_converter, failure)
            return
        super().to_failure(replacement, payload_converter, failure)
        failure.message = replacement.message  # also in the encoded attributes, as usual


class OncePerKeyId(logging.Filter):
    """Lets through the first record of a decode failure per key id, as one line."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self._what = what
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # activities may log from their threads

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        cause = undecodable(error)
        if cause is None:
            return True
        key = cause.key_id or str(cause)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        record.msg = "%s fail: %s (logged once per key id; each retry fails alike until fixed)"
        record.args = (self._what, cause)
        record.exc_info = None
        record.exc_text = None
        return True


def quiet_undecodable_logs() -> None:
    """Install the filters on the SDK's loggers, once per process."""
    for name, what in zip(SDK_LOGGERS, ("workflow tasks", "activities"), strict=True):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OncePerKeyId) for f in logger.filters):
            logger.addFilter(OncePerKeyId(what))
