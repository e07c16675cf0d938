"""Circuit breakers on the in-process store and on a real Redis, driven by a fake clock."""

from __future__ import annotations

import asyncio
import pickle
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio
from pydantic import ValidationError

from adapters.breakers import (
    SEED_BREAKERS,
    BreakerConfig,
    Breakers,
    BreakerSnapshot,
    BreakerState,
    BreakerStore,
    BreakerStoreUnavailable,
    CircuitBreaker,
    CircuitOpen,
    CircuitUnknown,
    MemoryBreakerStore,
    RedisBreakerStore,
    breaker_store,
)
from adapters.errors import ProviderError
from bench.brokers import RedisServer
from bootstrap.devserver import free_port

REDIS_URL = "redis://127.0.0.1:6379"
ROOT = Path(__file__).resolve().parents[2]
# A multiple of every window's bucket width, so window arithmetic is exact.
START = datetime(2030, 1, 1, tzinfo=UTC)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def prefix() -> str:
    return f"test:breaker:{uuid.uuid4().hex}:"


@pytest_asyncio.fixture
async def redis_client(prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of its own; every key under this test's prefix is deleted afterwards."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest_asyncio.fixture
async def second_client() -> AsyncIterator[redis.asyncio.Redis]:
    """Another client with its own connections: a second worker process's view."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def store(
    request: pytest.FixtureRequest, prefix: str, redis_client: redis.asyncio.Redis
) -> BreakerStore:
    if request.param == "memory":
        return MemoryBreakerStore()
    return RedisBreakerStore(redis_client, prefix)


@pytest.fixture
def changes() -> list[BreakerSnapshot]:
    return []


@pytest.fixture
def breakers(store: BreakerStore, clock: FakeClock, changes: list[BreakerSnapshot]) -> Breakers:
    return Breakers(store, on_change=changes.append, clock=clock)


async def calls(breaker: CircuitBreaker, *, ok: int = 0, failed: int = 0) -> None:
    """``ok`` successful calls, then ``failed`` failed ones, one after another."""
    for outcome in [True] * ok + [False] * failed:
        await breaker.record(await breaker.acquire(), ok=outcome)


async def trip(breaker: CircuitBreaker) -> None:
    """Fail calls until the breaker opens (at most min_calls of them)."""
    for _ in range(breaker.config.min_calls):
        await calls(breaker, failed=1)
        if await state(breaker) is OPEN:
            return
    raise AssertionError(f"{breaker.name} did not open")


async def state(breaker: CircuitBreaker) -> BreakerState:
    return (await breaker.snapshot()).state


# --- Configuration ---------------------------------------------------------------------------


def test_seed_thresholds() -> None:
    def thresholds(name: str) -> tuple[float, float, int]:
        config = SEED_BREAKERS[name]
        return config.failure_ratio, config.open_seconds, config.half_open_probes

    assert thresholds("email") == (0.5, 60, 3)
    assert thresholds("phone") == (0.3, 30, 2)
    assert thresholds("sms") == (0.3, 30, 2)
    assert thresholds("external") == (0.25, 120, 5)
    assert {c.window_seconds for c in SEED_BREAKERS.values()} == {60}
    assert {c.min_calls for c in SEED_BREAKERS.values()} == {10}


@pytest.mark.parametrize(
    "fields",
    [
        {"failure_ratio": 0},
        {"failure_ratio": 1.01},
        {"open_seconds": 0},
        {"half_open_probes": 0},
        {"window_seconds": 0},
        {"min_calls": 0},
    ],
)
def test_config_rejects_nonsense(fields: dict[str, float]) -> None:
    valid: dict[str, float] = {"failure_ratio": 1.0, "open_seconds": 1, "half_open_probes": 1}
    BreakerConfig.model_validate(valid)
    with pytest.raises(ValidationError):
        BreakerConfig.model_validate(valid | fields)


def test_unknown_breaker_names_the_known_ones() -> None:
    breakers = Breakers(MemoryBreakerStore())
    with pytest.raises(KeyError, match=r"'fax'.*email, external, phone, sms"):
        breakers.get("fax")


def test_circuit_open_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(CircuitOpen("sms", timedelta(seconds=12))))
    assert isinstance(error, CircuitOpen)
    assert (error.breaker, error.retry_after) == ("sms", timedelta(seconds=12))
    assert "retry in 12.0s" in str(error)


def test_circuit_unknown_survives_pickling() -> None:
    sent = CircuitUnknown("sms", timedelta(seconds=30), "Redis 127.0.0.1:1/0", "refused")
    error = pickle.loads(pickle.dumps(sent))
    assert isinstance(error, CircuitUnknown) and isinstance(error, CircuitOpen)
    assert (error.breaker, error.retry_after, error.store, error.reason) == (
        "sms",
        timedelta(seconds=30),
        "Redis 127.0.0.1:1/0",
        "refused",
    )
    assert str(error) == str(sent)


async def test_naive_clock_is_rejected() -> None:
    breakers = Breakers(MemoryBreakerStore(), clock=lambda: datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await breakers.get("email").acquire()


# --- Behaviour, on both stores ---------------------------------------------------------------


async def test_stays_closed_below_min_calls(breakers: Breakers) -> None:
    email = breakers.get("email")
    await calls(email, failed=9)
    snapshot = await email.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.successes) == (CLOSED, 9, 0)
    await calls(email, failed=1)
    assert await state(email) is OPEN


async def test_opens_at_exactly_the_ratio(breakers: Breakers, clock: FakeClock) -> None:
    email = breakers.get("email")
    await calls(email, ok=6, failed=5)  # 5/11, just below 50 %
    assert await state(email) is CLOSED
    await calls(email, failed=1)  # 6/12
    snapshot = await email.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.successes) == (OPEN, 6, 6)
    assert snapshot.opened_until == clock.now + timedelta(seconds=60)
    assert snapshot.changed_at == clock.now


async def test_opens_at_exactly_thirty_percent(breakers: Breakers) -> None:
    # 3/10 against 0.3: trips only if the comparison is free of float error.
    phone = breakers.get("phone")
    await calls(phone, ok=7, failed=2)
    assert await state(phone) is CLOSED
    await calls(phone, failed=1)
    assert await state(phone) is OPEN


async def test_success_that_fills_the_window_can_trip(breakers: Breakers) -> None:
    # The ratio is judged whenever the window holds min_calls, whatever came last.
    email = breakers.get("email")
    await calls(email, failed=5, ok=4)
    assert await state(email) is CLOSED
    await calls(email, ok=1)
    assert await state(email) is OPEN


async def test_open_refuses_with_the_remaining_time(breakers: Breakers, clock: FakeClock) -> None:
    email = breakers.get("email")
    await trip(email)
    with pytest.raises(CircuitOpen) as refused:
        await email.acquire()
    assert refused.value.breaker == "email"
    assert refused.value.retry_after == timedelta(seconds=60)

    clock.advance(20)
    with pytest.raises(CircuitOpen) as refused:
        await email.acquire()
    assert refused.value.retry_after == timedelta(seconds=40)

    clock.advance(39.5)
    with pytest.raises(CircuitOpen) as refused:
        await email.acquire()
    assert refused.value.retry_after == timedelta(seconds=0.5)

    clock.advance(0.5)
    ticket = await email.acquire()
    assert ticket.probe is not None
    assert await state(email) is HALF_OPEN


async def test_other_breakers_are_unaffected(breakers: Breakers) -> None:
    await trip(breakers.get("sms"))
    assert await state(breakers.get("phone")) is CLOSED
    await breakers.get("phone").acquire()


async def test_outcomes_of_calls_admitted_before_opening_are_ignored(breakers: Breakers) -> None:
    email = breakers.get("email")
    late = await email.acquire()
    await trip(email)
    before = await email.snapshot()
    await email.record(late, ok=True)
    assert await email.snapshot() == before


async def test_half_open_admits_exactly_the_probes_and_closes_after_them(
    breakers: Breakers, clock: FakeClock
) -> None:
    phone = breakers.get("phone")
    await trip(phone)
    clock.advance(30)
    first, second = await phone.acquire(), await phone.acquire()
    assert first.probe and second.probe and first.probe != second.probe
    with pytest.raises(CircuitOpen) as refused:
        await phone.acquire()
    assert refused.value.retry_after == timedelta(seconds=5)

    await phone.record(first, ok=True)
    snapshot = await phone.snapshot()
    assert (snapshot.state, snapshot.probe_successes, snapshot.probes_in_flight) == (
        HALF_OPEN,
        1,
        1,
    )
    # A finished probe frees its slot but still counts as one of the two trials.
    with pytest.raises(CircuitOpen):
        await phone.acquire()

    await phone.record(second, ok=True)
    snapshot = await phone.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.successes) == (CLOSED, 0, 0)
    assert snapshot.opened_until is None
    ticket = await phone.acquire()
    assert ticket.probe is None


async def test_one_probe_failure_reopens(breakers: Breakers, clock: FakeClock) -> None:
    phone = breakers.get("phone")
    await trip(phone)
    clock.advance(30)
    first, second = await phone.acquire(), await phone.acquire()
    clock.advance(1)
    await phone.record(first, ok=False)
    snapshot = await phone.snapshot()
    assert snapshot.state is OPEN
    assert snapshot.opened_until == clock.now + timedelta(seconds=30)
    # The other probe's success belongs to the half-open period that just ended.
    await phone.record(second, ok=True)
    assert await phone.snapshot() == snapshot
    with pytest.raises(CircuitOpen):
        await phone.acquire()


async def test_lost_probe_slots_expire(breakers: Breakers, clock: FakeClock) -> None:
    phone = breakers.get("phone")
    await trip(phone)
    clock.advance(30)
    lost = [await phone.acquire(), await phone.acquire()]  # their process "crashes"
    clock.advance(29.9)
    with pytest.raises(CircuitOpen):
        await phone.acquire()
    clock.advance(0.1)
    fresh = [await phone.acquire(), await phone.acquire()]
    assert all(t.probe for t in fresh)
    # A lost probe reporting after all changes nothing: its slot is gone.
    await phone.record(lost[0], ok=True)
    snapshot = await phone.snapshot()
    assert (snapshot.state, snapshot.probe_successes, snapshot.probes_in_flight) == (
        HALF_OPEN,
        0,
        2,
    )
    for ticket in fresh:
        await phone.record(ticket, ok=True)
    assert await state(phone) is CLOSED


async def test_window_expiry_forgets_old_calls(breakers: Breakers, clock: FakeClock) -> None:
    email = breakers.get("email")
    await calls(email, failed=9)
    clock.advance(60)
    assert (await email.snapshot()).failures == 0
    await calls(email, failed=1)
    snapshot = await email.snapshot()
    assert (snapshot.state, snapshot.failures) == (CLOSED, 1)


async def test_window_slides(breakers: Breakers, clock: FakeClock) -> None:
    email = breakers.get("email")
    await calls(email, failed=5)
    clock.advance(30)
    await calls(email, failed=4)
    clock.advance(29.9)
    assert (await email.snapshot()).failures == 9
    clock.advance(0.1)  # the first five are now 60 s old
    assert (await email.snapshot()).failures == 4
    await calls(email, failed=5)
    assert await state(email) is CLOSED
    await calls(email, failed=1)
    assert await state(email) is OPEN


async def test_guard_counts_only_what_the_predicate_says(breakers: Breakers) -> None:
    sms = breakers.get("sms")
    invalid_number = ProviderError("invalid number", retryable=False, provider="twilio")
    for _ in range(10):
        with pytest.raises(ProviderError):
            async with sms.guard():
                raise invalid_number
    snapshot = await sms.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.successes) == (CLOSED, 0, 10)

    outage = ProviderError("503", retryable=True, provider="twilio")
    for _ in range(5):
        with pytest.raises(ProviderError):
            async with sms.guard():
                raise outage
    assert await state(sms) is OPEN

    ran = False
    with pytest.raises(CircuitOpen):
        async with sms.guard():
            ran = True
    assert not ran


async def test_guard_with_a_custom_predicate(breakers: Breakers) -> None:
    external = breakers.get("external")

    def counts(exc: Exception) -> bool:
        return isinstance(exc, TimeoutError)

    async with external.guard(counts):
        pass
    with pytest.raises(KeyError):
        async with external.guard(counts):
            raise KeyError("no such account")
    with pytest.raises(TimeoutError):
        async with external.guard(counts):
            raise TimeoutError
    snapshot = await external.snapshot()
    assert (snapshot.failures, snapshot.successes) == (1, 2)


async def test_cancelled_probe_frees_its_slot(breakers: Breakers, clock: FakeClock) -> None:
    phone = breakers.get("phone")
    await trip(phone)
    clock.advance(30)

    entered = asyncio.Event()

    async def hang() -> None:
        async with phone.guard():
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hang())
    await entered.wait()
    assert (await phone.snapshot()).probes_in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snapshot = await phone.snapshot()
    assert (snapshot.state, snapshot.probes_in_flight, snapshot.probe_successes) == (
        HALF_OPEN,
        0,
        0,
    )
    await phone.acquire()
    await phone.acquire()


async def test_a_ticket_is_settled_once(breakers: Breakers) -> None:
    email = breakers.get("email")
    ticket = await email.acquire()
    await email.record(ticket, ok=False)
    with pytest.raises(ValueError, match="already"):
        await email.record(ticket, ok=False)
    with pytest.raises(ValueError, match="another breaker"):
        await breakers.get("sms").record(await email.acquire(), ok=True)
    assert (await email.snapshot()).failures == 1


async def test_on_change_sees_every_transition(
    breakers: Breakers, clock: FakeClock, changes: list[BreakerSnapshot]
) -> None:
    phone = breakers.get("phone")
    await calls(phone, ok=5)
    assert changes == []
    await trip(phone)
    clock.advance(30)
    probe = await phone.acquire()  # open -> half-open happens on the way
    await phone.record(probe, ok=False)
    clock.advance(30)
    for ticket in [await phone.acquire(), await phone.acquire()]:
        await phone.record(ticket, ok=True)
    await trip(phone)
    await breakers.reset("phone")
    await breakers.reset("phone")  # already closed: no transition

    assert [(c.name, c.state) for c in changes] == [
        ("phone", OPEN),
        ("phone", HALF_OPEN),
        ("phone", OPEN),
        ("phone", HALF_OPEN),
        ("phone", CLOSED),
        ("phone", OPEN),
        ("phone", CLOSED),
    ]
    tripped = changes[0]
    assert (tripped.failures, tripped.successes) == (5, 5)
    assert tripped.opened_until == START + timedelta(seconds=30)
    assert changes[1].changed_at == START + timedelta(seconds=30)


async def test_failing_on_change_does_not_fail_the_call(store: BreakerStore) -> None:
    def broken(snapshot: BreakerSnapshot) -> None:
        raise RuntimeError("metrics are down")

    email = Breakers(store, on_change=broken).get("email")
    await trip(email)


async def test_reset_closes_with_a_fresh_window(breakers: Breakers) -> None:
    email = breakers.get("email")
    await trip(email)
    await breakers.reset("email")
    snapshot = await email.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.successes) == (CLOSED, 0, 0)
    await email.acquire()


async def test_snapshots_cover_every_breaker(breakers: Breakers) -> None:
    await trip(breakers.get("sms"))
    snapshots = await breakers.snapshots()
    assert [(s.name, s.state) for s in snapshots] == [
        ("email", CLOSED),
        ("external", CLOSED),
        ("phone", CLOSED),
        ("sms", OPEN),
    ]
    assert snapshots[3].config == SEED_BREAKERS["sms"]


async def test_concurrent_records_are_all_counted(breakers: Breakers) -> None:
    config = BreakerConfig(failure_ratio=1.0, open_seconds=1, half_open_probes=1, min_calls=10_000)
    breaker = Breakers(breakers.store, {"bulk": config}).get("bulk")

    async def one(i: int) -> None:
        await breaker.record(await breaker.acquire(), ok=i % 3 != 0)

    await asyncio.gather(*(one(i) for i in range(150)))
    snapshot = await breaker.snapshot()
    assert (snapshot.failures, snapshot.successes) == (50, 100)


# --- Sharing between processes (Redis only) --------------------------------------------------


async def test_independent_redis_stores_share_state(
    prefix: str,
    redis_client: redis.asyncio.Redis,
    second_client: redis.asyncio.Redis,
    clock: FakeClock,
) -> None:
    one = Breakers(RedisBreakerStore(redis_client, prefix), clock=clock).get("phone")
    two = Breakers(RedisBreakerStore(second_client, prefix), clock=clock).get("phone")
    await calls(one, ok=4, failed=2)
    await calls(two, ok=3)
    assert await state(two) is CLOSED
    await calls(two, failed=1)  # 3 of 10 across both
    assert await state(one) is OPEN

    clock.advance(30)
    # Many callers in both "processes" race for the two probe slots.
    results = await asyncio.gather(*(b.acquire() for b in [one, two] * 10), return_exceptions=True)
    admitted = [r for r in results if not isinstance(r, BaseException)]
    assert len(admitted) == 2
    assert all(isinstance(r, CircuitOpen) for r in results if isinstance(r, BaseException))
    await one.record(admitted[0], ok=True)
    await one.record(admitted[1], ok=True)
    assert await state(two) is CLOSED


async def test_another_process_trips_the_breaker(
    prefix: str, redis_client: redis.asyncio.Redis, clock: FakeClock
) -> None:
    email = Breakers(RedisBreakerStore(redis_client, prefix), clock=clock).get("email")
    await calls(email, ok=4, failed=2)
    script = """
import asyncio, sys
from datetime import UTC, datetime
import redis.asyncio
from adapters.breakers import Breakers, RedisBreakerStore

async def main(url: str, prefix: str, epoch: float, failures: int) -> None:
    client = redis.asyncio.Redis.from_url(url)
    now = datetime.fromtimestamp(epoch, UTC)
    email = Breakers(RedisBreakerStore(client, prefix), clock=lambda: now).get("email")
    for _ in range(failures):
        await email.record(await email.acquire(), ok=False)
    await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        REDIS_URL,
        prefix,
        str(clock.now.timestamp()),
        "4",
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    snapshot = await email.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.successes) == (OPEN, 6, 4)


