"""Service hours as pure rules: open or closed at a moment, the next opening, and how it is said."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bridge.core.hours import after_hours, fill_auto_reply, is_open, next_opening, open_seconds, opens_text
from bridge.core.settings import HoursSection, Settings

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_8_20 = HoursSection(timezone="Europe/Berlin")  # Mon-Fri 08:00-20:00, weekend closed
SPLIT = HoursSection(timezone="Europe/Berlin", monday=["08:00-12:00", "13:00-17:00"], tuesday=["20:00-24:00"],
                     wednesday=["00:00-02:00"], holidays=[date(2026, 12, 25)])


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# 2026-11-23 is a Monday; 2026-03-29 (spring) and 2026-10-25 (autumn) are Berlin's DST changes.
@pytest.mark.parametrize(("hours", "now", "expected"), [
    (None, berlin(2026, 11, 29, 3, 0), True),  # no [hours]: always open
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 7, 59), False),
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 8, 0), True),
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 19, 59), True),
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 20, 0), False),  # the end is not included
    (WEEKDAYS_8_20, berlin(2026, 11, 28, 10, 0), False),  # Saturday
    (WEEKDAYS_8_20, datetime(2026, 11, 23, 7, 30, tzinfo=UTC), True),  # 08:30 in Berlin
    (WEEKDAYS_8_20, datetime(2026, 7, 6, 6, 30, tzinfo=UTC), True),  # 08:30 in Berlin's summer time
    (WEEKDAYS_8_20, datetime(2026, 7, 6, 5, 30, tzinfo=UTC), False),  # 07:30 there
    (SPLIT, berlin(2026, 11, 23, 12, 30), False),  # the lunch break
    (SPLIT, berlin(2026, 11, 23, 13, 0), True),
    (SPLIT, berlin(2026, 11, 24, 23, 59), True),  # a range ending 24:00
    (SPLIT, berlin(2026, 11, 25, 0, 30), True),  # ... and going on after midnight
    (SPLIT, berlin(2026, 11, 25, 2, 0), False),
    (SPLIT, berlin(2026, 12, 21, 9, 0), True),
    (HoursSection(monday=["08:00-20:00"], holidays=[date(2026, 12, 21)]), datetime(2026, 12, 21, 9, tzinfo=UTC),
     False),  # a holiday
])
def test_is_open(hours: HoursSection | None, now: datetime, expected: bool) -> None:
    assert is_open(hours, now) is expected


@pytest.mark.parametrize(("hours", "now", "expected"), [
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 6, 0), berlin(2026, 11, 23, 8, 0)),  # later today
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 21, 0), berlin(2026, 11, 24, 8, 0)),  # tomorrow
    (WEEKDAYS_8_20, berlin(2026, 11, 27, 20, 0), berlin(2026, 11, 30, 8, 0)),  # Friday night: Monday
    (SPLIT, berlin(2026, 11, 23, 12, 0), berlin(2026, 11, 23, 13, 0)),  # after the lunch break
    (SPLIT, berlin(2026, 11, 25, 3, 0), berlin(2026, 11, 26, 8, 0)),  # Thursday keeps the default
    # Saturday night before the spring change: Monday 08:00 is in summer time (06:00 UTC).
    (WEEKDAYS_8_20, berlin(2026, 3, 28, 22, 0), datetime(2026, 3, 30, 6, 0, tzinfo=UTC)),
    # ... and before the autumn change, in winter time (07:00 UTC).
    (WEEKDAYS_8_20, berlin(2026, 10, 24, 22, 0), datetime(2026, 10, 26, 7, 0, tzinfo=UTC)),
    # Christmas is a holiday on a Friday: the Monday after.
    (HoursSection(friday=["08:00-20:00"], monday=["09:00-17:00"], holidays=[date(2026, 12, 25)]),
     datetime(2026, 12, 24, 21, 0, tzinfo=UTC), datetime(2026, 12, 28, 9, 0, tzinfo=UTC)),
    (HoursSection(monday=[], tuesday=[], wednesday=[], thursday=[], friday=[]), berlin(2026, 11, 23, 9), None),
])
def test_next_opening(hours: HoursSection, now: datetime, expected: datetime | None) -> None:
    opening = next_opening(hours, now)
    assert opening == expected
    if opening is not None:
        assert is_open(hours, opening) and not is_open(hours, now)


@pytest.mark.parametrize(("now", "expected"), [
    (berlin(2026, 11, 23, 6, 0), "today, 23 November, at 08:00 CET"),
    (berlin(2026, 11, 23, 21, 0), "tomorrow, 24 November, at 08:00 CET"),
    (berlin(2026, 11, 27, 21, 0), "on Monday, 30 November, at 08:00 CET"),
    (berlin(2026, 3, 28, 21, 0), "on Monday, 30 March, at 08:00 CEST"),  # the opening after the spring change
])
def test_opens_text(now: datetime, expected: str) -> None:
    opening = next_opening(WEEKDAYS_8_20, now)
    assert opening is not None
    assert opens_text(WEEKDAYS_8_20, opening, now) == expected


def test_opens_text_a_week_or_more_ahead() -> None:
    hours = HoursSection(timezone="UTC", monday=["08:00-20:00"], tuesday=[], wednesday=[], thursday=[],
                         friday=[], holidays=[date(2026, 11, 30)])
    now = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
    opening = next_opening(hours, now)
    assert opening == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert opens_text(hours, opening, now) == "on Monday, 7 December, at 08:00 UTC"


def _settings(**hours: object) -> Settings:
    return Settings(slack={"default_channel": "C0GENERAL1"}, **({"hours": hours} if hours else {}))


@pytest.fixture(autouse=True)
def _no_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("BRIDGE_SETTINGS", str(tmp_path / "none.toml"))  # only what the test gives


WORKDAYS_OFF = {day: [] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}


@pytest.mark.parametrize(("hours", "answerable", "expected"), [
    ({"timezone": "UTC"}, True, ("2026-11-24T08:00:00+00:00", True)),
    ({"timezone": "UTC"}, False, ("2026-11-24T08:00:00+00:00", False)),  # X would refuse a reply
    ({"timezone": "UTC", "auto_reply": ""}, True, ("2026-11-24T08:00:00+00:00", False)),
    ({"timezone": "UTC", **WORKDAYS_OFF}, True, ("never", False)),
])
def test_after_hours_names_the_closed_period_by_its_end(hours: dict, answerable: bool,
                                                        expected: tuple[str, bool]) -> None:
    closed = after_hours(_settings(**hours), datetime(2026, 11, 23, 21, 0, tzinfo=UTC).timestamp(), answerable)
    assert closed is not None and (closed.period, closed.auto_reply) == expected


def test_after_hours_is_none_while_open_or_without_hours() -> None:
    monday_night = datetime(2026, 11, 23, 21, 0, tzinfo=UTC).timestamp()
    assert after_hours(_settings(), monday_night, True) is None
    assert after_hours(_settings(timezone="UTC"), monday_night - 12 * 3600, True) is None


def test_fill_auto_reply_fills_the_placeholders_and_leaves_other_braces() -> None:
    filled = fill_auto_reply("@{handle} Hi {name} {x}! Back {opens}.", "klaus", "Klaus {opens}", "today at 08:00")
    assert filled == "@klaus Hi Klaus {opens} {x}! Back today at 08:00."


ALL_SUNDAY = HoursSection(timezone="Europe/Berlin", sunday=["00:00-24:00"])


# First response counts open time only (SPEC "The desk at a glance").
@pytest.mark.parametrize(("hours", "start", "end", "minutes"), [
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 19, 55), berlin(2026, 11, 24, 8, 5), 10),  # 19:55 -> next 08:05
    (None, berlin(2026, 11, 23, 19, 55), berlin(2026, 11, 24, 8, 5), 730),  # without hours: all of it
    (WEEKDAYS_8_20, berlin(2026, 11, 27, 19, 55), berlin(2026, 11, 30, 8, 5), 10),  # Friday -> Monday
    (WEEKDAYS_8_20, berlin(2026, 11, 28, 10, 0), berlin(2026, 11, 28, 11, 0), 0),  # all on a Saturday
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 10, 0), berlin(2026, 11, 23, 10, 7), 7),  # open throughout
    (WEEKDAYS_8_20, berlin(2026, 11, 23, 10, 0), berlin(2026, 11, 23, 9, 0), 0),  # answered "before": none
    (SPLIT, berlin(2026, 11, 23, 11, 50), berlin(2026, 11, 23, 13, 10), 20),  # over the lunch break
    (SPLIT, berlin(2026, 11, 24, 23, 50), berlin(2026, 11, 25, 0, 10), 20),  # over midnight, 24:00 and 00:00
    (SPLIT, berlin(2026, 12, 24, 23, 0), berlin(2026, 12, 28, 8, 30), 30),  # a holiday (25th) and a weekend
    (ALL_SUNDAY, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0), 23 * 60),  # spring: a 23-hour day
    (ALL_SUNDAY, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0), 25 * 60),  # autumn: 25 hours
    (WEEKDAYS_8_20, berlin(2026, 3, 27, 19, 0), berlin(2026, 3, 30, 9, 0), 120),  # over the spring change
])
def test_open_seconds_counts_only_the_open_hours(hours, start, end, minutes) -> None:
    assert open_seconds(hours, start.timestamp(), end.timestamp()) == minutes * 60
