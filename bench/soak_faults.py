"""The soak's faults: X and Slack requests that fail at random, and processes killed with kill -9.

Neither emulator has a "fail with probability p" switch, so each is subclassed here: for every request,
a seeded :class:`Dice` decides whether it fails and how, and the fault is planned with the emulator's
own ``fail_next``. Every request about an effect is noted in a :class:`Trace`, with the kills, so that
an effect duplicated or lost can be told as a timeline.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox.cluster import Cluster, Proc
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.x.client import DEFAULT_TIMEOUT

X_TIMEOUT = DEFAULT_TIMEOUT[1]  # the bridge's read timeout on X calls
SLACK_TIMEOUT = 15.0  # bridge/slack/client.py web_client(timeout=15)

# What an injected fault looks like, with its share of all faults.
X_FAULTS = {"429 with reset": 2, "429 without reset": 1, "5xx": 3, "timeout (answer lost)": 1,
            "non-JSON 200": 1.5, "cut-off answer": 1}
SLACK_FAULTS = {"429 ratelimited": 3, "500/503": 3, "500/503 after doing it": 2, "timeout (done)": 1}


class Dice:
    """Decides per request whether it fails, and how; counts what it decided. Thread-safe."""

    def __init__(self, rate: float, seed: int, kinds: Mapping[str, float]) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.kinds, self.weights = list(kinds), list(kinds.values())
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def roll(self) -> tuple[str, random.Random] | None:
        with self.lock:
            if self.rate <= 0 or self.rng.random() >= self.rate:
                return None
            kind = self.rng.choices(self.kinds, self.weights)[0]
            self.counts[kind] += 1
            return kind, random.Random(self.rng.random())


@dataclass
class Call:
    """One request an emulator answered, for the timeline of an effect that went wrong."""

    start: float
    end: float
    method: str
    key: str  # Slack: the job in the metadata, or channel:ts; X: the tweet's text
    fault: str
    status: int
    result: str


@dataclass
class Trace:
    """Every request about an effect, and every kill, in the order they happened."""

    calls: list[Call] = field(default_factory=list)
    kills: list[tuple[float, str]] = field(default_factory=list)

    def about(self, key: str) -> list[str]:
        """The calls about ``key``, with the kills that happened meanwhile, in time order."""
        calls = [c for c in self.calls if c.key == key]
        if not calls:
            return ["    no request about it reached the emulator"]
        start, end = min(c.start for c in calls) - 20, max(c.end for c in calls) + 1
        lines = [(c.start, f"{c.method} {c.fault or 'no fault'} -> {c.status} {c.result} "
                           f"(answered {c.end - c.start:.1f} s later)") for c in calls]
        lines += [(t, f"kill -9 {who}") for t, who in self.kills if start <= t <= end]
        return [f"    {time.strftime('%H:%M:%S', time.localtime(t))}.{int(t % 1 * 1000):03d} {text}"
                for t, text in sorted(lines)]


class FaultyX(XEmulator):
    """The X emulator, with each API request failing at the dice's rate (planned with ``fail_next``).

    The fault is planned for this request's exact path just before the request takes its planned
    fault, so every planned fault is used up by a request to that path.
    """

    def __init__(self, dice: Dice, trace: Trace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice, self.trace = dice, trace

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes):
        path, start, kind = urllib.parse.urlsplit(raw_path).path, time.time(), ""
        if path.startswith("/2/") and (rolled := self.dice.roll()):
            kind = rolled[0]
            self._plan(*rolled, method, "^" + re.escape(path) + "$")
        reply = super().handle(method, raw_path, headers, body)
        if method == "POST" and path == "/2/tweets":
            text = json.loads(body or b"{}").get("text", "")
            data = reply.body.get("data") if isinstance(reply.body, dict) else None
            self.trace.calls.append(Call(start, time.time(), "POST /2/tweets", text, kind, reply.status,
                                         (data or {}).get("id", "")))
        return reply

    def _plan(self, kind: str, rng: random.Random, method: str, path: str) -> None:
        if kind == "429 with reset":
            # X's reset is the end of its window; a few seconds here, so that the soak ends today.
            reset = math.ceil(time.time() + rng.uniform(1, 8))
            self.fail_next(method, path, status=429, headers={
                "x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
        elif kind == "429 without reset":
            self.rate_limit_next(method, path, with_reset=False)
        elif kind == "5xx":
            self.server_error_next(method, path, status=rng.choice((500, 502, 503, 504)))
        elif kind == "timeout (answer lost)":
            self.slow_next(method, path, delay=X_TIMEOUT + 1)  # X does the work; the bridge gave up
        elif kind == "non-JSON 200":
            self.non_json_next(method, path)
        else:
            self.truncated_next(method, path)  # X does the work; half the answer arrives


class FaultySlack(SlackEmulator):
    """The Slack emulator, with each Web API call failing at the dice's rate."""

    def __init__(self, dice: Dice, trace: Trace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice, self.trace = dice, trace
        self.redeliveries = 0

    def deliver(self, *args: Any, **kwargs: Any) -> list[int]:
        self.redeliveries += 1  # only Cluster.act calls it: an event delivered again
        return super().deliver(*args, **kwargs)

    def handle_api(self, method: str, params: dict[str, Any], token: str | None):
        start, kind = time.time(), ""
        if rolled := self.dice.roll():
            kind, rng = rolled
            if kind == "429 ratelimited":
                self.fail_next(method, status=429, retry_after=1)
            elif kind == "timeout (done)":
                self.fail_next(method, status=200, delay=SLACK_TIMEOUT + 1)
            else:
                self.fail_next(method, status=rng.choice((500, 503)), applied=kind.endswith("doing it"))
        status, body, headers = super().handle_api(method, params, token)
        if method in ("chat.postMessage", "chat.update", "reactions.add"):
            self.trace.calls.append(Call(start, time.time(), method, slack_key(method, params), kind, status,
                                         str(body.get("ts") or body.get("error") or "")))
        return status, body, headers


def slack_key(method: str, params: Mapping[str, Any]) -> str:
    """What a Slack call is about: the outbox job in a post's metadata, else the message it changes."""
    if method == "chat.postMessage":
        metadata = params.get("metadata") or {}
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        return str((metadata.get("event_payload") or {}).get("job", ""))
    if method == "reactions.add":
        return f"{params.get('channel')}:{params.get('timestamp')}:{params.get('name')}"
    return f"{params.get('channel')}:{params.get('ts')}"


class SoakCluster(Cluster):
    """The sandbox's cluster (bridge/sandbox/cluster.py), noting when it killed which process."""

    trace: Trace

    def kill(self, proc: Proc) -> None:
        was_alive = proc.alive
        super().kill(proc)
        if was_alive:
            self.trace.kills.append((time.time(), f"{proc.kind}{proc.index} (pid {proc.popen.pid})"))
