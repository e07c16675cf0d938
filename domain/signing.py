"""Signatures on exported messages (the seed's "digital signatures for message integrity").

Every exported message carries ``X-Recoup-Signature: v1=<hex>``, an HMAC-SHA256 of
its exact body bytes under the tenant's export key, and ``X-Recoup-Key-Id`` naming
that key, so a consumer holding several keys (rotation) knows which one to use.
Consumers verify with ``verify`` (stdlib only: copy this file if you like).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Recoup-Signature"
KEY_ID_HEADER = "X-Recoup-Key-Id"
_SCHEME = "v1="


class SignatureError(ValueError):
    """The message is unsigned, signed with an unknown key, or altered."""


def sign(body: bytes, key: bytes, key_id: str) -> dict[str, str]:
    """The two signature headers for ``body``."""
    digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {SIGNATURE_HEADER: f"{_SCHEME}{digest}", KEY_ID_HEADER: key_id}


def verify(body: bytes, headers: Mapping[str, str | bytes], keys: Mapping[str, bytes]) -> str:
    """Check ``body`` against its signature headers; return the key id that signed it.

    ``headers`` may come from any broker (names are matched case-insensitively,
    values may be bytes); ``keys`` maps key ids to secrets. Raises
    ``SignatureError`` saying what is wrong.
    """
    found = {name.lower(): _text(value) for name, value in headers.items()}
    signature = found.get(SIGNATURE_HEADER.lower())
    key_id = found.get(KEY_ID_HEADER.lower())
    if not signature or not key_id:
        raise SignatureError(f"unsigned: no {SIGNATURE_HEADER} or {KEY_ID_HEADER} header")
    if key_id not in keys:
        raise SignatureError(f"unknown key id {key_id!r}")
    if not signature.startswith(_SCHEME):
        raise SignatureError(f"unknown signature scheme in {signature[:8]!r}")
    expected = hmac.new(keys[key_id], body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature[len(_SCHEME) :]):
        raise SignatureError("signature does not match the body: altered or wrong key")
    return key_id


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
