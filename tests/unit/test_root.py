"""The composition root: each part made once, on first use; all of it closed by one call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.twilio import TwilioClient
from bootstrap.root import Root, scoped
from bootstrap.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=None, redis_url=None)


def test_a_part_is_made_once_and_kept(tmp_path: Path) -> None:
    root = Root(_settings(tmp_path))
    try:
        assert root.events is root.events
        assert root.tenants is root.tenants
        assert root.breakers() is root.breakers()
    finally:
        asyncio.run(root.aclose())


def test_close_disposes_what_was_made_and_a_new_use_makes_it_again(tmp_path: Path) -> None:
    root = Root(_settings(tmp_path))
    events = root.events
    disposed: list[str] = []
    original = events.dispose

    def dispose() -> None:
        disposed.append("events")
        original()

    events.dispose = dispose  # type: ignore[method-assign]
    root.close()
    assert disposed == ["events"]
    assert root.events is not events
    root.close()
    assert disposed == ["events"]  # the old log is not disposed twice


def test_aclose_closes_asynchronous_clients_and_close_refuses_them(tmp_path: Path) -> None:
    root = Root(_settings(tmp_path))
    root.twilio  # noqa: B018 - made, not used
    root.events  # noqa: B018
    with pytest.raises(RuntimeError, match="twilio must be closed with aclose"):
        root.close()
    twilio = root.twilio
    asyncio.run(root.aclose())
    assert twilio._http.is_closed


def test_sinks_exclude_the_read_model(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"sinks": ["sql"]})
    assert Root(settings).sinks() == {}
    with pytest.raises(ValueError, match="redis"):
        Root(settings).sinks({"redis"})


def test_scoped_lends_the_callers_root_and_closes_only_its_own(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    theirs = Root(settings)
    twilio = theirs.twilio

    async def use() -> TwilioClient:
        async with scoped(settings, theirs) as lent:
            assert lent is theirs
        async with scoped(settings) as own:
            assert own is not theirs
            made = own.twilio
        return made

    own_twilio = asyncio.run(use())
    assert not twilio._http.is_closed
    assert own_twilio._http.is_closed
    asyncio.run(theirs.aclose())
