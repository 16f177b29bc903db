"""Cases, claims, cursors and dedupe keys in Redis.

Every change that must not be half-done (a tweet stored without the job that posts it, a claim read
and written by two agents at once) is one Lua script, which Redis runs atomically.

Keys (all under ``xdesk:``):

- ``case:<id>`` hash of a case; ``seq:case`` the case counter
- ``tweetdata:<tweet id>`` the stored tweet; ``cursor:<source>`` the newest tweet id stored from a source
- ``tweets:``, ``convs:``, ``parents:``, ``customers:`` the lookups from a tweet, a conversation, a
  Slack parent and a customer to their cases (fields of bucketed hashes: bridge/storage/keys.py)
- ``event:<event id>`` Slack events already handled; ``msg:<channel>:<ts>`` Slack messages taken as replies
- ``unclaimed``, ``waiting`` sorted sets of case ids by the time they wait from (for reminders);
  ``closed`` closed periods by their end, ``closed:<period>`` its channels, ``closed:<period>:<channel>``
  the cases that came in (for the opening summary); ``autoreplied:<period>:<user id>``
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass, replace
from datetime import UTC, tzinfo
from enum import StrEnum
from typing import Any, NamedTuple

import redis

from bridge.core.hours import AfterHours
from bridge.core.models import (
    Author,
    Case,
    CaseId,
    CaseStatus,
    ChannelId,
    Media,
    SlackTs,
    SlackUserId,
    Tweet,
    TweetId,
    UserId,
)
from bridge.storage.figures import day_and_hour
from bridge.storage.keys import PREFIX, Keys
from bridge.storage.limits import XBudget
from bridge.storage.outbox import Job, Outbox
from bridge.storage.scripts import CASE_WITH_FIRST_TWEET, CLAIM, FORWARD, INGEST, RELEASE, SET_STATUS

EVENT_TTL = 7 * 24 * 3600
CUSTOMER_DELETED = "customer_deleted"  # the case field naming the customer tweet deleted on X
EVENT_LOCK_TTL = 10  # longer than a listener runs; short, as a killed web leaves its lock behind


class Outcome(StrEnum):
    NEW = "new"
    JOINED = "joined"
    REOPENED = "reopened"
    DUPLICATE = "duplicate"


class Ingested(NamedTuple):
    outcome: Outcome
    case_id: CaseId
    channel: ChannelId


class Store:
    def __init__(self, client: redis.Redis, prefix: str = PREFIX, clock: Callable[[], float] = time.time,
                 zone: Callable[[], tzinfo] = lambda: UTC) -> None:
        self.r = client
        self.zone = zone  # the desk's time zone, whose days the figures are counted in (it changes in Slack)
        self.p = prefix  # for the Lua scripts, which spell the families of bridge/storage/keys.py
        self.keys = Keys(prefix)
        self.clock = clock  # the times cases wait from (reminders); tests move it forward
        self.outbox = Outbox(client, prefix)
        self.x_budget = XBudget(client, self.keys)
        self._ingest = client.register_script(INGEST)
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)
        self._set_status = client.register_script(SET_STATUS)
        self._forward = client.register_script(FORWARD)
        self._case_with_first_tweet = client.register_script(CASE_WITH_FIRST_TWEET)

    # -- X to Slack --------------------------------------------------------------------------

    def ingest(self, tweet: Tweet, channel: ChannelId, topic: str | None, answerable: bool,
               closed: AfterHours | None = None) -> Ingested:
        """Store a customer tweet in its case and queue what Slack must show, in one atomic step.

        Joins the case of a tweet it replies to or quotes, else of its conversation, else opens a
        case in ``channel``. A tweet stored before is a duplicate and changes nothing. ``closed``:
        the desk is closed; the customer waits from the opening, and a new case is marked after hours.
        """
        reply_key = f"autoreplied:{closed.period}:{tweet.author.id}" if closed and closed.auto_reply else ""
        now = self.clock()
        args = [
            self.p,
            tweet.id,
            tweet_json(tweet),
            tweet.conversation_id or "",
            channel,
            topic or "",
            case_customer(tweet.author),
            "1" if answerable else "0",
            len(tweet.referenced),
            *tweet.referenced,
            repr(closed.opens_at if closed else now),
            closed.period if closed else "",
            reply_key,
            repr(now),
            *day_and_hour(now, self.zone()),
        ]
        outcome, case_id, case_channel = self._ingest(args=args)
        return Ingested(Outcome(outcome), CaseId(case_id), ChannelId(case_channel))

    def cursor(self, source: str) -> TweetId | None:
        value = self.r.get(self.keys.cursor(source))
        return TweetId(value) if value else None

    def set_cursor(self, source: str, tweet_id: TweetId) -> None:
        """Move the cursor forward only: a slow poll finishing late must not move it back."""
        self._forward(keys=[self.keys.cursor(source)], args=[tweet_id])

    def gap(self, source: str) -> tuple[TweetId, TweetId] | None:
        """Unread tweets below ``until`` (and above the cursor), and the newest id read above them."""
        raw = self.r.hgetall(self.keys.gap(source))
        return (TweetId(raw["until"]), TweetId(raw["newest"])) if raw else None

    def set_gap(self, source: str, until: str, newest: str) -> None:
        self.r.hset(self.keys.gap(source), mapping={"until": until, "newest": newest})

    def close_gap(self, source: str, newest: TweetId) -> None:
        self.set_cursor(source, newest)
        self.r.delete(self.keys.gap(source))

    def tweet(self, tweet_id: TweetId) -> Tweet | None:
        raw = self.r.get(self.keys.tweetdata(tweet_id))
        return tweet_from_json(raw) if raw else None

    def case_of_tweet(self, tweet_id: TweetId) -> CaseId | None:
        value = self.r.hget(*self.keys.tweet(tweet_id))
        return CaseId(value) if value else None

    def set_parent(self, case_id: CaseId, channel: ChannelId, ts: SlackTs,
                   pipe: redis.client.Pipeline | None = None) -> None:
        """Record the case's parent; in ``pipe`` (a transaction the caller executes) when given."""
        target = pipe if pipe is not None else self.r.pipeline(transaction=True)
        target.hset(self.keys.case(case_id), mapping={"parent_ts": ts, "channel": channel})
        target.hset(*self.keys.parent(channel, ts), case_id)
        if pipe is None:
            target.execute()

    def link_brand_tweet(self, case_id: CaseId, tweet_id: TweetId) -> None:
        """The brand's reply belongs to the case, so the customer's answer to it joins the case."""
        self.r.hset(*self.keys.tweet(tweet_id), case_id)

    # -- cases -------------------------------------------------------------------------------

    def case(self, case_id: CaseId) -> Case | None:
        raw = self.r.hgetall(self.keys.case(case_id))
        return case_from_hash(case_id, raw) if raw else None

    def case_with_first_tweet(self, case_id: CaseId) -> tuple[Case | None, Tweet | None]:
        """The case and its first tweet in one round trip (a parent is built from both)."""
        flat, raw = self._case_with_first_tweet(args=[self.p, case_id])
        if not flat:
            return None, None
        case = case_from_hash(case_id, dict(zip(flat[::2], flat[1::2], strict=True)))
        return case, tweet_from_json(raw) if raw else None

    def case_by_parent(self, channel: str, ts: str) -> Case | None:
        case_id = self.r.hget(*self.keys.parent(channel, ts))
        return self.case(CaseId(case_id)) if case_id else None

    def open_claims(self, user: str) -> list[Case]:
        """The cases ``user`` holds that are not resolved, oldest first (the ``claims:<user>`` index)."""
        ids = sorted(self.r.smembers(self.keys.claims(user)), key=lambda c: (len(c), c))
        cases = [self.case(CaseId(case_id)) for case_id in ids]
        return [c for c in cases if c is not None and c.claimer == user and c.status != CaseStatus.RESOLVED]

    def unclaimed(self, limit: int = 10) -> tuple[int, list[tuple[Case, float]]]:
        """How many open cases nobody holds, and the oldest ``limit`` of them with when they came in."""
        oldest = self.r.zrange(self.keys.queue, 0, limit - 1, withscores=True)
        cases = [(self.case(CaseId(case_id)), since) for case_id, since in oldest]
        return int(self.r.zcard(self.keys.queue)), [(c, since) for c, since in cases if c is not None]

    def claim(self, case_id: CaseId, user: SlackUserId) -> SlackUserId | None:
        """Claim the case for ``user`` if nobody holds it; returns whoever holds it afterwards."""
        holder = self._claim(keys=[self.keys.case(case_id), *self._waits, self.keys.claims(user)],
                             args=[user, case_id])
        return SlackUserId(holder) if holder else None

    def release(self, case_id: CaseId, user: SlackUserId) -> bool:
        return bool(self._release(keys=[self.keys.case(case_id), *self._waits, self.keys.claims(user)],
                                  args=[user, case_id, repr(self.clock())]))

    def resolve(self, case_id: CaseId, user: SlackUserId) -> bool:
        return bool(self._set_status(keys=[self.keys.case(case_id), *self._waits],
                                     args=["resolved", user, case_id, repr(self.clock()), self.p]))

    def unresolve(self, case_id: CaseId) -> bool:
        return bool(self._set_status(keys=[self.keys.case(case_id), *self._waits],
                                     args=["open", "", case_id, repr(self.clock()), self.p]))

    @property
    def _waits(self) -> tuple[str, str, str]:
        return self.keys.unclaimed, self.keys.waiting, self.keys.queue

    # -- Slack dedupe ------------------------------------------------------------------------

    def event_seen(self, event_id: str) -> bool:
        return bool(self.r.exists(self.keys.event(event_id)))

    def begin_event(self, event_id: str) -> bool:
        """Take an event for handling; False while another delivery of it is being handled."""
        return bool(self.r.set(self.keys.event_lock(event_id), 1, nx=True, ex=EVENT_LOCK_TTL))

    def end_event(self, event_id: str, handled: bool) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            if handled:
                pipe.set(self.keys.event(event_id), 1, ex=EVENT_TTL)
            pipe.delete(self.keys.event_lock(event_id))
            pipe.execute()

    def queue(self, *jobs: tuple[str, Job]) -> None:
        """Queue ``jobs`` in their lanes in one transaction, and wake a worker."""
        with self.r.pipeline(transaction=True) as pipe:
            for lane, job in jobs:
                self.outbox.push(lane, job, pipe=pipe)
            pipe.execute()

    def mark_customer_deleted(self, case_id: CaseId, tweet_id: TweetId,
                              jobs_for: Callable[[Case], list[tuple[str, Job]]]) -> bool:
        """Record that the customer deleted ``tweet_id`` and queue what Slack shows, unless recorded before."""
        key = self.keys.case(case_id)
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if pipe.hget(key, CUSTOMER_DELETED) == tweet_id:
                    return False
                case = self.case(case_id)
                if case is None:
                    return False
                tweet = self.tweet(tweet_id)
                pipe.multi()
                pipe.hset(key, CUSTOMER_DELETED, tweet_id)
                if tweet is not None:  # what it said and showed leaves the desk (X's developer terms)
                    pipe.set(self.keys.tweetdata(tweet_id), tweet_json(replace(tweet, text="", media=(), gone=True)))
                for lane, job in jobs_for(case):
                    self.outbox.push(lane, job, pipe=pipe)
                pipe.execute()
            except redis.WatchError:
                return False  # a twin recorded it (or the case changed: the next round looks again)
        return True

    def parents_of(self, case_id: CaseId) -> list[tuple[str, str]]:
        """Every Slack message that was the case's parent, (channel, ts): where it is, and where it moved
        from. A scan of the lookups: asked when a customer's tweet must leave Slack, which is rare."""
        found = []
        for key in self.r.scan_iter(f"{self.p}parents:*", count=1000):
            for name, value in self.r.hgetall(key).items():
                if value == case_id:
                    channel, _, ts = name.partition(":")
                    found.append((channel, ts))
        return found

    def take_message(self, channel: str, ts: str, jobs: list[tuple[str, Job]]) -> bool:
        """Queue ``jobs`` for a Slack message unless it was taken before (Slack retries, twins)."""
        return self.queue_once(self.keys.message(channel, ts), jobs)

    def queue_once(
        self,
        key: str,
        jobs: list[tuple[str, Job]],
        *,
        when: Callable[[str | None], bool] = lambda current: current is None,
        value: str = "1",
        ttl: int = EVENT_TTL,
        also: Callable[[redis.client.Pipeline], object] | None = None,
    ) -> bool:
        """Set ``key`` to ``value`` and queue ``jobs`` in one transaction, if ``when`` accepts the key's
        current value (by default: if the key is unset). False if not, or if a twin got there first.

        The mark and the jobs go together: a mark without its jobs would refuse Slack's retry of
        something that was never queued, and jobs without the mark would be queued twice.
        """
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if not when(pipe.get(key)):
                    return False
                pipe.multi()
                pipe.set(key, value, ex=ttl)
                if also:
                    also(pipe)
                for lane, job in jobs:
                    self.outbox.push(lane, job, pipe=pipe)
                pipe.execute()
            except redis.WatchError:
                return False  # a twin delivery took it first
        return True


