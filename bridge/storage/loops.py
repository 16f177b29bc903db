"""The worker's long-running loops, and how they live through a Redis outage.

When Redis goes away, each loop says so once in the log, waits with backoff and carries on when
Redis is back: nothing acknowledged was lost (it is in Redis), and nothing half-done is forgotten
(outbox jobs stay at the head of their lane until they are completed).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable

import redis

from bridge.core.log import kv

log = logging.getLogger(__name__)

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError)


def run_loop(name: str, step: Callable[[], float], stop: threading.Event,
             idle: Callable[[float], object] | None = None, revive: Callable[[], object] | None = None) -> None:
    """Call ``step`` until ``stop``; it returns how long to wait before the next call.

    ``revive`` is tried while Redis is down: it restarts the embedded Redis (from its append-only
    file) when that is the one in use.
    """
    idle = idle or stop.wait
    down_since: float | None = None
    failures = 0
    while not stop.is_set():
        try:
            wait = step()
        except REDIS_ERRORS as exc:
            failures += 1
            if down_since is None:
                down_since = time.monotonic()
                log.error(kv("redis.unavailable", loop=name, error=f"{type(exc).__name__}: {exc}",
                             action="waiting, retrying with backoff"))
            stop.wait(min(5.0, 0.2 * 2 ** min(failures, 5)))
            if revive is not None:
                try:
                    revive()
                except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                    log.warning(kv("redis.revive_failed", loop=name, error=f"{type(exc).__name__}: {exc}"))
            continue
        if down_since is not None:
            log.warning(kv("redis.recovered", loop=name, down_for=round(time.monotonic() - down_since, 1)))
            down_since, failures = None, 0
        if wait > 0:
            try:
                idle(wait)
            except REDIS_ERRORS:
                stop.wait(min(wait, 1.0))
