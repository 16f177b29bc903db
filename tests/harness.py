"""The real bridge, in-process, between the X and Slack emulators, on an embedded Redis.

Only the HTTP boundary is emulated: Redis, Bolt, tweepy, uvicorn and signatures are real. The
workspace's credentials, people and channels are ``bridge/sandbox/fixtures.py``'s, re-exported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.app.runtime import Runtime, start_all
from bridge.core.settings import Environment, Settings, load
from bridge.sandbox.fixtures import (  # noqa: F401 (re-exported: the tests import them from here)
    ADMIN,
    ANNA,
    APP_TOKEN,
    BEN,
    BOT_TOKEN,
    CARL,
    DSL,
    GENERAL,
    MOBILE,
    SIGNING_SECRET,
    WS_ADMIN,
    X_KEYS,
    block_text,
    environment,
)
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from handlers import register_all

BASE_SETTINGS = f"""
[slack]
mode = "http"
default_channel = "{GENERAL}"
admins = ["{ADMIN}"]
agents = []

[x]
min_poll_interval = 0.2

[agents.{ANNA}]
signature = "^AN"

[agents.{BEN}]
signature = "^BK"

[[topics]]
name = "DSL"
channel = "{DSL}"
keywords = ["dsl", "router", "internet"]

[[topics]]
name = "Mobile"
channel = "{MOBILE}"
keywords = ["5g", "roaming"]
hashtags = ["mobilfunk"]
"""


def write_settings(path: Path, text: str = BASE_SETTINGS, extra: str = "") -> Path:
    path.write_text(text + extra)
    return path


def eventually(predicate: Callable[[], object], timeout: float = 15, what: str = "", interval: float = 0.05) -> None:
    """Wait for a condition on state that notifies nobody (Redis, other processes): poll it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(interval)


def drained(desk: Desk) -> None:
    """Every job done, none given up on."""
    eventually(lambda: desk.rt.store.outbox.pending() == 0, what="the outbox to drain")
    dead = desk.rt.store.r.lrange("xdesk:dead", 0, -1)
    assert dead == [], f"dead-lettered: {dead}"


