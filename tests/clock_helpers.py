"""Moving the desk's clock in tests, and finding what the clock posted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.intake.clock import ClockLoop
from tests.harness import Desk, drained, said


class FakeClock:
    """The desk's clock, moved forward by the test instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = (start or datetime.now(UTC)).timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta).total_seconds()


def top_level(desk: Desk, channel: str, needle: str) -> list[dict]:
    """The bot's channel messages (not parents) that say ``needle``."""
    return [m for m in desk.slack.messages(channel)
            if m.get("bot_id") and m.get("thread_ts") in (None, m["ts"]) and needle in said(m)
            and (m.get("metadata") or {}).get("event_type") != "xdesk_case"]


def tick_again(desk: Desk) -> None:
    """Another worker's turn of the clock, at the same moment: it must find nothing left to do."""
    ClockLoop(desk.rt.store, desk.settings).tick(desk.rt.clock())
    drained(desk)


def permalink(desk: Desk, parent: dict) -> str:
    return desk.rt.slack.permalink(parent["channel"], parent["ts"])
