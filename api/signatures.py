"""Webhook signatures: compute and verify them, pure functions, constant-time compares.

Two schemes, each exactly as its provider documents it:

- **Twilio** (``X-Twilio-Signature``): base64 of HMAC-SHA1, keyed with the account's
  auth token, over the full URL Twilio posted to followed by every POST parameter's
  name and value, names sorted (a repeated name: its values sorted, de-duplicated).
  No timestamp: a replay is caught by its MessageSid / CallSid, not here. As
  Twilio's helper libraries do, the URL is also tried with its default port added
  (``:443`` / ``:80``) or removed, since proxies and Twilio disagree on it.
- **Stripe** (``Stripe-Signature: t=<unix time>,v1=<hex>``): HMAC-SHA256, keyed
  with the endpoint's signing secret, over ``"<t>.<raw body>"``; several ``v1``
  may be present while a secret is rotated and one must match; ``t`` must lie
  within the tolerance of now (both ways), which bounds replays to that window.
  Recoup's email events (``X-Recoup-Email-Signature``) use this same scheme with the
  email webhook secret.

Every failure is a ``SignatureError`` whose ``reason`` is one of ``missing``,
``malformed``, ``mismatch``, ``stale``: the label the rejection is counted under.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

TWILIO_HEADER = "X-Twilio-Signature"
STRIPE_HEADER = "Stripe-Signature"
EMAIL_HEADER = "X-Recoup-Email-Signature"

Reason = Literal["missing", "malformed", "mismatch", "stale"]
Params = Mapping[str, str] | Iterable[tuple[str, str]]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_SHA1_BYTES = 20


class SignatureError(Exception):
    """A webhook whose signature does not prove it came from the provider just now."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


# --- Twilio ------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a form POST of ``params`` to ``url``.

    Pass pairs (Starlette: ``form.multi_items()``) when a name may repeat; a
    mapping carries one value per name.
    """
    pairs = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, set[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, set()).add(value)
    payload = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_url_variants(url: str) -> list[str]:
    """``url`` as given, then with its scheme's default port removed or added."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: only the URL as given
        return variants
    if port is None:
        netloc = f"{prefix}{host}:{default}"
    elif port == default:
        netloc = f"{prefix}{host}"
    else:
        return variants
    variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verify_twilio(auth_token: str, url: str, params: Params, signature: str | None) -> None:
    """Raise ``SignatureError`` unless ``signature`` is Twilio's for this request."""
    if not signature or not signature.strip():
        raise SignatureError("missing", f"the request has no {TWILIO_HEADER} header")
    signature = signature.strip()
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _SHA1_BYTES:
        raise SignatureError("malformed", f"{TWILIO_HEADER} is not a base64 HMAC-SHA1")
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    matched = False
    for candidate in twilio_url_variants(url):
        expected = twilio_signature(auth_token, candidate, pairs)
        # Every variant is compared (no early exit), each in constant time.
        matched |= hmac.compare_digest(expected.encode(), signature.encode())
    if not matched:
        raise SignatureError(
            "mismatch", f"{TWILIO_HEADER} does not match this URL and these parameters"
        )


# --- Stripe (and Recoup's email events) ------------------------------------------


def stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """The hex ``v1`` signature of ``payload`` sent at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def stripe_signature_header(secret: str, payload: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={stripe_signature(secret, payload, timestamp)}"


def verify_stripe(
    secret: str,
    payload: bytes,
    header: str | None,
    tolerance: float,
    now: float,
    *,
    header_name: str = STRIPE_HEADER,
) -> int:
    """Check a ``t=…,v1=…`` header over the raw ``payload``; return its timestamp.

    The signature is checked before the time, so a forged header reads
    ``mismatch`` and only a genuine but old (or far future) one ``stale``.
    """
    if not header or not header.strip():
        raise SignatureError("missing", f"the request has no {header_name} header")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed", f"{header_name} has an element without '='")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
        # Other schemes (Stripe's test-mode v0, future ones) are ignored, as Stripe does.
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureError("malformed", f"{header_name} needs exactly one numeric t=")
    if not signatures:
        raise SignatureError("malformed", f"{header_name} has no v1 signature")
    timestamp = int(timestamps[0])
    expected = stripe_signature(secret, payload, timestamp).encode()
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise SignatureError("mismatch", f"no {header_name} v1 signature matches the body")
    age = now - timestamp
    if abs(age) > tolerance:
        when = "old" if age > 0 else "in the future"
        raise SignatureError(
            "stale",
            f"{header_name} timestamp is {abs(int(age))}s {when}; "
            f"the tolerance is {int(tolerance)}s",
        )
    return timestamp
