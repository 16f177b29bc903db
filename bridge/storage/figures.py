"""The desk's figures, counted in Redis by the same steps that do what they count, so that every
process reads the same numbers and a kill or a retry never counts twice or not at all.

- Cases opened: counted by the ingest scripts (bridge/storage/scripts.py ``INGEST``, ``INGEST_DM``).
- Replies and first responses: :meth:`Figures.replied`, once per job, with the "nobody waits" mark.
- X calls, X's budget left and what they cost: :meth:`Figures.x_call`, called by the X adapter.
- Workers' heartbeats, for ``/readyz`` and ``xdesk_worker_heartbeat_age_seconds``.

Running totals are in the hash ``metrics``; a day's figures (the desk's time zone) in ``day:<date>``
and its first responses in ``dayfr:<date>``, kept 400 days. :meth:`Figures.period` reads them back.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import redis

from bridge.core.hours import desk_zone, open_seconds
from bridge.core.models import Case
from bridge.core.settings import Settings, XPrices
from bridge.storage.keys import Keys
from bridge.storage.scripts import FIGURES

# The brand replied (a tweet or a DM, ``kind``) to ``answers``, the customer's latest message of that kind
# in the case: if it still is, nobody waits any more. The reply is counted once per job (its mark lives
# a day, longer than any retry), and the case's first reply sets its first response: ``open_for`` is
# the open time since the case opened, reckoned by the caller (service hours are plain Python).
REPLIED = "local p = ARGV[1]\n" + FIGURES + """
local ck, case_id, answers, kind = KEYS[1], ARGV[2], ARGV[3], ARGV[4]
local job, agent, now, day, hour, sla, open_for = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local latest_field = 'latest_customer_tweet'
if kind == 'dm' then latest_field = 'dm_latest' end
if redis.call('HGET', ck, latest_field) == answers then
  redis.call('HSET', ck, 'waiting_since', '')
  redis.call('ZREM', p..'waiting', case_id)
end
if not redis.call('SET', p..'counted:'..job, '1', 'NX', 'EX', 86400) then return 0 end
redis.call('HINCRBY', p..'metrics', 'replies|'..kind, 1)
day_count(day, 'replies|'..kind, 1)
if agent ~= '' then day_count(day, 'agent|'..agent, 1) end
if redis.call('EXISTS', ck) == 0 or (redis.call('HGET', ck, 'first_reply_at') or '') ~= '' then return 1 end
redis.call('HSET', ck, 'first_reply_at', now)
local seconds = tonumber(open_for)
if seconds < 0 then return 1 end  -- a case stored before cases kept when they opened
redis.call('HINCRBY', p..'metrics', 'fr_count', 1)
redis.call('HINCRBYFLOAT', p..'metrics', 'fr_sum', seconds)
for i = 12, #ARGV do
  if seconds <= tonumber(ARGV[i]) then redis.call('HINCRBY', p..'metrics', 'fr_le|'..ARGV[i], 1) end
end
day_count(day, 'answered', 1)
if seconds <= tonumber(sla) then day_count(day, 'sla_met', 1) end
day_count(day, 'answered|'..(redis.call('HGET', ck, 'topic') or ''), 1)
redis.call('RPUSH', p..'dayfr:'..day, hour..':'..open_for)  -- by hour, for the digest's chart
redis.call('EXPIRE', p..'dayfr:'..day, DAY_TTL)
return 1
"""

# First response, in seconds: a minute up to three days (xdesk_first_response_seconds).
FIRST_RESPONSE_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
HEARTBEAT_KEPT = 3600  # a worker not heard of for an hour is forgotten
FOLLOWERS_KEPT = 400 * 86400  # SPEC: the follower samples are kept 400 days
XSEEN_TTL = 2 * 86400  # a resource read is billed once per UTC day

# What each X read returns that X bills, and at which price: (JSON path, price field).
# https://docs.x.com/x-api/getting-started/pricing (pay-per-use; ../reference x-docs data-handling page)
BILLED_READS: dict[str, tuple[tuple[str, str], ...]] = {
    "GET /2/users/:id/mentions": (("data", "owned_read"), ("includes.users", "user_read")),
    "GET /2/users/:id/tweets": (("data", "owned_read"),),
    "GET /2/tweets/search/recent": (("data", "post_read"), ("includes.users", "user_read")),
    "GET /2/tweets": (("data", "post_read"), ("includes.users", "user_read")),
    "GET /2/users/me": (("data", "user_read"),),
}
BILLED_WRITES = {"POST /2/tweets": "post_write", "POST /2/dm_conversations/with/:participant_id/messages": "dm_write"}

# Counts one X call, its budget left and its cost (deduplicated per UTC day) in one step.
# ARGV: prefix, endpoint, status, remaining ('' unknown), utc day, month, cost of writes, then
# triples (kind, price, ids as a JSON list) for the resources read.
X_CALL = """
local p, endpoint, status, remaining = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local day, month, cost = ARGV[5], ARGV[6], tonumber(ARGV[7])
redis.call('HINCRBY', p..'metrics', 'xreq|'..endpoint..'|'..status, 1)
if remaining ~= '' then redis.call('HSET', p..'xlimits', endpoint, remaining) end
for i = 8, #ARGV, 3 do
  local seen = p..'xseen:'..day..':'..ARGV[i]
  local ids = cjson.decode(ARGV[i + 2])
  local new = 0
  for _, id in ipairs(ids) do new = new + redis.call('SADD', seen, id) end
  redis.call('EXPIRE', seen, 172800)
  cost = cost + new * tonumber(ARGV[i + 1])