async def test_concurrent_records_from_two_clients_are_all_counted(
    prefix: str, redis_client: redis.asyncio.Redis, second_client: redis.asyncio.Redis
) -> None:
    config = BreakerConfig(failure_ratio=1.0, open_seconds=1, half_open_probes=1, min_calls=10_000)
    stores = [RedisBreakerStore(c, prefix) for c in (redis_client, second_client)]
    breakers = [Breakers(s, {"bulk": config}).get("bulk") for s in stores]

    async def one(i: int) -> None:
        breaker = breakers[i % 2]
        await breaker.record(await breaker.acquire(), ok=i % 5 != 0)

    await asyncio.gather(*(one(i) for i in range(200)))
    snapshot = await breakers[0].snapshot()
    assert (snapshot.failures, snapshot.successes) == (40, 160)


async def test_redis_keys_expire_when_idle(
    prefix: str, redis_client: redis.asyncio.Redis, clock: FakeClock
) -> None:
    store = RedisBreakerStore(redis_client, prefix, idle_ttl=timedelta(milliseconds=300))
    breakers = Breakers(store, clock=clock)
    key = store.key("external")
    external = breakers.get("external")
    await external.acquire()
    assert await redis_client.exists(key) == 0  # an acquire while closed writes nothing

    await calls(external, failed=1)  # the window matters for 60 s
    assert 59_000 < await redis_client.pttl(key) <= 60_000
    await trip(external)  # open for 120 s: kept at least that long
    assert 119_000 < await redis_client.pttl(key) <= 120_000

    await breakers.reset("external")
    assert 0 < await redis_client.pttl(key) <= 300
    await asyncio.sleep(0.4)
    assert await redis_client.exists(key) == 0
    assert (await external.snapshot()).state is CLOSED


