"""The Slack emulator's refusals: Web API answers with ``ok: false``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An ``{"ok": false, "error": ...}`` answer; ``extra`` keys are added to the body."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra
