from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.connection import ensure_embedded, stop_embedded
from tests import harness


@pytest.fixture(scope="session")
def redis_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One embedded Redis (the real server the bridge embeds) for the whole run."""
    data_dir = tmp_path_factory.mktemp("redis")
    socket = ensure_embedded(data_dir)
    yield socket
    stop_embedded(data_dir)


@pytest.fixture
def redis_url(redis_socket: Path) -> str:
    redis.Redis(unix_socket_path=str(redis_socket)).flushall()
    return f"unix://{redis_socket}"


@pytest.fixture
def x_emu() -> Iterator[XEmulator]:
    with XEmulator(window_seconds=60, **harness.X_KEYS) as emu:
        yield emu


@pytest.fixture
def slack_emu() -> Iterator[SlackEmulator]:
    users = {
        harness.ANNA: {"name": "anna", "real_name": "Anna Neumann"},
        harness.BEN: {"name": "ben", "real_name": "Ben Kaiser"},
        harness.CARL: {"name": "carl", "real_name": "Carl Outsider"},
        harness.ADMIN: {"name": "admin", "real_name": "Ada Admin", "is_admin": True},
        harness.WS_ADMIN: {"name": "owner", "real_name": "Olga Owner", "is_admin": True},
    }
    with SlackEmulator(
        signing_secret=harness.SIGNING_SECRET,
        bot_token=harness.BOT_TOKEN,
        app_token=harness.APP_TOKEN,
        channels=(harness.GENERAL, harness.DSL, harness.MOBILE),
        users=users,
        usergroups={"S0AGENTS01": [harness.ANNA, harness.BEN]},
    ) as emu:
        yield emu


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return harness.write_settings(tmp_path / "settings.toml")


@pytest.fixture
def make_desk(x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch):
    """Start the bridge with the test's settings (``extra`` TOML appended to the base)."""
    desks: list[harness.Desk] = []

    def make(extra: str = "", text: str = harness.BASE_SETTINGS, app_token: bool = False,
             clock: Callable[[], float] | None = None) -> harness.Desk:
        path = harness.write_settings(tmp_path / "settings.toml", text, extra)
        monkeypatch.setenv("BRIDGE_SETTINGS", str(path))
        from bridge.core.settings import load

        env = harness.environment(x_emu, slack_emu, redis_url)
        if app_token:
            env["SLACK_APP_TOKEN"] = harness.APP_TOKEN
        desk = harness.Desk(x_emu, slack_emu, env, load(), clock)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()


@pytest.fixture
def desk(make_desk) -> harness.Desk:
    return make_desk()
