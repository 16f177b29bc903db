"""Faults the Slack emulator can be told to answer with, and Slack's per-channel posting pace.

Rate limits: https://docs.slack.dev/apis/web-api/rate-limits — chat.postMessage is "special": about
one message per second per channel, short bursts allowed; over it Slack answers HTTP 429 with
``Retry-After`` (whole seconds) and ``{"ok": false, "error": "ratelimited"}``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

# The body Slack sends with each fault status when none is given.
DEFAULT_ERRORS = {429: "ratelimited", 500: "fatal_error", 502: "fatal_error", 503: "service_unavailable"}


@dataclass
class Fault:
    """One planned failure of a Web API method.

    ``status`` 200 with an ``error`` answers ``ok: false`` as Slack does for API errors; 200 without
    one only adds ``delay``. ``applied`` makes the call take effect before the failure is answered
    (Slack did the work, the client never learnt it: the case that makes clients post twice).
    """

    status: int = 429
    error: str | None = None
    retry_after: int | None = 1
    times: int = 1
    delay: float = 0.0
    applied: bool = False

    @property
    def answers_normally(self) -> bool:
        return self.status == 200 and self.error is None

    def response(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        error = self.error or DEFAULT_ERRORS.get(self.status, "fatal_error")
        headers: dict[str, str] = {}
        if self.retry_after is not None and self.status in (429, 503):
            headers["Retry-After"] = str(self.retry_after)
        return self.status, {"ok": False, "error": error}, headers


class FaultPlan:
    """Planned faults per method, used up in order; ``"*"`` matches any method."""

    def __init__(self) -> None:
        self._plans: dict[str, list[Fault]] = defaultdict(list)

    def add(self, method: str, fault: Fault) -> None:
        self._plans[method].append(fault)

    def take(self, method: str) -> Fault | None:
        for key in (method, "*"):
            queue = self._plans.get(key)
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return fault
        return None

    def clear(self) -> None:
        self._plans.clear()


class PostPacer:
    """A token bucket per channel: ``rate`` posts a second, up to ``burst`` at once."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}

    def take(self, channel: str) -> int | None:
        """None if the post may go now, else the ``Retry-After`` seconds to answer with."""
        if not self.rate:
            return None
        now = time.monotonic()
        tokens = self._tokens.get(channel, float(self.burst))
        tokens = min(float(self.burst), tokens + (now - self._stamp.get(channel, now)) * self.rate)
        self._stamp[channel] = now
        if tokens >= 1:
            self._tokens[channel] = tokens - 1
            return None
        self._tokens[channel] = tokens
        return max(1, math.ceil((1 - tokens) / self.rate))