def markup_of(message: dict) -> str:
    """What Slack parses as markup in ``message``: its ``text`` and every mrkdwn text object (``rich_text``
    elements are shown literally, and so are left out)."""
    out = [message.get("text", "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                out.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(out)


def said(message: dict) -> str:
    return message.get("text", "") + "\n" + block_text(message.get("blocks") or [])


def notices(desk: Desk, parent: dict, needle: str) -> list[str]:
    """The bot's thread messages under ``parent`` that say ``needle``."""
    return [said(m) for m in desk.thread(parent) if m.get("bot_id") and needle in said(m)]


def claimed_case(desk: Desk, text: str = "@Telekom_hilft my router is dead") -> tuple[str, dict]:
    tweet_id = desk.tweet(text)
    parent = desk.parent_of(tweet_id)
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    return tweet_id, parent


class Desk:
    """A running bridge plus the emulators around it, with the moves a customer and agents make."""

    def __init__(self, x: XEmulator, slack: SlackEmulator, env: dict[str, str], settings: Settings,
                 clock: Callable[[], float] | None = None) -> None:
        self.x = x
        self.slack = slack
        self.settings = settings
        self.env = env  # as a second process (python -m bridge outbox) would be started
        self.rt = Runtime(Environment.from_environ(env), settings, listeners=register_all)
        if clock is not None:
            self.rt.clock = clock
        self.stop = threading.Event()
        self.port, self.threads = start_all(self.rt, self.stop)
        slack.events_url = f"http://127.0.0.1:{self.port}/slack/events"

    def close(self) -> None:
        self.stop.set()
        # The lane dispatcher waits up to a second in a blocking pop of the outbox's wake list: wake it.
        self.rt.store.r.lpush(self.rt.store.keys.wake, "1")
        for thread in self.threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def hurry(self, lane: str) -> None:
        """Wait until ``lane`` (``"x"``, ``"slack"``: one such lane of a case or channel) has scheduled a
        retry, then let it come now.

        Stands for the wait passing (X's reset, a backoff, the grace given to a request whose answer
        was lost) without sleeping through it.
        """
        outbox, r = self.rt.store.outbox, self.rt.store.r
        deadline = time.monotonic() + 30
        while not (waiting := [name for name in self.lanes(lane) if outbox.not_before(name) > time.time() + 1.5]):
            if not any(outbox.depth(name) for name in self.lanes(lane)):
                return  # the retry came already (a loaded machine is slower than its 5 s): nothing waits
            assert time.monotonic() < deadline, f"no retry was scheduled on lane {lane}"
            time.sleep(0.05)  # the worker's threads schedule it: poll
        for key in r.scan_iter(f"{self.rt.store.p}attempt:*"):
            if r.hget(key, "sent"):
                r.hset(key, "sent", repr(time.time() - 3600))
        for key in r.scan_iter(self.rt.store.keys.x_budget("*")):  # X's window has passed too
            r.delete(key)
        for name in waiting:
            outbox.pace(name, time.time())

    def lanes(self, lane: str) -> list[str]:
        """``lane``, or with ``"x"`` every case's X lane that holds a job (``"slack"``: every channel's)."""
        return [name for name in self.rt.store.outbox.lanes() if name == lane or name.startswith(f"{lane}:")] \
            if lane in ("x", "slack") else [lane]

    # -- a customer on X ---------------------------------------------------------------------

    def tweet(self, text: str, author: str = "kunde_klaus", **kwargs: Any) -> str:
        return self.x.add_tweet(text, author=author, **kwargs)

    # -- what Slack shows --------------------------------------------------------------------

    def parent_of(self, tweet_id: str, timeout: float = 15) -> dict:
        """Wait for the case parent that carries ``tweet_id`` in its metadata."""
        found: list[dict] = []

        def posted() -> bool:
            for channel in (GENERAL, DSL, MOBILE):
                for message in self.slack.messages(channel):
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get("tweet_id") == tweet_id and message.get("thread_ts") in (None, message["ts"]):
                        found.append({**message, "channel": channel})
                        return True
            return False

        assert self.slack.wait_for(posted, timeout=timeout), f"no parent for tweet {tweet_id}"
        return found[0]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        assert self.slack.wait_for(predicate, timeout=timeout)

    def thread(self, parent: dict) -> list[dict]:
        return self.slack.thread(parent["channel"], parent["ts"])

    def parent_text(self, parent: dict) -> str:
        message = self.slack.message(parent["channel"], parent["ts"])
        return block_text(message.get("blocks") or []) + "\n" + message.get("text", "")

    # -- agents in Slack ---------------------------------------------------------------------

    def claim(self, user: str, parent: dict) -> None:
        self.slack.add_reaction(user, parent["channel"], parent["ts"], self.settings.emoji.claim)

    def reply(self, user: str, parent: dict, text: str) -> str:
        return self.slack.post_user_message(user, parent["channel"], text, thread_ts=parent["ts"])

    def claimed_by(self, parent: dict, user: str) -> bool:
        return f"<@{user}>" in self.parent_text(parent)


def closed_today_env() -> dict[str, str]:
    """Today a holiday in the shipped settings' time zone: the desk closed now, open again on a later day."""
    import json
    import tomllib
    from datetime import datetime
    from zoneinfo import ZoneInfo

    shipped = tomllib.loads((Path(__file__).resolve().parent.parent / "settings.toml").read_text())
    today = datetime.now(ZoneInfo(shipped["hours"]["timezone"])).date()
    return {"BRIDGE_HOURS__HOLIDAYS": json.dumps([today.isoformat()])}


def load_settings(path: Path) -> Settings:
    import os

    os.environ["BRIDGE_SETTINGS"] = str(path)
    return load()
