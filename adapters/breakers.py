"""Circuit breakers per provider, shared by every worker process through Redis.

A breaker stops calling a provider that is failing, so an outage costs one
quick ``CircuitOpen`` per attempt (which Temporal retries later) instead of a
timeout per attempt, and the provider gets room to recover.

A breaker whose store cannot be reached fails closed: it cannot tell whether the
provider may be called, so it is not, and the caller gets ``CircuitUnknown`` (a
``CircuitOpen``) with the store named, to wait out like an open breaker. Once the
call was made, an unreachable store never fails it: its outcome is only not counted.

The transition logic lives once, in the pure function ``advance``; a store only
makes applying it atomic: ``MemoryBreakerStore`` for one process (tests, dev),
``RedisBreakerStore`` for several worker processes that must trip together.
Times are epoch seconds from the callers' clocks, so worker hosts are assumed
NTP-synced: a skewed clock shifts open periods and windows by its skew.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import redis.asyncio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError, WatchError

from adapters.errors import AdapterError, ProviderError

logger = logging.getLogger(__name__)

# The rolling window is this many buckets, so it covers the last window_seconds
# to within a tenth, and old calls age out gradually rather than all at once.
_BUCKETS = 10
# A caller told to retry a half-open breaker whose probes are all taken need
# not wait a whole open period: a probe usually finishes within seconds.
_BUSY_PROBES_RETRY_SECONDS = 5.0


class BreakerConfig(BaseModel):
    """When a breaker opens, how long it stays open, and how it tests recovery."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_ratio: float = Field(gt=0, le=1)
    open_seconds: float = Field(gt=0)
    # Trial calls let through when half-open; all must succeed to close. Also
    # the most that may be in flight at once, so recovery is tested gently.
    half_open_probes: int = Field(ge=1)
    window_seconds: float = Field(default=60, gt=0)
    # Two failures out of three calls say little; the ratio is only judged
    # once the window holds this many calls.
    min_calls: int = Field(default=10, ge=1)


