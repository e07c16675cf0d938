"""Where ``recoup dev``'s circuit breakers live: in the machine's Redis when it answers.

Shared in Redis, every worker of the stack trips together and ``recoup breakers`` shows
them from another terminal; without Redis they live inside the ``recoup dev`` process.
``RECOUP_REDIS_URL`` names the Redis; unset, ``recoup dev`` asks the usual local one
and takes it if it answers within half a second.

The breakers of a found Redis go under a prefix of their own per data directory
(``recoup:dev-1a2b3c4d:``), so two stacks on one machine, and the tests and other
programs that use the same database, never read each other's keys.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from adapters.breakers import BreakerStoreUnavailable, RedisBreakerStore
from bootstrap.settings import Settings

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
ANSWER_WITHIN = timedelta(seconds=0.5)


def dev_prefix(base: str, data_dir: Path) -> str:
    """The key prefix of the stack whose state is in ``data_dir``."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{base}dev-{digest}:"


async def redis_answers(url: str, within: timedelta = ANSWER_WITHIN) -> bool:
    """Whether a Redis at ``url`` answers a PING within ``within``."""
    store = RedisBreakerStore.from_url(url)
    store.timeout = within
    try:
        await store.check()
    except BreakerStoreUnavailable:
        return False
    finally:
        await store.aclose()
    return True


async def dev_breakers(settings: Settings, data_dir: Path) -> dict[str, object]:
    """The settings that put the stack's breakers in Redis, or none (in-process).

    ``RECOUP_REDIS_URL`` set: as told (a Redis that does not answer then stops the
    workers from starting, with its name, as for ``recoup worker``).
    """
    if settings.redis_url:
        return {}
    if not await redis_answers(LOCAL_REDIS_URL):
        return {}
    prefix = (
        settings.redis_prefix
        if "redis_prefix" in settings.model_fields_set
        else dev_prefix(settings.redis_prefix, data_dir)
    )
    return {"redis_url": LOCAL_REDIS_URL, "redis_prefix": prefix}