def case_customer(author: Author) -> str:
    """Who a case is with: id, handle and name, which its hash keeps as three fields. Redis keeps a
    hash compact (a listpack) only while every value is short (``hash-max-listpack-value``, 64 bytes
    by default): a case hash holding the customer as JSON with the picture's URL took four times the
    memory. The picture and the follower count are the tweet's, in ``tweetdata``."""
    return compact_json(Author(author.id, author.username, author.name))


def compact_json(value: Any) -> str:
    """A dataclass as JSON without the fields at their defaults: a case's tweets and customer are
    stored for as long as the case, so every byte counts (issue 9: at most 1 KB per open case)."""
    return json.dumps(_without_defaults(value), separators=(",", ":"), ensure_ascii=False)


def _without_defaults(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if f.default is not MISSING and item == f.default:
                continue
            out[f.name] = _without_defaults(item)
        return out
    if isinstance(value, (tuple, list)):
        return [_without_defaults(v) for v in value]
    return value


def tweet_json(tweet: Tweet) -> str:
    """A tweet as ``tweetdata`` keeps it: :func:`compact_json`, and without its conversation when it
    starts it (X gives every tweet one; most customers' tweets start theirs)."""
    data = _without_defaults(tweet)
    if tweet.conversation_id == tweet.id:
        del data["conversation_id"]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def tweet_from_json(raw: str) -> Tweet:
    data = json.loads(raw)
    data.setdefault("conversation_id", data["id"])
    data["author"] = Author(**data["author"])
    data["media"] = tuple(Media(**m) for m in data.get("media", ()))
    data["mentions"] = tuple(data.get("mentions", ()))
    return Tweet(**data)


def case_from_hash(case_id: CaseId, h: dict[str, str]) -> Case:
    return Case(
        id=case_id,
        channel=ChannelId(h["channel"]),
        topic=h.get("topic") or None,
        first_tweet=TweetId(h["first_tweet"]),
        latest_customer_tweet=TweetId(h["latest_customer_tweet"]),
        customer=_customer(h),
        status=CaseStatus(h.get("status", "open")),
        claimer=SlackUserId(h["claimer"]) if h.get("claimer") else None,
        resolved_by=SlackUserId(h["resolved_by"]) if h.get("resolved_by") else None,
        parent_ts=SlackTs(h["parent_ts"]) if h.get("parent_ts") else None,
        answerable=h.get("answerable", "1") == "1",
        tweet_count=int(h.get("tweet_count", 1)),
        after_hours=h.get("after_hours") == "1",
        extra={k: v for k, v in h.items() if k not in _CASE_FIELDS},  # fields the features add
    )


def _customer(h: dict[str, str]) -> Author:
    if "customer" in h:  # a case stored before the customer was kept as three fields
        return Author(**json.loads(h["customer"]))
    return Author(UserId(h["customer_id"]), h["customer_handle"], h["customer_name"])


_CASE_FIELDS = {"channel", "topic", "first_tweet", "latest_customer_tweet", "customer", "customer_id",
                "customer_handle", "customer_name", "status", "claimer",
                "resolved_by", "parent_ts", "answerable", "tweet_count", "after_hours"}