async def test_unreadable_redis_record_starts_afresh(
    prefix: str, redis_client: redis.asyncio.Redis, clock: FakeClock
) -> None:
    store = RedisBreakerStore(redis_client, prefix)
    await redis_client.set(store.key("email"), b"{not json")
    email = Breakers(store, clock=clock).get("email")
    await calls(email, failed=1)
    assert (await email.snapshot()).failures == 1


@pytest.mark.parametrize(
    ("url", "kind"),
    [(None, MemoryBreakerStore), ("", MemoryBreakerStore), (REDIS_URL, RedisBreakerStore)],
)
async def test_breaker_store_factory(url: str | None, kind: type[object], prefix: str) -> None:
    store = breaker_store(url)
    assert isinstance(store, kind)
    if isinstance(store, RedisBreakerStore):
        store.prefix = prefix
    breaker = Breakers(store).get("email")
    await calls(breaker, failed=1)
    assert (await breaker.snapshot()).failures == 1
    await store.aclose()
    if isinstance(store, RedisBreakerStore):
        check = redis.asyncio.Redis.from_url(REDIS_URL)
        assert await check.delete(store.key("email")) == 1
        await check.aclose()


# --- An unavailable store fails closed -------------------------------------------------------


async def test_an_unreachable_store_refuses_calls_for_one_open_period_naming_it(
    clock: FakeClock,
) -> None:
    port = free_port()  # nothing listens there
    store = RedisBreakerStore.from_url(f"redis://:secret@127.0.0.1:{port}/3")
    sms = Breakers(store, clock=clock).get("sms")
    ran = False
    with pytest.raises(CircuitUnknown) as refused:
        async with sms.guard():
            ran = True
    assert not ran  # fail closed: no provider call without the breaker's say-so
    assert isinstance(refused.value, CircuitOpen)  # so callers wait it out like an open one
    assert refused.value.retry_after == timedelta(seconds=SEED_BREAKERS["sms"].open_seconds)
    assert refused.value.store == f"Redis 127.0.0.1:{port}/3"
    assert "ConnectionError" in refused.value.reason
    assert "secret" not in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(BreakerStoreUnavailable, match=f"127.0.0.1:{port}/3"):
        await store.check()
    with pytest.raises(BreakerStoreUnavailable):
        await sms.snapshot()  # `recoup breakers` names the store too
    await store.aclose()


