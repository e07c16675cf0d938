"""Letters as the print-and-mail provider (Lob) reports them: its signed webhooks.

The signature check and the address key are the Lob adapter's, re-exported unchanged for
the webhooks, so that ``api/`` stands on the service layer only.
"""

from __future__ import annotations

from adapters.lob import SIGNATURE_HEADER, TIMESTAMP_HEADER, LobSignatureError, one_line
from adapters.lob import verify_lob_signature as verify_signature

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "LobSignatureError",
    "one_line",
    "verify_signature",
]
