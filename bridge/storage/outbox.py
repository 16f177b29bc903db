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
# Most done-marks are there for one reason: a worker whose lease ran out after doing a job must not do
# it again (bridge/storage/lanes.py), a matter of seconds. They go after a day. The marks of the jobs
# whose outcome is read later (was this reply tweeted? for edits and deletes) are kept DONE_TTL. A
# moved case's new parent is asked about by the job right behind it in its lane: a day is plenty.
DONE_TTL_SHORT = 24 * 3600
DONE_KEPT = frozenset({"reply", "dm_reply"})

# What a worker needs to know before a lane's next job: the head job, its done-mark if a holder whose
# lease ran out did it already, the lane's pace, and whether it is parked. Put after ``local p`` (the
# key prefix); every script that hands a worker its next job ends with it, so that a job costs one
# round trip besides its own calls (bench/perf.py).
_HEAD_OF = """
local function head_of(lane)
  local head = redis.call('LINDEX', p..'lane:'..lane, 0)
  local done = ''
  if head then done = redis.call('GET', p..'done:'..cjson.decode(head)['id']) or '' end
  return {head or '', done, redis.call('GET', p..'pace:'..lane) or '', redis.call('HEXISTS', p..'parked', lane)}
end
"""

_NEXT = """
local p, lane = ARGV[1], ARGV[2]
""" + _HEAD_OF + """
return head_of(lane)
"""

# Take the lane's lease (nothing if another worker holds it) and read its head.
_START = """
local p, lane, owner, ttl_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
""" + _HEAD_OF + """
if not redis.call('SET', p..'lease:'..lane, owner, 'NX', 'PX', ttl_ms) then return false end
return head_of(lane)
"""

# Pop the head only if it is still the job we did (another holder after an expired lease may have
# done it), record the result, push the follow-up jobs, and read the next head. Only follow-ups wake
# the waiting workers: the lane itself goes on with its holder.
_COMPLETE = """
local p, lane, job_id, result, done_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
""" + _HEAD_OF + """
local lk = p..'lane:'..lane
local head = redis.call('LINDEX', lk, 0)
if head and cjson.decode(head)['id'] == job_id then redis.call('LPOP', lk) end
redis.call('SET', p..'done:'..job_id, result, 'EX', done_ttl)
redis.call('DEL', p..'attempts:'..job_id)  -- its count of failures: done with it
local i = 6
while i < #ARGV do
  redis.call('RPUSH', p..'lane:'..ARGV[i], ARGV[i + 1])
  redis.call('SADD', p..'lanes', ARGV[i])
  i = i + 2
end
if redis.call('LLEN', lk) == 0 then redis.call('SREM', p..'lanes', lane) end
if i > 6 then
  redis.call('LPUSH', p..'wake', '1')
  redis.call('LTRIM', p..'wake', 0, 63)
end
return head_of(lane)
"""

# Every lane with jobs and its pace, flat (lane, pace, lane, pace...). The wake tokens left go: this
# look sees every push before it (otherwise a burst of pushes woke the worker again and again to
# find nothing new: bench/perf.py).
_DUE = """
local p = ARGV[1]
redis.call('DEL', p..'wake')
local out = {}
for _, lane in ipairs(redis.call('SMEMBERS', p..'lanes')) do
  out[#out + 1] = lane
  out[#out + 1] = redis.call('GET', p..'pace:'..lane) or ''
end
return out
"""

# Every lane's depth in one atomic step: counted lane by lane, a job completing in between (its
# follow-up pushed to a lane already counted) was seen nowhere.
_PENDING = """
local n = 0
for _, lane in ipairs(redis.call('SMEMBERS', ARGV[1]..'lanes')) do
  n = n + redis.call('LLEN', ARGV[1]..'lane:'..lane)
end
for _, lane in ipairs(redis.call('HKEYS', ARGV[1]..'parked')) do  -- parked lanes are off the list
  if redis.call('SISMEMBER', ARGV[1]..'lanes', lane) == 0 then n = n + redis.call('LLEN', ARGV[1]..'lane:'..lane) end
end
return n
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# What a worker reads before a lane's next job: the head job (None: the lane is empty), its recorded
# result if a holder whose lease ran out did it already (else None), when the lane may be worked
# (epoch seconds; 0: now), and whether it is parked.
Head = tuple[Job | None, Any, float, bool]


def x_lane(case_id: str) -> str:
    """The lane of a case's effects on X (replies, chains, DMs, deletes, asks, auto-replies): in order
    within the case, independent of every other case, so one stuck reply holds only its own case.
    X's shared write budget is kept by :class:`bridge.storage.limits.XBudget`, not by the lanes."""
    return f"x:{case_id}"


