"""Service hours: is the desk open at a moment, and when does it open next.

Pure rules on aware datetimes. Opening hours are wall-clock times in the desk's time zone
(``[hours] timezone``): "08:00-20:00" means eight in the morning there, in summer and in winter.
A day's ranges end at most at 24:00; a holiday is closed all day. Without an ``[hours]`` table
the desk is always open.

A *closed period* is named by the moment it ends, the next opening (UTC, ISO 8601): every tweet
that comes in while the desk is closed knows which period it belongs to without any shared state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.core.settings import HoursSection, Settings

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A week of holidays in a row still finds the next opening; a desk with no hours at all never opens.
SEARCH_DAYS = 400


@dataclass(frozen=True)
class AfterHours:
    """What the ingest of a tweet needs to know when it comes in while the desk is closed."""

    period: str  # the closed period: the next opening, ISO 8601 in UTC ("never" if there is none)
    opens_at: float  # that opening as epoch seconds (far in the future if it never opens)
    auto_reply: bool  # a new case gets the auto-reply (answerable, and a template is set)


def desk_zone(settings: Settings) -> ZoneInfo:
    """The zone the desk's days are counted in (figures, the digest): its service hours', or UTC."""
    return ZoneInfo(settings.hours.timezone if settings.hours else "UTC")


def _ranges(hours: HoursSection, day: date) -> list[tuple[time, time | None]]:
    """The day's opening ranges as (start, end) wall-clock times; end None is 24:00."""
    if day in hours.holidays:
        return []
    out = []
    for text in getattr(hours, WEEKDAYS[day.weekday()]):
        start, end = text.split("-")
        out.append((time.fromisoformat(start), None if end == "24:00" else time.fromisoformat(end)))
    return sorted(out, key=lambda r: r[0])


def _local(hours: HoursSection, now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(ZoneInfo(hours.timezone))


def is_open(hours: HoursSection | None, now: datetime) -> bool:
    if hours is None:
        return True
    local = _local(hours, now)
    wall = local.time().replace(tzinfo=None)
    return any(start <= wall and (end is None or wall < end) for start, end in _ranges(hours, local.date()))


def next_opening(hours: HoursSection, now: datetime) -> datetime | None:
    """The first opening after ``now`` (in the desk's zone), None if the hours never open."""
    local = _local(hours, now)
    tz = ZoneInfo(hours.timezone)
    wall = local.time().replace(tzinfo=None)
    for offset in range(SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, _end in _ranges(hours, day):
            if offset == 0 and start <= wall:
                continue
            # A start inside a spring-forward gap (02:30 on the night clocks jump from 02:00 to 03:00)
            # does not exist; the round trip through UTC makes it a real moment (03:30).
            opening = datetime.combine(day, start, tzinfo=tz).astimezone(UTC).astimezone(tz)
            if opening > now:
                return opening
    return None


def open_seconds(hours: HoursSection | None, start: float, end: float) -> float:
    """How long the desk was open between two moments (epoch seconds); without hours, all of it.

    First response counts open time only: a tweet at 19:55 answered at 08:05 the next morning took
    ten minutes, not twelve hours. Each range is turned into real moments on its own day, so a day
    of 23 or 25 hours (the clock changing) counts what the wall clock showed open.
    """
    if end <= start:
        return 0.0
    if hours is None:
        return end - start
    tz = ZoneInfo(hours.timezone)
    day, last = datetime.fromtimestamp(start, tz).date(), datetime.fromtimestamp(end, tz).date()
    total = 0.0
    while day <= last:
        for opens, closes in _ranges(hours, day):
            lo = datetime.combine(day, opens, tzinfo=tz).astimezone(UTC).timestamp()
            until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) if closes is None \
                else datetime.combine(day, closes, tzinfo=tz)
            total += max(0.0, min(until.astimezone(UTC).timestamp(), end) - max(lo, start))
        day += timedelta(days=1)
    return total


def opens_text(hours: HoursSection, opening: datetime, now: datetime) -> str:
    """``{opens}`` of the auto-reply: "tomorrow, 26 November, at 08:00 CET", "on Monday, 30 November, ...".

    Always with the date: X refuses a post whose text the brand has posted before ("duplicate
    content"), and a customer who writes on two evenings must get the auto-reply both times.
    """
    local, today = opening.astimezone(ZoneInfo(hours.timezone)), _local(hours, now).date()
    when = f"{local.day} {local:%B}, at {local:%H:%M} {local.tzname()}"
    days = (local.date() - today).days
    if days <= 0:
        return f"today, {when}"
    if days == 1:
        return f"tomorrow, {when}"
    return f"on {local:%A}, {when}"


def after_hours(settings: Settings, now: float, answerable: bool) -> AfterHours | None:
    """None while the desk is open; else the closed period a tweet coming in ``now`` belongs to."""
    hours = settings.hours
    moment = datetime.fromtimestamp(now, UTC)
    if hours is None or is_open(hours, moment):
        return None
    opening = next_opening(hours, moment)
    period = opening.astimezone(UTC).isoformat() if opening else "never"
    opens_at = opening.timestamp() if opening else now + 10 * 365 * 24 * 3600
    return AfterHours(period, opens_at, auto_reply=answerable and bool(hours.auto_reply.strip()) and bool(opening))


def fill_auto_reply(template: str, handle: str, name: str, opens: str) -> str:
    """The template with its placeholders filled in one pass (a name with "{opens}" in it stays as it is);
    other braces are left as the admin wrote them."""
    values = {"handle": handle, "name": name, "opens": opens}
    return re.sub(r"\{(handle|name|opens)\}", lambda m: values[m[1]], template)