end
if cost > 0 then
  redis.call('HINCRBYFLOAT', p..'metrics', 'xcost', cost)
  redis.call('HINCRBYFLOAT', p..'xcost', month, cost)
end
return tostring(cost)
"""


def day_and_hour(at: float, zone: tzinfo) -> tuple[str, str]:
    """The day (ISO date) and hour ("HH") of ``at`` in ``zone``: what a figure is counted under."""
    local = datetime.fromtimestamp(at, zone)
    return local.date().isoformat(), f"{local.hour:02d}"


def _path(body: dict, path: str) -> list[dict]:
    node: object = body
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        return [node]
    return [item for item in node or [] if isinstance(item, dict)] if isinstance(node, list) else []


@dataclass
class Period:
    """A span of days' figures, as the App Home, ``/xdesk stats`` and the digest show them."""

    days: list[date]
    opened: int = 0
    answered: int = 0  # cases whose first response came in the period
    sla_met: int = 0
    replies: int = 0
    first_responses: list[float] = field(default_factory=list)
    by_agent: dict[str, int] = field(default_factory=dict)  # replies sent
    by_topic: dict[str, int] = field(default_factory=dict)  # cases opened ("" the default channel)
    opened_by_hour: dict[int, int] = field(default_factory=dict)  # hour of the day -> cases opened
    median_by_hour: dict[int, float] = field(default_factory=dict)  # hour -> median first response

    @property
    def median_first_response(self) -> float | None:
        return statistics.median(self.first_responses) if self.first_responses else None

    @property
    def sla_share(self) -> float | None:
        return self.sla_met / self.answered if self.answered else None


