"""The limits of X and Slack, kept in Redis and shared by every lane, thread and process.

:class:`XBudget`: X's write budgets of the brand account. Each case has its own X lane
(:func:`bridge.storage.outbox.x_lane`), so without one shared count the lanes together could send
past X's limits (``POST /2/tweets``: 100 per 15 minutes per user; DMs: 15 per 15 minutes):
https://docs.x.com/x-api/fundamentals/rate-limits. The count follows X's own
``x-rate-limit-*`` headers after every write; in between, each write takes one from it.

:class:`SlackPace`: Slack's pace for ``chat.postMessage``, about one message a second in a channel
with short bursts allowed (https://docs.slack.dev/apis/web-api/rate-limits#special-rate-limits),
counted from the time of each post (GCRA), not slept after it. A post that spends the burst paces
the channel's post lane until the next may go, so the lane's worker waits without trying.
"""

from __future__ import annotations

import time

import redis

from bridge.storage.keys import Keys
from bridge.storage.outbox import post_lane

TWEETS = "POST /2/tweets"
DELETES = "DELETE /2/tweets/:id"
DMS = "POST /2/dm_conversations/with/:participant_id/messages"


# One write from X's budget for an endpoint, for whichever lane asks first: the seconds until the
# window resets when none is left, else 0 (and one fewer left). While no count is known (the first
# write, or the first of a new window) one write at a time goes, to learn it: the others get -1.
TAKE_BUDGET = """
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
local now = tonumber(ARGV[1])
if reset <= now then
  if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 15) then return '0' end
  return '-1'
end
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '1')
if left > 0 then
  redis.call('HINCRBY', KEYS[1], 'remaining', -1)
  return '0'
end
return tostring(reset - now)
"""

# What X's headers said after a write. Within the same window the count only goes down: writes
# taken from it since this one was sent are still on their way, and X's figure does not know them.
SEEN_BUDGET = """
local remaining, reset, expire_at = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', KEYS[1], 'reset') == reset then
  local kept = tonumber(redis.call('HGET', KEYS[1], 'remaining') or remaining)
  if kept < remaining then remaining = kept end
end
redis.call('HSET', KEYS[1], 'remaining', remaining, 'reset', reset)
redis.call('EXPIREAT', KEYS[1], expire_at)
return remaining
"""

# A post to a channel under Slack's pace (GCRA: the theoretical time of the next post, ``tat``): up to
# ``burst`` at once, then one per ``interval``. 0: post now (counted); else the seconds to wait.
# A post that spends the burst also paces the channel's post lane (KEYS[2], the outbox's ``pace:``)
# until the next one may go: its worker then leaves the lane alone until then, instead of building
# the next message only to be told to wait (bench/perf.py: every parent was built twice).
TAKE_SLACK_PACE = """
local now, interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat - (burst - 1) * interval
if allowed_at > now then return tostring(allowed_at - now) end
tat = tat + interval
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
local next_at = tat - (burst - 1) * interval
if next_at > now and next_at > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], tostring(next_at), 'PX', math.ceil((next_at - now) * 1000) + 1000)
end
return '0'
"""


class XBudget:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r = client
        self.keys = keys
        self._take = client.register_script(TAKE_BUDGET)
        self._seen = client.register_script(SEEN_BUDGET)

    def take(self, endpoint: str) -> float:
        """0 when a write to ``endpoint`` may go now (it is counted); else the seconds until X's reset,
        or -1 while another write is learning the count of a new window (ask again in a second)."""
        keys = [self.keys.x_budget(endpoint), self.keys.x_budget_probe(endpoint)]
        return float(self._take(keys=keys, args=[repr(time.time())]))

    def sent(self, endpoint: str) -> None:
        """The write :meth:`take` allowed is over, answered or not: another may learn the count."""
        self.r.delete(self.keys.x_budget_probe(endpoint))

    def seen(self, endpoint: str, remaining: int | None, reset_at: float | None) -> None:
        """What X's headers said after a write (or a 429): the count from now on, never more than is
        left of it in the same window (other lanes' writes may be on their way)."""
        if remaining is None or reset_at is None:
            return
        # A past window says nothing: the count goes a minute after X's reset.
        self._seen(keys=[self.keys.x_budget(endpoint)], args=[remaining, repr(reset_at), int(reset_at) + 60])


class SlackPace:
    """Posts to one channel: up to ``burst`` at once, then one per ``interval`` seconds."""

    def __init__(self, client: redis.Redis, keys: Keys, interval: float, burst: int) -> None:
        self.keys = keys
        self.interval, self.burst = interval, max(1, burst)
        self._take = client.register_script(TAKE_SLACK_PACE)

    def take(self, channel: str) -> float:
        """0 when a post to ``channel`` may go now (it is counted); else the seconds until it may."""
        if self.interval <= 0:
            return 0.0
        args = [repr(time.time()), repr(self.interval), self.burst]
        keys = [self.keys.slack_pace(channel), self.keys.pace(post_lane(channel))]
        return float(self._take(keys=keys, args=args))