# The messaging seed's thresholds. Email tolerates more failure (deferrals and
# greylisting are common) than the telephony provider; external APIs (payments,
# ledger/CRM) trip early and rest long because their failures block payments.
SEED_BREAKERS: dict[str, BreakerConfig] = {
    "email": BreakerConfig(failure_ratio=0.5, open_seconds=60, half_open_probes=3),
    "phone": BreakerConfig(failure_ratio=0.3, open_seconds=30, half_open_probes=2),
    # Same telephony provider as phone but a separate API, so a separate breaker.
    "sms": BreakerConfig(failure_ratio=0.3, open_seconds=30, half_open_probes=2),
    "external": BreakerConfig(failure_ratio=0.25, open_seconds=120, half_open_probes=5),
}


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerSnapshot(BaseModel):
    """A breaker as one process sees it now (for status pages, metrics, events).

    ``failures``/``successes`` are the current window's counts; while open or
    half-open they are the window that tripped the breaker, ageing out.
    ``opened_until`` is only set while open. ``changed_at`` is None for a
    breaker that never changed state (or whose idle record expired).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    state: BreakerState
    failures: int
    successes: int
    opened_until: datetime | None
    probes_in_flight: int
    probe_successes: int
    config: BreakerConfig
    changed_at: datetime | None


class CircuitOpen(AdapterError):
    """The breaker refuses the call; nothing was sent. Try again after ``retry_after``."""

    def __init__(self, breaker: str, retry_after: timedelta) -> None:
        super().__init__(
            f"circuit breaker {breaker!r} is open; retry in {retry_after.total_seconds():.1f}s"
        )
        self.breaker = breaker
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[CircuitOpen], tuple[object, ...]]:
        # Exceptions pickle via self.args (the message); rebuild from our fields.
        return (CircuitOpen, (self.breaker, self.retry_after))


class BreakerStoreUnavailable(AdapterError):
    """The store that keeps breaker state could not be read or written (Redis down,
    not answering in time, or refusing the command); ``store`` names it, no secret."""

    def __init__(self, store: str, reason: str) -> None:
        super().__init__(f"circuit breaker store {store} is unavailable: {reason}")
        self.store = store
        self.reason = reason

    def __reduce__(self) -> tuple[type[BreakerStoreUnavailable], tuple[str, str]]:
        return (BreakerStoreUnavailable, (self.store, self.reason))


class CircuitUnknown(CircuitOpen):
    """The breaker's state is unknown because its store is unavailable: fail closed.

    Nothing was sent. A ``CircuitOpen`` so every caller that waits out an open breaker
    (the campaign does, on a durable timer, without using up the message's attempts)
    waits this out the same way, instead of failing the message as if it had been tried.
    """

    def __init__(self, breaker: str, retry_after: timedelta, store: str, reason: str) -> None:
        AdapterError.__init__(
            self,
            f"circuit breaker {breaker!r}: its store {store} is unavailable ({reason}); "
            f"nothing was sent, retry in {retry_after.total_seconds():.1f}s",
        )
        self.breaker = breaker
        self.retry_after = retry_after
        self.store = store
        self.reason = reason

    def __reduce__(self) -> tuple[type[CircuitUnknown], tuple[str, timedelta, str, str]]:
        return (CircuitUnknown, (self.breaker, self.retry_after, self.store, self.reason))


class Ticket:
    """Permission for one call; give it back once through ``record`` or ``release``.

    ``probe`` is the half-open trial slot the call holds, or None for a call
    admitted while closed.
    """

    __slots__ = ("_settled", "breaker", "probe")

    def __init__(self, breaker: str, probe: str | None) -> None:
        self.breaker = breaker
        self.probe = probe
        self._settled = False

    def __repr__(self) -> str:
        return f"Ticket(breaker={self.breaker!r}, probe={self.probe!r})"


# --- The transition logic, shared by every store --------------------------------------------


class BreakerRecord(BaseModel):
    """What a store keeps per breaker. Times are epoch seconds (compact in JSON)."""

    model_config = ConfigDict(frozen=True)

    state: BreakerState = BreakerState.CLOSED
    changed_at: float | None = None
    # (bucket index, successes, failures), oldest first; bucket index is
    # floor(time / (window_seconds / _BUCKETS)).
    buckets: tuple[tuple[int, int, int], ...] = ()
    opened_until: float | None = None
    # Half-open trial calls in flight: (slot id, expiry). Slots expire so a
    # process that crashed mid-probe cannot wedge the breaker half-open.
    probes: tuple[tuple[str, float], ...] = ()
    probe_successes: int = 0


@dataclass(frozen=True)
class Acquire:
    slot: str  # the probe slot's id if admitted half-open; chosen by the caller so advance is pure


@dataclass(frozen=True)
class Outcome:
    probe: str | None
    ok: bool | None  # None: released without a verdict (cancelled call)


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Observe:
    pass


Event = Acquire | Outcome | Reset | Observe


@dataclass(frozen=True)
class Step:
    """The result of applying one event: the new record and what happened."""

    before: BreakerRecord
    record: BreakerRecord
    now: float
    # Each state change, as the record right after it (for on_change).
    transitions: tuple[BreakerRecord, ...] = ()
    admitted: bool = False
    probe: str | None = None  # slot id when admitted as a half-open probe
    retry_after: float = 0.0  # seconds, when not admitted

    @property
    def changed(self) -> bool:
        return self.record != self.before


def advance(record: BreakerRecord | None, event: Event, now: float, config: BreakerConfig) -> Step:
    """Apply ``event`` at ``now`` to ``record`` (None: never seen or expired)."""
    before = record or BreakerRecord()
    current, transitions = _expire(before, now, config)
    match event:
        case Observe():
            return Step(before, current, now, transitions)
        case Reset():
            if current.state is BreakerState.CLOSED:  # only the window is cleared
                return Step(before, BreakerRecord(changed_at=current.changed_at), now, transitions)
            closed = BreakerRecord(changed_at=now)
            return Step(before, closed, now, (*transitions, closed))
        case Acquire(slot=slot):
            return _acquire(before, current, transitions, slot, now, config)
        case Outcome(probe=probe, ok=ok):
            after, changes = _settle(current, probe, ok, now, config)
            return Step(before, after, now, transitions + changes)


def _expire(
    record: BreakerRecord, now: float, config: BreakerConfig
) -> tuple[BreakerRecord, tuple[BreakerRecord, ...]]:
    """Apply what the passing of time alone changes: open ends, probe slots expire.

    Window buckets are not pruned here (they are filtered when counted) so
    that an acquire while closed changes nothing and costs no write.
    """
    if record.state is BreakerState.OPEN and now >= (record.opened_until or 0.0):
        half_open = record.model_copy(
            update={
                "state": BreakerState.HALF_OPEN,
                "changed_at": now,
                "opened_until": None,
                "probes": (),
                "probe_successes": 0,
            }
        )
        return half_open, (half_open,)
    if record.state is BreakerState.HALF_OPEN:
        live = tuple(p for p in record.probes if p[1] > now)
        if live != record.probes:
            return record.model_copy(update={"probes": live}), ()
    return record, ()


def _acquire(
    before: BreakerRecord,
    record: BreakerRecord,
    transitions: tuple[BreakerRecord, ...],
    slot: str,
    now: float,
    config: BreakerConfig,
) -> Step:
    if record.state is BreakerState.CLOSED:
        return Step(before, record, now, transitions, admitted=True)
    if record.state is BreakerState.OPEN:
        remaining = (record.opened_until or now) - now
        return Step(before, record, now, transitions, retry_after=remaining)
    # Half-open: exactly half_open_probes trials per half-open period, so a
    # success frees its slot but not its place in the count.
    if len(record.probes) + record.probe_successes < config.half_open_probes:
        # A probe that has not reported back after open_seconds is presumed
        # lost (its process died); its slot goes to the next caller.
        probes = (*record.probes, (slot, now + config.open_seconds))
        after = record.model_copy(update={"probes": probes})
        return Step(before, after, now, transitions, admitted=True, probe=slot)
    retry = min(config.open_seconds, _BUSY_PROBES_RETRY_SECONDS)
    return Step(before, record, now, transitions, retry_after=retry)


def _settle(
    record: BreakerRecord, probe: str | None, ok: bool | None, now: float, config: BreakerConfig
) -> tuple[BreakerRecord, tuple[BreakerRecord, ...]]:
    if probe is not None and any(slot == probe for slot, _ in record.probes):
        probes = tuple(p for p in record.probes if p[0] != probe)
        if ok is None:
            return record.model_copy(update={"probes": probes}), ()
        if not ok:
            reopened = _opened(record, now, config)
            return reopened, (reopened,)
        if record.probe_successes + 1 >= config.half_open_probes:
            closed = BreakerRecord(changed_at=now)  # with a fresh window
            return closed, (closed,)
        update = {"probes": probes, "probe_successes": record.probe_successes + 1}
        return record.model_copy(update=update), ()
    # A plain call, or a probe whose slot is gone (expired, or its half-open
    # period ended): its outcome is a window sample if the breaker is closed.
    # While open or half-open only probes decide, so it is ignored.
    if ok is None or record.state is not BreakerState.CLOSED:
        return record, ()
    buckets = _add(_live(record.buckets, now, config), now, ok, config)
    counted = record.model_copy(update={"buckets": buckets})
    successes, failures = _counts(buckets)
    calls = successes + failures
    # Division, not failures >= ratio * calls: 0.3 * 10 is 3.0000000000000004.
    if calls >= config.min_calls and failures / calls >= config.failure_ratio:
        opened = _opened(counted, now, config)
        return opened, (opened,)
    return counted, ()


def _opened(record: BreakerRecord, now: float, config: BreakerConfig) -> BreakerRecord:
    # The window is kept (not counted while open) so on_change shows what tripped it.
    return record.model_copy(
        update={
            "state": BreakerState.OPEN,
            "changed_at": now,
            "opened_until": now + config.open_seconds,
            "probes": (),
            "probe_successes": 0,
        }
    )


def _bucket(now: float, config: BreakerConfig) -> int:
    return math.floor(now * _BUCKETS / config.window_seconds)


def _live(
    buckets: tuple[tuple[int, int, int], ...], now: float, config: BreakerConfig
) -> tuple[tuple[int, int, int], ...]:
    oldest = _bucket(now, config) - _BUCKETS + 1
    return tuple(b for b in buckets if b[0] >= oldest)


def _add(
    buckets: tuple[tuple[int, int, int], ...], now: float, ok: bool, config: BreakerConfig
) -> tuple[tuple[int, int, int], ...]:
    counts = {index: (s, f) for index, s, f in buckets}
    index = _bucket(now, config)
    s, f = counts.get(index, (0, 0))
    counts[index] = (s + 1, f) if ok else (s, f + 1)
    # Sorted, because another host's slightly skewed clock may add an older bucket.
    return tuple((i, s, f) for i, (s, f) in sorted(counts.items()))


def _counts(buckets: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    return sum(b[1] for b in buckets), sum(b[2] for b in buckets)


def relevant_seconds(record: BreakerRecord, now: float, config: BreakerConfig) -> float:
    """How long ``record`` still differs from a fresh one by the passing of time alone.

    A store may forget a record idle longer than this; a half-open record stays
    relevant until its next probe, so stores keep records for a generous idle
    period on top.
    """
    ends = [0.0]
    if record.buckets:
        width = config.window_seconds / _BUCKETS
        ends.append((record.buckets[-1][0] + _BUCKETS) * width - now)
    if record.opened_until is not None:
        ends.append(record.opened_until - now)
    ends.extend(expiry - now for _, expiry in record.probes)
    return max(ends)


def to_snapshot(
    name: str, record: BreakerRecord, now: float, config: BreakerConfig
) -> BreakerSnapshot:
    successes, failures = _counts(_live(record.buckets, now, config))
    return BreakerSnapshot(
        name=name,
        state=record.state,
        failures=failures,
        successes=successes,
        opened_until=(
            _datetime(record.opened_until)
            if record.state is BreakerState.OPEN and record.opened_until is not None
            else None
        ),
        probes_in_flight=len(record.probes),
        probe_successes=record.probe_successes,
        config=config,
        changed_at=None if record.changed_at is None else _datetime(record.changed_at),
    )


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# --- Stores ----------------------------------------------------------------------------------


class BreakerStore(Protocol):
    """Applies ``step`` to a breaker's record atomically and keeps the result.

    A store that cannot do so raises ``BreakerStoreUnavailable``, never its client's
    own errors, so breakers can fail closed on any store.
    """

    async def update(
        self, name: str, config: BreakerConfig, step: Callable[[BreakerRecord | None], Step]
    ) -> Step: ...

    async def check(self) -> None:
        """Raise ``BreakerStoreUnavailable`` unless the store answers now (a worker's start)."""

    async def aclose(self) -> None: ...


class MemoryBreakerStore:
    """Breakers for one process. Records are kept for the process's lifetime
    (there is one per configured breaker, so nothing accumulates)."""

    def __init__(self) -> None:
        self._records: dict[str, BreakerRecord] = {}
        # ``step`` is synchronous, so on one event loop the update is atomic
        # anyway; a threading lock also covers breakers shared between loops or
        # threads, and is held only for a pure computation, never across an await.
        self._lock = threading.Lock()

    async def update(
        self, name: str, config: BreakerConfig, step: Callable[[BreakerRecord | None], Step]
    ) -> Step:
        with self._lock:
            result = step(self._records.get(name))
            if result.changed:
                self._records[name] = result.record
            return result

    async def check(self) -> None:
        pass  # this process's memory is always there

    async def aclose(self) -> None:
        pass


class RedisBreakerStore:
    """Breakers shared by every process using the same Redis and prefix.

    Each update is an optimistic transaction (WATCH, GET, compute, MULTI/SET/
    EXEC) retried when another process changed the key in between, so the
    Python transition logic needs no Lua twin and no update is ever lost. Reads
    that change nothing (an acquire while closed) cost no write. Keys expire
    after ``idle_ttl`` without updates (or later, while the record still
    matters), so retired breaker names do not linger in Redis.

    Every operation ends within ``timeout`` (queueing behind this process's other
    updates of the key included) or raises ``BreakerStoreUnavailable``, as does any
    error of Redis: a store that does not answer must not hold a send until its
    activity times out, which would use up one of the message's attempts.
    """

    _MAX_ATTEMPTS = 100

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        prefix: str = "recoup:breaker:",
        *,
        idle_ttl: timedelta = timedelta(days=1),
        timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        self._redis = redis
        self.prefix = prefix
        self.idle_ttl = idle_ttl
        self.timeout = timeout
        self._owns_client = False
        # Concurrent updates of one key from one process would only collide on
        # WATCH (and each would hold a pooled connection meanwhile), so they
        # queue here; WATCH then only arbitrates between processes.
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_url(cls, url: str, prefix: str = "recoup:breaker:") -> RedisBreakerStore:
        """A store with its own client, closed by ``aclose``."""
        store = cls(redis.asyncio.Redis.from_url(url), prefix)
        store._owns_client = True
        return store

    @property
    def description(self) -> str:
        """Where the store is, for messages: address and database, never a password."""
        kwargs = self._redis.connection_pool.connection_kwargs
        if "path" in kwargs:
            where = f"unix://{kwargs['path']}"
        else:
            where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        return f"Redis {where}/{kwargs.get('db', 0)}"

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def update(
        self, name: str, config: BreakerConfig, step: Callable[[BreakerRecord | None], Step]
    ) -> Step:
        async with self._answering(), self._locks.setdefault(name, asyncio.Lock()):
            return await self._update(name, config, step)

    async def check(self) -> None:
        async with self._answering():
            await self._redis.ping()

    @asynccontextmanager
    async def _answering(self) -> AsyncIterator[None]:
        """Turn Redis failing or not answering within ``timeout`` into one error."""
        try:
            async with asyncio.timeout(self.timeout.total_seconds()):
                yield
        except TimeoutError as exc:
            reason = f"no answer within {self.timeout.total_seconds():g}s"
            raise BreakerStoreUnavailable(self.description, reason) from exc
        except (RedisError, OSError) as exc:
            raise BreakerStoreUnavailable(self.description, _reason(exc)) from exc

    async def _update(
        self, name: str, config: BreakerConfig, step: Callable[[BreakerRecord | None], Step]
    ) -> Step:
        key = self.key(name)
        for attempt in range(self._MAX_ATTEMPTS):
            # A pipeline pins one connection, which the WATCH belongs to; leaving
            # the block unwatches and returns the connection to the pool.
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    result = step(_parse(key, await pipe.get(key)))
                    if not result.changed:
                        return result
                    ttl = max(
                        self.idle_ttl.total_seconds(),
                        relevant_seconds(result.record, result.now, config),
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    pipe.set(key, result.record.model_dump_json(), px=math.ceil(ttl * 1000))
                    await pipe.execute()
                    return result
                except WatchError:
                    pass
            # Someone else's update won; back off with jitter so a crowd of
            # contenders spreads out instead of colliding again in lockstep.
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise BreakerStoreUnavailable(
            self.description, f"the update of {name!r} kept conflicting with other processes"
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong (redis-py's messages may span lines)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse(key: str, raw: bytes | str | None) -> BreakerRecord | None:
    if raw is None:
        return None
    try:
        return BreakerRecord.model_validate_json(raw)
    except ValidationError:
        # Left by an incompatible version: a fresh breaker is safer than
        # failing every call to the provider until someone deletes the key.
        logger.warning("circuit breaker record %s is unreadable; starting afresh", key)
        return None


def breaker_store(redis_url: str | None) -> BreakerStore:
    """Redis-shared breakers when a URL is configured, else in-process ones."""
    if redis_url:
        return RedisBreakerStore.from_url(redis_url)
    return MemoryBreakerStore()


# --- Breakers --------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def transient_failure(exc: Exception) -> bool:
    """Whether ``exc`` says the provider is unhealthy (the default for ``guard``).

    Only retryable provider errors (outages, timeouts, 5xx, rate limiting) do;
    a permanent refusal such as an invalid number proves the provider is up.
    """
    return isinstance(exc, ProviderError) and exc.retryable


class CircuitBreaker:
    """One provider's breaker. Cheap to create: its state lives in the store."""

    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        store: BreakerStore,
        *,
        on_change: Callable[[BreakerSnapshot], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.config = config
        self._store = store
        self._on_change = on_change
        self._clock = clock

    async def acquire(self) -> Ticket:
        """Permission for one call, or ``CircuitOpen`` if the breaker refuses it.

        When the store is unavailable the breaker refuses too (``CircuitUnknown``),
        for one open period: sending blind could hammer a provider that other
        workers have seen failing, and waiting costs the message nothing.
        """
        try:
            step = await self._apply(Acquire(uuid.uuid4().hex))
        except BreakerStoreUnavailable as exc:
            wait = timedelta(seconds=self.config.open_seconds)
            raise CircuitUnknown(self.name, wait, exc.store, exc.reason) from exc
        if not step.admitted:
            raise CircuitOpen(self.name, timedelta(seconds=step.retry_after))
        return Ticket(self.name, step.probe)

    async def record(self, ticket: Ticket, ok: bool) -> None:
        """Report how the call admitted by ``ticket`` went."""
        self._settle(ticket)
        await self._apply(Outcome(ticket.probe, ok))

    async def release(self, ticket: Ticket) -> None:
        """Give ``ticket`` back without a verdict (the call was cancelled)."""
        self._settle(ticket)
        if ticket.probe is not None:  # only a probe slot needs freeing
            await self._apply(Outcome(ticket.probe, None))

    @asynccontextmanager
    async def guard(
        self, counts: Callable[[Exception], bool] = transient_failure
    ) -> AsyncIterator[Ticket]:
        """Acquire around a block, then record how it ended.

        An exception for which ``counts`` is false is recorded as a success:
        the provider answered, so it is healthy. Cancellation is no verdict.
        An unavailable store fails the acquire (``CircuitUnknown``), never the
        recording: by then the call was made, and failing it would hide that.
        """
        ticket = await self.acquire()
        try:
            yield ticket
        except Exception as exc:
            await self._unless_store_down(self.record(ticket, ok=not counts(exc)))
            raise
        except BaseException:
            await self._unless_store_down(self.release(ticket))
            raise
        await self._unless_store_down(self.record(ticket, ok=True))

    async def _unless_store_down(self, settling: Awaitable[None]) -> None:
        try:
            await settling
        except BreakerStoreUnavailable as exc:
            # One outcome missing from the window (a probe's slot expires by itself)
            # is a far smaller harm than reporting a call that happened as failed.
            logger.warning("circuit breaker %r: outcome not counted: %s", self.name, exc)

    async def snapshot(self) -> BreakerSnapshot:
        step = await self._apply(Observe())
        return to_snapshot(self.name, step.record, step.now, self.config)

    async def reset(self) -> None:
        """Close the breaker with a fresh window (an operator's override)."""
        await self._apply(Reset())

    def _settle(self, ticket: Ticket) -> None:
        if ticket.breaker != self.name:
            raise ValueError(f"{ticket!r} belongs to another breaker than {self.name!r}")
        if ticket._settled:
            raise ValueError(f"{ticket!r} was already recorded or released")
        ticket._settled = True

    def _now(self) -> float:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the breaker clock must return timezone-aware datetimes")
        return now.timestamp()

    async def _apply(self, event: Event) -> Step:
        step = await self._store.update(
            self.name, self.config, lambda record: advance(record, event, self._now(), self.config)
        )
        for changed in step.transitions:
            snapshot = to_snapshot(self.name, changed, step.now, self.config)
            if self._on_change is not None:
                try:
                    self._on_change(snapshot)
                except Exception:
                    # Metrics or events must not fail the call the breaker guards.
                    logger.exception("circuit breaker %r: on_change failed", self.name)
        return step


class Breakers:
    """The breakers of every provider, sharing one store, clock and on_change."""

    def __init__(
        self,
        store: BreakerStore,
        configs: Mapping[str, BreakerConfig] = SEED_BREAKERS,
        on_change: Callable[[BreakerSnapshot], None] | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self._breakers = {
            name: CircuitBreaker(name, config, store, on_change=on_change, clock=clock)
            for name, config in configs.items()
        }

    def get(self, name: str) -> CircuitBreaker:
        try:
            return self._breakers[name]
        except KeyError:
            known = ", ".join(sorted(self._breakers)) or "none"
            raise KeyError(f"no circuit breaker {name!r} (known: {known})") from None

    async def snapshots(self) -> list[BreakerSnapshot]:
        return [await self._breakers[name].snapshot() for name in sorted(self._breakers)]

    async def reset(self, name: str) -> None:
        await self.get(name).reset()
