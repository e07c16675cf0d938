"""The console's login session and its CSRF tokens.

An operator signs in with a tenant API key (``rk_…``). The session cookie holds that key
encrypted and authenticated (Fernet: AES-CBC and HMAC-SHA256) with a key made when the
process starts and never stored. So:

- the raw key never sits in the browser in the clear, and a changed cookie is refused;
- every request authenticates the key again with the API's own authenticator, so a
  revoked key ends its sessions at once, and the tenant's rate limit counts console pages;
- a session lasts ``SESSION_SECONDS`` at most, and until the API process stops: a restart
  (or another API process behind a load balancer without sticky sessions) asks for the key
  again. That is the price of keeping no session store and no secret on disk.

The cookie is HttpOnly, ``SameSite=Strict`` and limited to ``/console`` (``Secure`` when
the console is reached over HTTPS). Every form that changes something (approve, deny,
redrive, sign out) also carries a CSRF token: an HMAC of the session cookie, so a page of
another site can neither read nor forge it. The sign-in form, which has no session yet,
uses a double-submit nonce instead (a cookie and a form field that must match).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

SESSION_COOKIE = "recoup_console"
LOGIN_COOKIE = "recoup_console_login"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600
LOGIN_SECONDS = 3600


@dataclass
class Sessions:
    """Makes and reads session cookies with this process's secret."""

    # Mark cookies Secure even when the request arrived over HTTP: the console is
    # reached through a proxy that terminates TLS (RECOUP_API_PUBLIC_URL is https).
    https: bool = False
    _fernet: Fernet = field(default_factory=lambda: Fernet(Fernet.generate_key()))
    _mac_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def open(self, response: Response, request: Request, api_key: str) -> None:
        """Start a session for ``api_key`` (already verified) on ``response``."""
        token = self._fernet.encrypt(api_key.encode()).decode()
        self._set(response, request, SESSION_COOKIE, token, SESSION_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)

    def close(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)

    def api_key(self, request: Request) -> str | None:
        """The key of the request's session; None without one, or expired, or altered."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            return self._fernet.decrypt(token.encode(), ttl=SESSION_SECONDS).decode()
        except (InvalidToken, UnicodeDecodeError):
            return None

    def csrf(self, request: Request) -> str:
        """The CSRF token of the request's session (forms carry it as ``csrf``)."""
        return self._mac(request.cookies.get(SESSION_COOKIE, ""))

    def csrf_ok(self, request: Request, token: str) -> bool:
        session = request.cookies.get(SESSION_COOKIE)
        return bool(session) and hmac.compare_digest(self._mac(session or ""), token)

    @staticmethod
    def new_login_nonce() -> str:
        """A fresh nonce for the sign-in form (``set_login_nonce`` sets its cookie)."""
        return secrets.token_urlsafe(24)

    def set_login_nonce(self, response: Response, request: Request, nonce: str) -> None:
        self._set(response, request, LOGIN_COOKIE, nonce, LOGIN_SECONDS)

    def login_nonce_ok(self, request: Request, nonce: str) -> bool:
        cookie = request.cookies.get(LOGIN_COOKIE)
        return bool(cookie) and hmac.compare_digest(cookie or "", nonce)

    def _mac(self, value: str) -> str:
        return hmac.new(self._mac_key, b"csrf:" + value.encode(), hashlib.sha256).hexdigest()

    def _set(
        self, response: Response, request: Request, name: str, value: str, max_age: int
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self.https or request.url.scheme == "https",
        )
