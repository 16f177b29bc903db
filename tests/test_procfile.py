"""The Procfile's processes, started as an operator would, carry a tweet all the way to the reply."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from tests.harness import ANNA, DSL, block_text, environment

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            argv = shlex.split(command)
            entries[name.strip()] = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
    return entries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "web exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # the server is still binding: poll again shortly
    raise AssertionError("web never became healthy")


@pytest.fixture
def processes(x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, settings_path: Path,
              tmp_path: Path) -> Iterator[dict[str, subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, **environment(x_emu, slack_emu, redis_url), "PORT": str(port),
           "BRIDGE_SETTINGS": str(settings_path), "BRIDGE_DATA_DIR": str(tmp_path / "var")}
    procs = {}
    for name, argv in procfile().items():
        procs[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=(tmp_path / f"{name}.log").open("w"))
    wait_healthy(port, procs["web"])
    slack_emu.events_url = f"http://127.0.0.1:{port}/slack/events"
    yield procs
    for proc in procs.values():
        proc.terminate()
    for name, proc in procs.items():
        assert proc.wait(timeout=20) == 0, (tmp_path / f"{name}.log").read_text()


def test_procfile_has_web_and_worker() -> None:
    assert set(procfile()) == {"web", "worker"}


def test_web_and_worker_processes_take_a_tweet_to_a_reply_tweet(
    processes: dict, x_emu: XEmulator, slack_emu: SlackEmulator
) -> None:
    tweet_id = x_emu.add_tweet("@Telekom_hilft no internet since the storm", author="kunde_klaus")
    parent: dict = {}

    def posted() -> bool:
        for message in slack_emu.messages(DSL):
            if (message.get("metadata") or {}).get("event_payload", {}).get("tweet_id") == tweet_id:
                parent.update(message)
                return True
        return False

    assert slack_emu.wait_for(posted, timeout=30)
    assert "no internet since the storm" in block_text(parent["blocks"])
    slack_emu.add_reaction(ANNA, DSL, parent["ts"], "eyes")
    assert slack_emu.wait_for(lambda: f"<@{ANNA}>" in str(slack_emu.message(DSL, parent["ts"])), timeout=30)
    slack_emu.post_user_message(ANNA, DSL, "We're sorry! A technician is on the way.", thread_ts=parent["ts"])
    [tweet] = x_emu.wait_for_posts(1, timeout=30)
    assert tweet == {**tweet, "text": "We're sorry! A technician is on the way. ^AN", "in_reply_to_tweet_id": tweet_id}
