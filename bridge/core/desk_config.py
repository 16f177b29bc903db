"""The desk as admins change it from Slack: their changes, kept over ``settings.toml``, and the settings
in force that the two give together.

``settings.toml`` (with its environment overrides) is the base. What admins change with ``/xdesk``
is an :class:`Overlay` of changes, each stamped with who made it and when; :func:`effective` lays the
overlay over the base and validates the result with the very models the file is validated with, so a
change Slack would make is refused for the same one-line reason the file would be. Plain code: the
overlay is kept in Redis by :mod:`bridge.storage.desk_config`, and the commands are parsed in
:mod:`bridge.desk.admin`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bridge.core.settings import HoursSection, Settings, Topic, one_line

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY = ["00:00-24:00"]


class Refused(Exception):
    """A change that would leave the desk in a state the settings' rules refuse; the message says why."""


class _Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    by: str  # Slack user ID of the admin
    at: float  # epoch seconds


class TopicChange(_Change):
    topic: Topic | None  # None: removed


class AgentChange(_Change):
    signature: str | None  # None: removed


class HoursChange(_Change):
    days: dict[str, list[str]] = {}  # weekday -> opening ranges, for the days changed in Slack
    holidays: list[date] | None = None  # the whole list, once changed in Slack


class Overlay(BaseModel):
    """Every change made in Slack that is still in force, by what it changed."""

    model_config = ConfigDict(frozen=True)

    topics: dict[str, TopicChange] = {}  # by the topic's name
    order: list[str] | None = None  # the topics' names in routing order, once an admin set it
    agents: dict[str, AgentChange] = {}  # by Slack user ID
    hours: HoursChange | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Overlay:
        return cls.model_validate_json(raw) if raw else cls()

    def dump(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


def effective(base: Settings, overlay: Overlay) -> Settings:
    """``base`` with ``overlay`` laid over it; :class:`Refused` if the result breaks a settings rule."""
    values = base.model_dump()
    values["topics"] = [t.model_dump() for t in _topics(base, overlay)]
    allowed = list(base.slack.agents)
    agents = {user: section.model_dump() for user, section in base.agents.items()}
    if not allowed and overlay.agents:
        # The file let anyone act; once admins name agents, those the file gave a signature are agents too.
        allowed = [user for user, section in base.agents.items() if section.signature]
    for user, change in overlay.agents.items():
        if change.signature is None:
            allowed = [a for a in allowed if a != user]
            agents.pop(user, None)
        else:
            allowed += [] if user in allowed else [user]
            agents[user] = {"signature": change.signature}
    values["slack"]["agents"], values["agents"] = allowed, agents
    if overlay.hours is not None:
        hours = base.hours.model_dump() if base.hours else _always_open()
        hours.update(overlay.hours.days)
        if overlay.hours.holidays is not None:
            hours["holidays"] = overlay.hours.holidays
        values["hours"] = hours
    try:
        return Settings.of(values)
    except ValidationError as exc:
        raise Refused(one_line(exc).removeprefix("settings: ")) from None


def _always_open() -> dict[str, Any]:
    """Hours for a desk whose file has none (always open): every day all day, so that changing one
    day closes only what the admin said."""
    return {**HoursSection().model_dump(), **{day: ALL_DAY for day in DAYS}}


def _topics(base: Settings, overlay: Overlay) -> list[Topic]:
    topics = []
    for topic in base.topics:
        change = overlay.topics.get(topic.name)
        if change is None:
            topics.append(topic)
        elif change.topic is not None:
            topics.append(change.topic)
    in_file = {t.name for t in base.topics}
    topics += [c.topic for name, c in overlay.topics.items() if name not in in_file and c.topic is not None]
    if overlay.order is not None:
        place = {name: i for i, name in enumerate(overlay.order)}
        # Topics the order does not name (added to the file since) come after, in file order.
        topics.sort(key=lambda t: place.get(t.name, len(place)))
    return topics


def find_topic(settings: Settings, name: str) -> Topic | None:
    """The topic called ``name``, whatever its case."""
    return next((t for t in settings.topics if t.name.casefold() == name.casefold()), None)


def where_set(overlay: Overlay, topic: Topic) -> str:
    change = overlay.topics.get(topic.name)
    return f"changed in Slack by <@{change.by}>, {stamp(change.at)}" if change else "from settings.toml"


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- the changes: each returns the overlay with one more change, and says what changed -------------


def add_topic(overlay: Overlay, current: Settings, topic: Topic, by: str, at: float) -> Overlay:
    if find_topic(current, topic.name):
        raise Refused(f"a topic named {topic.name!r} exists already: change it with `/xdesk topic set`")
    order = [t.name for t in current.topics] + [topic.name]  # a new topic is checked last
    return _with_topic(overlay, topic, by, at).model_copy(update={"order": order})


def set_topic(overlay: Overlay, current: Settings, name: str, fields: dict[str, Any], by: str,
              at: float) -> tuple[Overlay, Topic, Topic]:
    """The topic ``name`` with ``fields`` changed: the overlay, the topic before and after."""
    before = _existing(current, name)
    after = topic_from({**before.model_dump(), **fields})
    return _with_topic(overlay, after, by, at), before, after


def remove_topic(overlay: Overlay, current: Settings, name: str, by: str, at: float) -> tuple[Overlay, Topic]:
    topic = _existing(current, name)
    topics = {**overlay.topics, topic.name: TopicChange(topic=None, by=by, at=at)}
    order = None if overlay.order is None else [n for n in overlay.order if n != topic.name]
    return overlay.model_copy(update={"topics": topics, "order": order}), topic


def order_topic(overlay: Overlay, current: Settings, name: str, place: int, by: str,
                at: float) -> tuple[Overlay, list[str]]:
    topic = _existing(current, name)
    names = [t.name for t in current.topics if t.name != topic.name]
    if not 1 <= place <= len(names) + 1:
        raise Refused(f"place {place} is not between 1 and {len(names) + 1} (the number of topics)")
    names.insert(place - 1, topic.name)
    # The order is stamped on the moved topic's entry, so the listing says who moved it.
    return _with_topic(overlay, topic, by, at).model_copy(update={"order": names}), names


def add_agent(overlay: Overlay, user: str, signature: str, by: str, at: float) -> Overlay:
    if not signature.strip():
        raise Refused("an agent needs a signature, e.g. `^AN`: it is appended to every tweet they send")
    return overlay.model_copy(update={"agents": {**overlay.agents, user: AgentChange(
        signature=signature.strip(), by=by, at=at)}})


def remove_agent(overlay: Overlay, user: str, by: str, at: float) -> Overlay:
    return overlay.model_copy(update={"agents": {**overlay.agents, user: AgentChange(signature=None, by=by, at=at)}})


def set_day(overlay: Overlay, day: str, ranges: list[str], by: str, at: float) -> Overlay:
    hours = overlay.hours or HoursChange(by=by, at=at)
    return overlay.model_copy(update={"hours": hours.model_copy(update={
        "days": {**hours.days, day: ranges}, "by": by, "at": at})})


def set_holidays(overlay: Overlay, holidays: list[date], by: str, at: float) -> Overlay:
    hours = overlay.hours or HoursChange(by=by, at=at)
    return overlay.model_copy(update={"hours": hours.model_copy(update={
        "holidays": sorted(set(holidays)), "by": by, "at": at})})


def _with_topic(overlay: Overlay, topic: Topic, by: str, at: float) -> Overlay:
    return overlay.model_copy(update={"topics": {**overlay.topics, topic.name: TopicChange(topic=topic, by=by, at=at)}})


def _existing(current: Settings, name: str) -> Topic:
    topic = find_topic(current, name)
    if topic is None:
        known = ", ".join(t.name for t in current.topics) or "none yet"
        raise Refused(f"there is no topic named {name!r} (topics: {known})")
    return topic


def topic_from(values: dict[str, Any]) -> Topic:
    """A topic from ``values``, validated as a ``[[topics]]`` entry of the file is."""
    try:
        return Topic.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise Refused(f"topics.{field}: {err['msg']}") from None


def ranges_of(text: str) -> list[str]:
    """``08:00-20:00``, ``08:00-12:00,13:00-20:00`` or ``closed``; :class:`Refused` otherwise."""
    if text.strip().casefold() == "closed":
        return []
    ranges = [r.strip() for r in re.split(r"[,\s]+", text.strip()) if r.strip()]
    try:
        HoursSection.model_validate({"monday": ranges})
    except ValidationError as exc:
        raise Refused(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    return ranges
