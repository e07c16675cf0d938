"""Who is calling: the tenant of the API key, and whether it may call again now.

The key travels as ``Authorization: Bearer rk_…`` (or ``X-API-Key: rk_…``, for
tools that cannot set an Authorization header). The tenant comes from the key and
nothing else. Each tenant has a token bucket (``api_rate_per_second``, burst
``api_burst``, per-tenant overrides in ``tenant_api_rates``) in this process; run
several API processes and each enforces its own share.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from bootstrap.settings import Settings
from domain.account import Tenant
from service.tenants import TenantStore


class AuthError(Exception):
    """No key, or a key that is malformed, unknown or revoked (HTTP 401, gRPC UNAUTHENTICATED)."""


class RateLimited(Exception):
    """The tenant spent its burst; ``retry_after`` seconds until the next request fits."""

    def __init__(self, tenant_id: str, retry_after: float) -> None:
        super().__init__(
            f"tenant {tenant_id!r} is over its request rate; retry in {retry_after:.1f}s"
        )
        self.retry_after = retry_after


def token_from(authorization: str | None, api_key: str | None) -> str:
    """The key from the headers (or gRPC metadata) a request carries."""
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise AuthError("Authorization must be 'Bearer <API key>'")
        return credentials.strip()
    if api_key:
        return api_key.strip()
    raise AuthError("an API key is required: send 'Authorization: Bearer <API key>'")


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    settings: Settings
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, tenant_id: str) -> None:
        """Spend one request of the tenant's bucket, or raise ``RateLimited``."""
        rate = self.settings.api_rate_for(tenant_id)
        burst = float(max(self.settings.api_burst, 1))
        now = time.monotonic()
        bucket = self._buckets.setdefault(tenant_id, _Bucket(tokens=burst, stamp=now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            raise RateLimited(tenant_id, math.ceil((1 - bucket.tokens) / rate * 10) / 10)
        bucket.tokens -= 1


@dataclass
class Authenticator:
    """Turns a key into its tenant and charges the tenant's rate limit."""

    tenants: TenantStore
    limiter: RateLimiter

    async def tenant(self, token: str) -> Tenant:
        tenant = await asyncio.to_thread(self.tenants.authenticate, token)
        if tenant is None:
            raise AuthError("the API key is not valid (unknown or revoked)")
        self.limiter.take(tenant.tenant_id)
        return tenant