async def test_a_store_that_does_not_answer_gives_up_within_its_timeout(
    clock: FakeClock,
) -> None:
    # Accepts connections and never answers: a hung Redis, or a host that swallows packets.
    silent = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    client = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    store = RedisBreakerStore(client, timeout=timedelta(seconds=0.3))
    email = Breakers(store, clock=clock).get("email")
    started = asyncio.get_running_loop().time()
    with pytest.raises(CircuitUnknown, match=r"no answer within 0\.3s"):
        await email.acquire()
    assert asyncio.get_running_loop().time() - started < 2
    await client.aclose()
    silent.close()


async def test_a_store_lost_after_the_call_never_fails_the_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisServer() as server:
        store = RedisBreakerStore.from_url(server.url)
        email = Breakers(store, clock=clock).get("email")
        async with email.guard():
            server.stop()  # the provider took the message; then Redis went away
        assert "outcome not counted" in caplog.text

        server.start()
        # The provider's own error is what the caller sees, not the store's.
        with pytest.raises(ProviderError, match="503"):
            async with email.guard():
                server.stop()
                raise ProviderError("503", retryable=True, provider="smtp")
        await store.aclose()


async def test_the_store_comes_back_and_so_do_the_calls(clock: FakeClock) -> None:
    with RedisServer() as server:
        store = RedisBreakerStore.from_url(server.url)
        phone = Breakers(store, clock=clock).get("phone")
        await store.check()
        server.stop()
        with pytest.raises(CircuitUnknown):
            await phone.acquire()
        server.start()  # same port, empty: a restarted cache
        await store.check()
        async with phone.guard():
            pass
        assert (await phone.snapshot()).successes == 1
        await store.aclose()