class Figures:
    def __init__(self, r: redis.Redis, keys: Keys, settings: Callable[[], Settings],
                 clock: Callable[[], float]) -> None:
        self.r = r
        self.keys = keys
        self.settings = settings  # the settings in force (their hours, SLA and prices change in Slack)
        self.clock = clock
        self._replied = r.register_script(REPLIED)
        self._x_call = r.register_script(X_CALL)

    def where(self, at: float) -> tuple[str, str]:
        """The day (ISO date) and hour ("HH") of ``at`` in the desk's zone."""
        return day_and_hour(at, desk_zone(self.settings()))

    def replied(self, case: Case, kind: str, answers: str, job_id: str, agent: str) -> None:
        """The brand's reply (``kind`` "tweet" or "dm") to ``answers`` went out: nobody waits for it any
        more, and it is counted once; the case's first reply is its first response, in open hours."""
        now = self.clock()
        settings = self.settings()
        opened_at = self.r.hget(self.keys.case(case.id), "opened_at")
        open_for = open_seconds(settings.hours, float(opened_at), now) if opened_at else -1.0
        day, hour = self.where(now)
        self._replied(keys=[self.keys.case(case.id)], args=[
            self.keys.p, case.id, answers, kind, job_id, agent, repr(now), day, hour,
            repr(settings.sla.first_response * 60), repr(open_for), *FIRST_RESPONSE_BUCKETS])

    def x_call(self, endpoint: str, status: str, remaining: int | None, body: dict | None) -> None:
        """One call to X: counted by endpoint and answer, its budget left, and what X bills for it."""
        prices: XPrices = self.settings().x.prices
        now = datetime.fromtimestamp(self.clock(), UTC)
        cost = getattr(prices, BILLED_WRITES[endpoint]) if endpoint in BILLED_WRITES and status.startswith("2") \
            else 0.0
        reads: list[str] = []
        if body is not None and status.startswith("2"):
            for path, price in BILLED_READS.get(endpoint, ()):
                ids = [str(item["id"]) for item in _path(body, path) if "id" in item]
                if ids:
                    reads += [price, repr(getattr(prices, price)), json.dumps(ids)]
        self._x_call(args=[self.keys.p, endpoint, status, "" if remaining is None else str(remaining),
                           now.date().isoformat(), now.strftime("%Y-%m"), repr(cost), *reads])

    # -- workers' heartbeats ---------------------------------------------------------------------

    def beat(self, owner: str) -> None:
        now = self.clock()
        with self.r.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.heartbeats, {owner: now})
            pipe.zremrangebyscore(self.keys.heartbeats, "-inf", now - HEARTBEAT_KEPT)
            pipe.execute()

    def heartbeat_age(self) -> float | None:
        """Seconds since the freshest worker's heartbeat; None when no worker was heard of."""
        newest = self.r.zrevrange(self.keys.heartbeats, 0, 0, withscores=True)
        return max(0.0, self.clock() - newest[0][1]) if newest else None

    # -- the brand's followers ----------------------------------------------------------------------

    def followers_sampled(self, count: int, at: float) -> None:
        member = f"{at:.0f}:{count}"  # unique per sample: a zset keeps one member once
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.followers, {member: at})
            pipe.zremrangebyscore(self.keys.followers, "-inf", at - FOLLOWERS_KEPT)
            pipe.execute()

    def followers(self, days_back: Iterable[int] = (1, 7, 30)) -> tuple[int | None, dict[int, int]]:
        """The newest follower count, and its change over each of ``days_back`` (where a sample that old is kept)."""
        newest = self.r.zrevrange(self.keys.followers, 0, 0, withscores=True)
        if not newest:
            return None, {}
        now_count, now_at = int(newest[0][0].split(":")[1]), newest[0][1]
        change = {}
        for days in days_back:
            before = self.r.zrevrangebyscore(self.keys.followers, now_at - days * 86400, "-inf", start=0, num=1)
            if before:
                change[days] = now_count - int(before[0].split(":")[1])
        return now_count, change

    # -- reading back -----------------------------------------------------------------------------

    def totals(self) -> dict[str, str]:
        return self.r.hgetall(self.keys.metrics)

    def x_limits(self) -> dict[str, str]:
        return self.r.hgetall(self.keys.x_limits)

    def x_cost_month(self, month: str) -> float:
        return float(self.r.hget(self.keys.x_cost, month) or 0)

    def period(self, days: Iterable[date]) -> Period:
        days = list(days)
        out = Period(days)
        with self.r.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(self.keys.day(day.isoformat()))
                pipe.lrange(self.keys.day_first_responses(day.isoformat()), 0, -1)
            answers = pipe.execute()
        hourly: dict[int, list[float]] = {}
        for fields, first in zip(answers[::2], answers[1::2], strict=True):
            for entry in first:
                hour, _, seconds = entry.partition(":")
                out.first_responses.append(float(seconds))
                hourly.setdefault(int(hour), []).append(float(seconds))
            for name, raw in fields.items():
                what, labelled, label = name.partition("|")
                value = int(float(raw))
                if not labelled and what in ("opened", "answered", "sla_met"):
                    setattr(out, what, getattr(out, what) + value)
                elif what == "replies":
                    out.replies += value
                elif what == "agent":
                    out.by_agent[label] = out.by_agent.get(label, 0) + value
                elif what == "opened":
                    out.by_topic[label] = out.by_topic.get(label, 0) + value
                elif what.startswith("h") and label == "opened":
                    out.opened_by_hour[int(what[1:])] = out.opened_by_hour.get(int(what[1:]), 0) + value
        out.median_by_hour = {h: statistics.median(v) for h, v in sorted(hourly.items())}
        return out

    def days(self, which: str) -> list[date]:
        """The days of ``today``, ``yesterday``, ``week`` (the last seven) or ``month`` (the last 30)."""
        today = datetime.fromtimestamp(self.clock(), desk_zone(self.settings())).date()
        if which == "yesterday":
            return [today - timedelta(days=1)]
        count = {"today": 1, "week": 7, "month": 30}[which]
        return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]
