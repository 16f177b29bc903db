from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bridge.storage import lanes
from tests import harness
from tests.fast.kit import FastDesk


@pytest.fixture
def make_fast(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FastDesk]:
    """A desk with the tests' base settings (``extra`` TOML appended), on a fresh Redis database.

    The 25 s a call without an answer may still take to land is the worker's timing, not a rule of the
    desk: here a retry may look for it at once (``FastDesk.hurry``). Slack's pace between posts in a
    channel is skipped by ``FastDesk.drain``.
    """
    monkeypatch.setattr(lanes, "IN_FLIGHT_GRACE", 0.0)
    def make(extra: str = "", text: str = harness.BASE_SETTINGS) -> FastDesk:
        settings = harness.load_settings(harness.write_settings(tmp_path / "settings.toml", text, extra))
        return FastDesk(redis.Redis.from_url(redis_url, decode_responses=True), settings)
    return make


@pytest.fixture
def fast(make_fast: Callable[..., FastDesk]) -> FastDesk:
    return make_fast()
