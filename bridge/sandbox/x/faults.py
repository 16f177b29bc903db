"""What a test or the soak makes the X emulator do wrong next: errors, 429s, slow or cut-off answers."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

from bridge.sandbox.x.gate import DAILY_WINDOWS, Fault, Faults, RateLimits


class FaultControls:
    """Mixed into :class:`~bridge.sandbox.x.server.XEmulator`, whose fault list and limits it uses."""

    _faults: Faults
    limits: RateLimits
    window_seconds: float

    def fail_next(self, method: str, path_regex: str, *, status: int | None = None,
                  headers: Mapping[str, str] | None = None, body: bytes | dict[str, Any] | None = None,
                  times: int = 1, delay: float = 0.0, truncate: bool = False, body_regex: str | None = None,
                  ) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` (and whose body
        ``body_regex``: one case's reply, say) differently.

        With ``status``: that status, ``body`` (default: X's generic problem) and ``headers``, before
        any auth or rate-limit check. Without: the real answer, after ``delay`` seconds; ``truncate``
        sends half of it and closes the connection.
        """
        pattern = re.compile(body_regex.encode()) if body_regex else None
        self._faults.add(Fault(method.upper(), re.compile(path_regex), status, dict(headers or {}), body,
                               times, delay, truncate, pattern))

    def clear_faults(self) -> None:
        """X answers normally again: every planned fault is dropped."""
        self._faults.clear()

    def rate_limit_next(self, method: str = "GET", path_regex: str = r"^/2/", *, with_reset: bool = True,
                        limit: int = 300, times: int = 1) -> None:
        """A 429 with ``x-rate-limit-remaining: 0``, and ``x-rate-limit-reset`` unless ``with_reset`` is
        False."""
        headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0"}
        if with_reset:
            headers["x-rate-limit-reset"] = str(math.ceil(time.time() + self.window_seconds))
        self.fail_next(method, path_regex, status=429, headers=headers, times=times)

    def daily_cap_next(self, times: int = 1) -> None:
        """``POST /2/tweets`` answers 429 because the brand's 24-hour cap is used up."""
        now, limit = time.time(), self.limits.limits["POST /2/tweets"]
        self.fail_next("POST", r"^/2/tweets$", status=429, times=times, headers={
            "x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(limit - 1),
            "x-rate-limit-reset": str(math.ceil(now + self.window_seconds)),
            "x-user-limit-24hour-limit": str(self.limits.daily_post_limit),
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(math.ceil(now + DAILY_WINDOWS * self.window_seconds)),
        })

    def server_error_next(self, method: str = "GET", path_regex: str = r"^/2/", *, status: int = 503,
                          times: int = 1) -> None:
        self.fail_next(method, path_regex, status=status, times=times)

    def slow_next(self, method: str, path_regex: str, delay: float, *, times: int = 1) -> None:
        self.fail_next(method, path_regex, delay=delay, times=times)

    def non_json_next(self, method: str = "GET", path_regex: str = r"^/2/", *, times: int = 1) -> None:
        """A 200 carrying an HTML page, as a proxy in front of X might send."""
        self.fail_next(method, path_regex, status=200, times=times,
                       body=b"<html><body>Over capacity</body></html>",
                       headers={"content-type": "text/html; charset=utf-8"})

    def truncated_next(self, method: str = "GET", path_regex: str = r"^/2/", *, times: int = 1) -> None:
        self.fail_next(method, path_regex, truncate=True, times=times)
