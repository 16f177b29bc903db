"""The desk's figures as the work counts them: first response in open hours, each reply once, X's cost
once per resource and UTC day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from bridge.storage.figures import Figures
from tests import harness
from tests.fast.kit import FastDesk
from tests.harness import ANNA, BEN

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = '\n[hours]\ntimezone = "Europe/Berlin"\nauto_reply = ""\n\n[sla]\nfirst_response = 15\n'


@pytest.fixture
def at(redis_url: str, tmp_path: Path) -> Callable[..., FastDesk]:
    """A desk open Mon-Fri 08:00-20:00 in Berlin whose clock is moved by the test (``fast.now``)."""
    def make(extra: str = HOURS) -> FastDesk:
        settings = harness.load_settings(harness.write_settings(tmp_path / "settings.toml", extra=extra))
        now = [0.0]
        fast = FastDesk(redis.Redis.from_url(redis_url, decode_responses=True), settings, clock=lambda: now[0])
        fast.now = now  # type: ignore[attr-defined]
        return fast
    return make


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def test_a_tweet_at_1955_answered_at_0805_took_ten_minutes_and_each_reply_counts_once(at) -> None:
    fast = at()
    fast.now[0] = berlin(2026, 11, 23, 19, 55)  # a Monday
    parent = fast.parent(fast.tweet("@Telekom_hilft my router is down"))
    fast.claim(ANNA, parent)
    fast.now[0] = berlin(2026, 11, 24, 8, 5)
    first = fast.reply(ANNA, parent, "Good morning! Let's have a look.")
    fast.now[0] = berlin(2026, 11, 24, 8, 30)
    fast.reply(ANNA, parent, "It works again.")
    figures = Figures(fast.store.r, fast.store.keys, lambda: fast.settings, fast.store.clock)
    monday, tuesday = figures.period([date(2026, 11, 23)]), figures.period([date(2026, 11, 24)])
    assert (monday.opened, monday.by_topic, monday.opened_by_hour) == (1, {"DSL": 1}, {19: 1})
    assert tuesday.first_responses == [600.0] and tuesday.median_first_response == 600.0
    assert (tuesday.answered, tuesday.sla_met, tuesday.sla_share) == (1, 1, 1.0)  # 10 minutes within 15
    assert (tuesday.replies, tuesday.by_agent, tuesday.median_by_hour) == (2, {ANNA: 2}, {8: 600.0})
    totals = figures.totals()
    assert (totals["fr_count"], totals["fr_le|600"], totals.get("fr_le|300")) == ("1", "1", None)

    # The worker dies after the reply was recorded, before its job was marked done: the job runs again.
    case = fast.store.case_by_parent(parent.channel, parent.ts)
    assert case is not None
    figures.replied(case, "tweet", case.latest_customer_tweet, f"reply:{parent.channel}:{first}", ANNA)
    assert figures.totals()["replies|tweet"] == "2" and figures.period([date(2026, 11, 24)]).replies == 2


def test_the_sla_share_counts_the_cases_answered_in_time(at) -> None:
    fast = at()
    fast.now[0] = berlin(2026, 11, 25, 10, 0)
    quick, slow = (fast.parent(fast.tweet(f"@Telekom_hilft {text}")) for text in ("router down", "dsl down"))
    for parent in (quick, slow):
        fast.claim(BEN, parent)
    fast.now[0] = berlin(2026, 11, 25, 10, 5)
    fast.reply(BEN, quick, "On it")
    fast.now[0] = berlin(2026, 11, 25, 11, 0)
    fast.reply(BEN, slow, "Sorry for the wait")
    day = Figures(fast.store.r, fast.store.keys, lambda: fast.settings, fast.store.clock).period(
        [date(2026, 11, 25)])
    assert (day.answered, day.sla_met, day.sla_share, day.median_first_response) == (2, 1, 0.5, 1950.0)


def test_x_bills_a_resource_once_per_utc_day_at_the_prices_in_settings(fast: FastDesk) -> None:
    now = [datetime(2026, 12, 7, 23, 0, tzinfo=ZoneInfo("UTC")).timestamp()]
    figures = Figures(fast.store.r, fast.store.keys, lambda: fast.settings, lambda: now[0])
    page = {"data": [{"id": "1"}, {"id": "2"}], "includes": {"users": [{"id": "u1"}]}}
    figures.x_call("GET /2/users/:id/mentions", "200", 299, page)
    figures.x_call("GET /2/users/:id/mentions", "200", 298, page)  # the same again: billed once
    figures.x_call("GET /2/tweets", "200", 10, {"data": [{"id": "1"}]})  # a post read, not an owned read
    figures.x_call("POST /2/tweets", "201", 99, None)  # no write price set (X's console has it)
    figures.x_call("GET /2/tweets/search/recent", "429", 0, None)  # refused: nothing billed
    assert float(figures.totals()["xcost"]) == pytest.approx(2 * 0.001 + 0.010 + 0.005)
    now[0] += 3600  # the next UTC day
    figures.x_call("GET /2/users/:id/mentions", "200", 300, page)
    assert float(figures.totals()["xcost"]) == pytest.approx(2 * (2 * 0.001 + 0.010) + 0.005)
    assert figures.x_cost_month("2026-12") == pytest.approx(2 * (2 * 0.001 + 0.010) + 0.005)  # both days
    assert figures.totals()["xreq|GET /2/users/:id/mentions|200"] == "3"
    assert figures.x_limits() == {"GET /2/users/:id/mentions": "300", "GET /2/tweets": "10",
                                  "POST /2/tweets": "99", "GET /2/tweets/search/recent": "0"}
