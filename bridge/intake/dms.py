"""Direct messages, X to Slack: the brand's DMs become cases, and the rule that sends a reply as a DM.

A customer's DM joins, in this order: the case that asked them for a DM (the ``ask_dm`` reaction),
else their open (not resolved) DM case, else it opens a new DM case, routed by topics like a tweet.
A DM is stored as a :class:`~bridge.core.models.Tweet` with ``direct=True`` (its id the DM event's id; X
draws DM event ids and post ids from one snowflake sequence), so the parent, follow-up and update
jobs show it like a tweet, minus the public link.

Keys (under ``xdesk:``), besides a case's ``tweet:`` and ``tweetdata:`` ones:

- ``dmask:<X user id>`` -> the case that asked this customer for a DM, until their DM joins it
- ``once:dm_ask:<case id>`` the case's ask for a DM is queued (it is asked once)
- ``dmcase:<X user id>`` -> the customer's latest case with a DM in it
- ``cursor:dms`` the newest DM event id stored; ``dmbacklog`` where an unfinished read resumes
- case hash fields ``kind`` ("dm" for a case a DM opened), ``dm_peer`` (the customer's X user id),
  ``dm_latest`` (their latest DM) and ``dm_tweet_mark`` (their latest tweet when that DM came)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

import redis

from bridge.core import crash
from bridge.core.log import kv
from bridge.core.models import Author, CaseId, ChannelId, Tweet, TweetId, UserId
from bridge.core.rules import route
from bridge.core.settings import Settings
from bridge.intake.mentions import Poller
from bridge.storage.store import Ingested, Outcome, Store
from bridge.x.client import XClient, XError, next_poll_delay
from bridge.x.direct import XDirect

log = logging.getLogger(__name__)

SOURCE = "dms"
ASK_TTL = 30 * 24 * 3600  # X keeps DM events for 30 days; an ask older than that is forgotten
MAX_PAGES = 3  # per poll: each page is one of the 15 requests X allows in 15 minutes

_INGEST_DM = """
local p, id, tweet_json, sender = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local channel, topic, customer, since = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local existing = redis.call('GET', p..'tweet:'..id)
if existing then
  return {'duplicate', existing, redis.call('HGET', p..'case:'..existing, 'channel') or ''}
end
local function unresolved(case_id)
  if not case_id then return false end
  local status = redis.call('HGET', p..'case:'..case_id, 'status')
  if status and status ~= 'resolved' then return case_id end
  return false
end
local case_id = unresolved(redis.call('GET', p..'dmask:'..sender))
redis.call('DEL', p..'dmask:'..sender)
if not case_id then case_id = unresolved(redis.call('GET', p..'dmcase:'..sender)) end
local outcome = 'new'
if case_id then
  local ck = p..'case:'..case_id
  channel = redis.call('HGET', ck, 'channel')
  redis.call('HSET', ck, 'dm_peer', sender, 'dm_latest', id,
    'dm_tweet_mark', redis.call('HGET', ck, 'latest_customer_tweet'))
  redis.call('HINCRBY', ck, 'tweet_count', 1)
  -- The customer waits for an answer again (reminders, as bridge/storage/store.py keeps them for tweets).
  redis.call('HSET', ck, 'waiting_since', since)
  if (redis.call('HGET', ck, 'claimer') or '') ~= '' then redis.call('ZADD', p..'waiting', since, case_id) end
  outcome = 'joined'
else
  case_id = tostring(redis.call('INCR', p..'seq:case'))
  redis.call('HSET', p..'case:'..case_id, 'channel', channel, 'topic', topic, 'first_tweet', id,
    'latest_customer_tweet', id, 'customer', customer, 'status', 'open', 'claimer', '',
    'resolved_by', '', 'parent_ts', '', 'answerable', '1', 'tweet_count', 1,
    'kind', 'dm', 'dm_peer', sender, 'dm_latest', id, 'dm_tweet_mark', id, 'after_hours', '0',
    'waiting_since', since)
  redis.call('ZADD', p..'unclaimed', since, case_id)
  redis.call('RPUSH', p..'customer:'..sender, case_id)  -- the customer's history, as for tweets
end
redis.call('SET', p..'dmcase:'..sender, case_id)
redis.call('SET', p..'tweet:'..id, case_id)
redis.call('SET', p..'tweetdata:'..id, tweet_json)
local function push(lane, job)
  redis.call('RPUSH', p..'lane:'..lane, cjson.encode(job))
  redis.call('SADD', p..'lanes', lane)
end
if outcome == 'new' then
  push('post:'..channel, {id = 'parent:'..case_id, kind = 'parent', case = case_id})
else
  push('post:'..channel, {id = 'followup:'..id, kind = 'followup', case = case_id, tweet = id})
