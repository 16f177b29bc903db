"""The durable outbox: every effect on Slack or X is a job in a Redis *lane*, done in order.

A lane is a Redis list worked by one process at a time (a lease with a TTL): ``post:<channel>`` keeps
a channel's parents and thread messages in order and at Slack's pace, ``x`` keeps the brand's tweets
in order, ``slack`` holds parent updates, reactions and ephemeral answers. A job stays at the head of
its lane until it is done; completing it records the result under ``done:<job id>``, pops it and
pushes the jobs that follow from it, in one atomic step. A process killed mid-job leaves the job at
the head, and the next lease holder finds it there.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from bridge.storage.keys import Keys

Job = dict[str, Any]

DONE_TTL = 14 * 24 * 3600

# Pop the head only if it is still the job we did (another holder after an expired lease may have
# done it), record the result, and push the follow-up jobs.
_COMPLETE = """
local p, lane, job_id, result, done_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local lk = p..'lane:'..lane
local head = redis.call('LINDEX', lk, 0)
if head and cjson.decode(head)['id'] == job_id then redis.call('LPOP', lk) end
redis.call('SET', p..'done:'..job_id, result, 'EX', done_ttl)
local i = 6
while i < #ARGV do
  redis.call('RPUSH', p..'lane:'..ARGV[i], ARGV[i + 1])
  redis.call('SADD', p..'lanes', ARGV[i])
  i = i + 2
end
if redis.call('LLEN', lk) == 0 then redis.call('SREM', p..'lanes', lane) end
redis.call('LPUSH', p..'wake', '1')
redis.call('LTRIM', p..'wake', 0, 63)
return 1
"""

# Every lane's depth in one atomic step: counted lane by lane, a job completing in between (its
# follow-up pushed to a lane already counted) was seen nowhere.
_PENDING = """
local n = 0
for _, lane in ipairs(redis.call('SMEMBERS', ARGV[1]..'lanes')) do
  n = n + redis.call('LLEN', ARGV[1]..'lane:'..lane)
end
return n
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def x_lane(case_id: str) -> str:
    """The lane of a case's effects on X (replies, chains, DMs, deletes, asks, auto-replies): in order
    within the case, independent of every other case, so one stuck reply holds only its own case.
    X's shared write budget is kept by :class:`bridge.storage.budget.XBudget`, not by the lanes."""
    return f"x:{case_id}"


class Outbox:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.p = prefix  # for the Lua scripts
        self.keys = Keys(prefix)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)
        self._pending = client.register_script(_PENDING)

    def push(self, lane: str, job: Job, pipe: redis.client.Pipeline | None = None) -> None:
        target = pipe if pipe is not None else self.r.pipeline(transaction=True)
        target.rpush(self.keys.lane(lane), json.dumps(job))
        target.sadd(self.keys.lanes, lane)
        target.lpush(self.keys.wake, "1")
        target.ltrim(self.keys.wake, 0, 63)
        if pipe is None:
            target.execute()

    def lanes(self) -> list[str]:
        return sorted(self.r.smembers(self.keys.lanes))

    def head(self, lane: str) -> Job | None:
        raw = self.r.lindex(self.keys.lane(lane), 0)
        return json.loads(raw) if raw else None

    def holds(self, lane: str, job_id: str) -> bool:
        """Whether the job is still waiting in the lane (a short lane: the ``x`` lane of one desk)."""
        return any(json.loads(raw).get("id") == job_id for raw in self.r.lrange(self.keys.lane(lane), 0, -1))

    def depth(self, lane: str) -> int:
        return int(self.r.llen(self.keys.lane(lane)))

    def pending(self) -> int:
        return int(self._pending(args=[self.p]))

    def done(self, job_id: str) -> Any:
        raw = self.r.get(self.keys.done(job_id))
        return json.loads(raw) if raw is not None else None

    def complete(self, lane: str, job: Job, result: Any, followups: list[tuple[str, Job]]) -> None:
        args: list[Any] = [self.p, lane, job["id"], json.dumps(result), DONE_TTL]
        for follow_lane, follow_job in followups:
            args += [follow_lane, json.dumps(follow_job)]
        self._complete(args=args)

    def lease(self, lane: str, owner: str, ttl: float) -> bool:
        return bool(self.r.set(self.keys.lease(lane), owner, nx=True, px=int(ttl * 1000)))

    def renew(self, lane: str, owner: str, ttl: float) -> bool:
        key = self.keys.lease(lane)
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) != owner:
                    return False
                pipe.multi()
                pipe.pexpire(key, int(ttl * 1000))
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def release(self, lane: str, owner: str) -> None:
        self._release(keys=[self.keys.lease(lane)], args=[owner])

    def not_before(self, lane: str) -> float:
        value = self.r.get(self.keys.pace(lane))
        return float(value) if value else 0.0

    def pace(self, lane: str, until: float) -> None:
        """Leave the lane alone until ``until`` (epoch seconds): Slack's pace, X's rate-limit reset."""
        ttl = max(1, int(until - time.time()) + 1)
        self.r.set(self.keys.pace(lane), repr(until), ex=ttl)

    def wait(self, timeout: float) -> None:
        """Block until some job is pushed or completed, or ``timeout`` passes."""
        self.r.blpop([self.keys.wake], timeout=max(0.01, timeout))