def post_lane(channel: str) -> str:
    """The lane of a channel's posts (parents, follow-ups, notices): in order, at Slack's pace."""
    return f"post:{channel}"


def slack_lane(channel: str) -> str:
    """The lane of a channel's Slack effects other than posts (parent updates, reactions, ephemerals):
    in order within the channel, and one channel's trouble with Slack holds no other. Posts go in
    ``post:<channel>``, paced by :class:`bridge.storage.limits.SlackPace`."""
    return f"slack:{channel}"


class Outbox:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.p = prefix  # for the Lua scripts
        self.keys = Keys(prefix)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._pending = client.register_script(_PENDING)
        self._next = client.register_script(_NEXT)
        self._start = client.register_script(_START)
        self._due = client.register_script(_DUE)

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

    def lanes_due(self) -> dict[str, float]:
        """Every lane with jobs, and when it may be worked (epoch seconds; 0: now). Clears the wake
        tokens of the pushes it sees."""
        flat = self._due(args=[self.p])
        return {flat[i]: float(flat[i + 1]) if flat[i + 1] else 0.0 for i in range(0, len(flat), 2)}

    def next(self, lane: str) -> Head:
        return _head(self._next(args=[self.p, lane]))

    def start(self, lane: str, owner: str, ttl: float) -> Head | None:
        """Take the lane's lease for ``owner`` and read its head; None when another holds the lane."""
        raw = self._start(args=[self.p, lane, owner, int(ttl * 1000)])
        return _head(raw) if raw else None

    def head(self, lane: str) -> Job | None:
        raw = self.r.lindex(self.keys.lane(lane), 0)
        return json.loads(raw) if raw else None

    def holds(self, lane: str, job_id: str) -> bool:
        """Whether the job is still waiting in the lane (a short lane: the ``x`` lane of one desk)."""
        return any(json.loads(raw).get("id") == job_id for raw in self.r.lrange(self.keys.lane(lane), 0, -1))

    # -- parked lanes and dead letters: what an operator re-drives (python -m bridge outbox) --

    def park(self, lane: str, job: Job, reason: str, fix: str, tell: list[tuple[str, Job]]) -> None:
        """Stop working ``lane`` until :meth:`redrive` or :meth:`drop`; queue ``tell`` once."""
        entry = json.dumps({"lane": lane, "job": job, "reason": reason, "fix": fix, "since": time.time()})
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.parked, lane, entry)
            pipe.srem(self.keys.lanes, lane)
            for tell_lane, tell_job in tell:
                self.push(tell_lane, tell_job, pipe)
            pipe.execute()

    def unlist(self, lane: str) -> None:
        self.r.srem(self.keys.lanes, lane)

    def parked(self) -> list[dict[str, Any]]:
        """Every parked lane's entry: ``lane``, ``job``, ``reason``, ``fix``, ``since``."""
        return sorted((json.loads(raw) for raw in self.r.hvals(self.keys.parked)), key=lambda e: e["since"])

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter: ``lane``, ``job``, ``reason``."""
        return [json.loads(raw) for raw in self.r.lrange(self.keys.dead, 0, -1)]

    def redrive(self, job_id: str) -> str | None:
        """Work the job again: a parked one where it waits, a dead one at the head of its lane.
        ``parked`` or ``dead`` for what it was, None when it is neither (already re-driven: each once)."""
        return self._operator(job_id, None)

    def drop(self, job_id: str, result: Any) -> str | None:
        """Give up on the job for good, recording ``result`` as its outcome; the lane goes on with the
        next job. ``parked`` or ``dead`` for what it was, None when it is neither."""
        return self._operator(job_id, json.dumps(result))

    def _operator(self, job_id: str, drop: str | None) -> str | None:
        # WATCH: two operators (or a retry and a worker) racing act once; the loser sees it done.
        k = self.keys
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(k.parked, k.dead)
                    parked = {lane: json.loads(raw) for lane, raw in pipe.hgetall(k.parked).items()}
                    lane = next((name for name, e in parked.items() if e["job"]["id"] == job_id), None)
                    dead = next((raw for raw in pipe.lrange(k.dead, 0, -1)
                                 if json.loads(raw)["job"]["id"] == job_id), None) if lane is None else None
                    if lane is None and dead is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    pipe.delete(k.failures(job_id))
                    if lane is not None:
                        pipe.hdel(k.parked, lane)
                        if drop is not None:  # the job is the lane's head: done, the next one goes on
                            pipe.lpop(k.lane(lane))
                            pipe.set(k.done(job_id), drop, ex=DONE_TTL)
                        pipe.sadd(k.lanes, lane)
                    elif drop is None:
                        entry = json.loads(dead)  # type: ignore[arg-type]
                        pipe.lrem(k.dead, 1, dead)  # type: ignore[arg-type]
                        pipe.delete(k.done(job_id))
                        pipe.lpush(k.lane(entry["lane"]), json.dumps(entry["job"]))
                        pipe.sadd(k.lanes, entry["lane"])
                    else:
                        pipe.lrem(k.dead, 1, dead)  # type: ignore[arg-type]
                    pipe.lpush(k.wake, "1")
                    pipe.execute()
                    return "parked" if lane is not None else "dead"
                except redis.WatchError:
                    continue

    def depth(self, lane: str) -> int:
        return int(self.r.llen(self.keys.lane(lane)))

    def pending(self) -> int:
        return int(self._pending(args=[self.p]))

    def done(self, job_id: str) -> Any:
        raw = self.r.get(self.keys.done(job_id))
        return json.loads(raw) if raw is not None else None

    def complete(self, lane: str, job: Job, result: Any, followups: list[tuple[str, Job]]) -> Head:
        """Record the job done, pop it, push its follow-ups; the lane's next head."""
        ttl = DONE_TTL if job.get("kind") in DONE_KEPT else DONE_TTL_SHORT
        args: list[Any] = [self.p, lane, job["id"], json.dumps(result, separators=(",", ":")), ttl]
        for follow_lane, follow_job in followups:
            args += [follow_lane, json.dumps(follow_job)]
        return _head(self._complete(args=args))

    def lease(self, lane: str, owner: str, ttl: float) -> bool:
        return bool(self.r.set(self.keys.lease(lane), owner, nx=True, px=int(ttl * 1000)))

    def renew(self, lane: str, owner: str, ttl: float) -> bool:
        return bool(self._renew(keys=[self.keys.lease(lane)], args=[owner, int(ttl * 1000)]))

    def release(self, lane: str, owner: str) -> None:
        self._release(keys=[self.keys.lease(lane)], args=[owner])

    def not_before(self, lane: str) -> float:
        value = self.r.get(self.keys.pace(lane))
        return float(value) if value else 0.0

    def pace(self, lane: str, until: float) -> None:
        """Leave the lane alone until ``until`` (epoch seconds): Slack's pace, X's rate-limit reset."""
        ttl = max(1, int(until - time.time()) + 1)
        self.r.set(self.keys.pace(lane), repr(until), ex=ttl)

    def wake(self) -> None:
        """Wake the workers waiting in :meth:`wait`, as a push does."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.wake, "1")
            pipe.ltrim(self.keys.wake, 0, 63)
            pipe.execute()

    def wait(self, timeout: float) -> None:
        """Block until some job is pushed (or completed with follow-ups), or ``timeout`` passes. The
        token stays: :meth:`lanes_due` clears every token it has seen the push of."""
        self.r.blpop([self.keys.wake], timeout=max(0.01, timeout))


def _head(raw: list[str]) -> Head:
    head, done, pace, parked = raw
    return (json.loads(head) if head else None, json.loads(done) if done else None,
            float(pace) if pace else 0.0, bool(parked))