end
redis.call('LPUSH', p..'wake', '1')
redis.call('LTRIM', p..'wake', 0, 63)
return {outcome, case_id, channel}
"""

# The brand answered the customer's latest DM: nobody waits any more (unless they wrote again).
_ANSWERED_DM = """
if redis.call('HGET', KEYS[1], 'dm_latest') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'waiting_since', '')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class DmStore:
    """The DM side of :class:`~bridge.storage.store.Store`: same Redis, same prefix, its own scripts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.r, self.p = store.r, store.p
        self._ingest = self.r.register_script(_INGEST_DM)
        self._answered = self.r.register_script(_ANSWERED_DM)

    def ingest(self, dm: Tweet, channel: ChannelId, topic: str | None) -> Ingested:
        """Store a customer's DM in its case and queue what Slack must show, in one atomic step."""
        args = [self.p, dm.id, json.dumps(asdict(dm)), dm.author.id, channel, topic or "",
                json.dumps(asdict(dm.author)), repr(self.store.clock())]
        outcome, case_id, case_channel = self._ingest(args=args)
        return Ingested(Outcome(outcome), CaseId(case_id), ChannelId(case_channel))

    def record_ask(self, case_id: CaseId, customer: UserId, pipe: redis.client.Pipeline | None = None) -> None:
        """The customer's next DM joins this case."""
        (pipe or self.r).set(f"{self.p}dmask:{customer}", case_id, ex=ASK_TTL)

    def latest_dm(self, case_id: CaseId) -> str:
        return self.r.hget(f"{self.p}case:{case_id}", "dm_latest") or ""

    def answered(self, case_id: CaseId, dm_id: str) -> None:
        """The brand answered ``dm_id``: its customer no longer waits, if it is still their latest DM."""
        self._answered(keys=[f"{self.p}case:{case_id}", f"{self.p}waiting"], args=[case_id, dm_id])

    def is_dm_case(self, case_id: CaseId) -> bool:
        return self.r.hget(f"{self.p}case:{case_id}", "kind") == "dm"


def dm_recipient(store: Store, case_id: CaseId) -> UserId | None:
    """To whom the case's next reply goes as a direct message; None: it is tweeted.

    The one place this is decided (the personal-data guard of public replies does not apply to a DM).
    The rule: a case a DM opened is always answered by DM. A public case the customer has DM'd into
    is answered by DM while their latest message in it is a DM, that is while no tweet of theirs joined
    the case after their latest DM; once one did, the reply is tweeted again.
    """
    peer, mark, latest = store.r.hmget(f"{store.p}case:{case_id}", "dm_peer", "dm_tweet_mark",
                                       "latest_customer_tweet")
    return UserId(peer) if peer and mark == latest else None


class DmPoller(Poller):
    """Reads ``GET /2/dm_events`` into cases as often as [dm] min_poll_interval and X's budget allow.

    DM events have no ``since_id``: X sends the newest first, page by page. The poller reads pages
    until it meets an event at or below its cursor (the newest event stored), stores the customers'
    messages oldest first, and only then moves the cursor. A read cut short by the page bound goes
    on from its pagination token at the next poll. With no cursor yet (DMs just switched on) only
    the newest page is read: older DMs are not imported.
    """

    def __init__(self, x: XClient, store: Store, settings: Settings, brand: Author,
                 revive: Callable[[], object] | None = None) -> None:
        # Poller's fetch reads timelines by since_id; this poller reads DM pages with self.direct instead.
        super().__init__(SOURCE, x.mentions, store, settings, brand, answerable_by_source=True, revive=revive)
        self.direct = XDirect(x)
        self.dms = DmStore(store)

    def run(self, stop: threading.Event) -> None:
        log.info(kv("dm.polling", min_interval=self.min_interval()))
        super().run(stop)

    def min_interval(self) -> float:
        return self.settings.dm.min_poll_interval

    def poll_now(self) -> float:
        min_interval = self.min_interval()
        cursor = self.store.cursor(SOURCE)
        backlog_key = f"{self.store.p}dmbacklog"
        backlog = self.store.r.hgetall(backlog_key)
        token: str | None = backlog.get("token")
        read: list[Tweet] = []
        reached = False
        try:
            for _ in range(MAX_PAGES):
                page = self.direct.events(token)
                read += page.messages
                token = page.next_token
                if not token or cursor is None or any(int(m.id) <= int(cursor) for m in page.messages):
                    reached = True
                    break
        except XError as exc:
            if backlog and not exc.retryable:
                # X refused the saved token (they do not last for ever): read from the newest again.
                log.warning(kv("x.dm_backlog_dropped", reason=exc.reason))
                self.store.r.delete(backlog_key)
            return self.wait_after(exc, min_interval)  # nothing stored, nothing moved: read again later
        self.failures = 0
        new = sorted((m for m in read if (cursor is None or int(m.id) > int(cursor)) and m.author.id != self.brand.id),
                     key=lambda m: int(m.id))
        for dm in new:
            topic, channel = route(dm, self.settings.topics, self.settings.slack.default_channel)
            result = self.dms.ingest(dm, channel, topic)
            if result.outcome is not Outcome.DUPLICATE:
                log.info(kv("case.dm_" + result.outcome.value, case=result.case_id, dm=dm.id,
                            channel=result.channel, topic=topic))
        if new:
            crash.point("ingest.before_cursor")
        newest = max((m.id for m in read), key=int, default=backlog.get("newest"))
        if backlog.get("newest") and newest:
            newest = max(newest, backlog["newest"], key=int)
        if reached:
            if newest:
                self.store.set_cursor(SOURCE, TweetId(newest))  # every DM up to it is stored
            self.store.r.delete(backlog_key)
        else:
            log.warning(kv("x.dm_backlog", pages=MAX_PAGES, read=len(read), cursor=cursor))
            self.store.r.hset(backlog_key, mapping={"token": token or "", "newest": newest or ""})
        return next_poll_delay(page.budget, min_interval, time.time())
