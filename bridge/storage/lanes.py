"""Working the outbox: take a lane's lease, do its head job, record it, go on.

Job handlers return :class:`Done` (the result to record and the jobs that follow from it) or raise
:class:`Retry` (leave the job at the head and the lane alone until later) or :class:`Park` (nothing
helps until an operator fixes something: after :data:`PARK_AFTER` tries the lane stops, costing
nothing, until ``python -m bridge outbox retry`` or ``drop``). A job that keeps failing for a reason
no retry fixes goes to the dead-letter list ``xdesk:dead`` with a log line, so one bad job cannot
block a channel for ever.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis

from bridge.core import crash
from bridge.core.log import kv
from bridge.storage.loops import REDIS_ERRORS, run_loop
from bridge.storage.outbox import Head, Job, Outbox

log = logging.getLogger(__name__)

# Short, so a killed worker's lanes are taken over within seconds; a live one renews it (_Heartbeat).
LEASE_TTL = 15.0
# A request whose answer was lost may still be carried out by Slack or X this long after it was
# sent (our own timeouts are 15 s); only after that does not finding its effect mean it did not happen.
IN_FLIGHT_GRACE = 25.0
# An unexpected error (a bug, not Slack or X saying no) is retried a few times, then dead-lettered.
MAX_UNEXPECTED = 5
JOBS_PER_LEASE = 20
# Tries of a job that only an operator can make succeed (X refusing the credentials, answers the
# bridge cannot read) before its lane is parked: a few, in case it was a moment's trouble.
PARK_AFTER = 3
PARK_RETRY = 30.0  # seconds between those tries
# A lane whose next job is held back this long at most (Slack's pace between posts in a channel, about a
# second) keeps its thread and lease until then, while the pool has a thread to spare: handing it back
# and taking it again cost a wake-up of the dispatcher, a look at every lane, a hand-over to the pool,
# a release and a lease for every post of a backlog (bench/perf.py: a fifth of a tweet's CPU).
HOLD_FOR = 1.5


@dataclass
class Done:
    result: Any = True
    followups: list[tuple[str, Job]] = field(default_factory=list)


class Retry(Exception):
    def __init__(self, after: float, reason: str) -> None:
        super().__init__(reason)
        self.after = after
        self.reason = reason


class Park(Exception):
    """Only an operator can make this job succeed: ``fix`` says what they must do. ``tell``: jobs to
    queue once when the lane is parked (a notice in the case's thread)."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix
        self.tell: list[tuple[str, Job]] = []


class NotYet(Exception):
    """Not a failure: the job may go in ``after`` seconds (Slack's pace in its channel). The lane
    waits exactly that long; nothing is counted or logged as a retry."""

    def __init__(self, after: float) -> None:
        super().__init__(f"not before {after:.2f} s")
        self.after = after


Handler = Callable[[Job], Done]

# What working a lane came to (LaneWorker._work).
_HELD, _IDLE, _WORKED, _MORE = "held", "idle", "worked", "more"
# What waiting for a lane's pace came to (LaneWorker._hold).
_NOW, _LATER, _WANTED = "now", "later", "wanted"


class LaneWorker:
    """Works the outbox's lanes: one lane at a time per thread, each lane in one thread at a time.

    With ``threads`` above one, :meth:`run` is a dispatcher: it alone waits for wake-ups and looks
    at the lanes, and hands each due lane to a pool of that many threads. (A thread each looking for
    itself woke them all at once on every push and every pace running out, each trying the same
    leases: most of a tweet's cost in bench/perf.py.) :meth:`run_once` works every due lane in the
    calling thread, for tests.
    """

    def __init__(self, outbox: Outbox, handlers: dict[str, Handler], revive: Callable[[], object] | None = None,
                 threads: int = 1) -> None:
        self.outbox = outbox
        self.handlers = handlers
        self.revive = revive
        self.threads = threads
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.heartbeat = _Heartbeat(outbox, self.owner)
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # lanes handed to a thread of the pool and not finished
        self._again: set[str] = set()  # busy lanes seen due again: their thread looks once more
        self._holding: dict[str, float] = {}  # lanes whose thread waits for their pace, and until when
        self._wanted = threading.Condition(self._lock)  # a holding thread is wanted by another lane, or stop

    def run(self, stop: threading.Event) -> None:
        def idle(wait: float) -> None:
            self.outbox.wait(min(wait, 1.0))

        if self.threads <= 1:
            run_loop("lanes", self.run_once, stop, idle=idle, revive=self.revive)
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="lane") as pool:  # on stop: lets them finish
            run_loop("lanes", lambda: self._dispatch(pool, stop), stop, idle=idle, revive=self.revive)
            with self._wanted:
                self._wanted.notify_all()  # threads waiting for a pace stop waiting

    def run_once(self) -> float:
        """Work every lane that is ready; return how long until one may be ready again."""
        soonest, due = self._due()
        worked = False
        for lane in due:
            while (outcome := self._work(lane)) == _MORE:
                worked = True
            worked |= outcome == _WORKED
        return 0.0 if worked else soonest

    def _due(self, skip: Collection[str] = ()) -> tuple[float, list[str]]:
        """The lanes that may be worked now, and how long until the soonest other one (not in ``skip``) may."""
        soonest, due = 5.0, []
        now = time.time()
        for lane, not_before in self.outbox.lanes_due().items():  # one round trip for every lane's pace
            if lane in skip:
                continue
            if not_before > now:
                soonest = min(soonest, not_before - now)
            else:
                due.append(lane)
        return soonest, due

    def _dispatch(self, pool: ThreadPoolExecutor, stop: threading.Event) -> float:
        with self._lock:
            holding = dict(self._holding)
        # A lane whose thread waits for its pace is that thread's to work: no wake-up here for it.
        soonest, due = self._due(skip=holding)
        for lane in due:
            with self._lock:
                if lane in self._busy:
                    if lane not in self._holding:  # a holding thread reads the lane again anyway
                        self._again.add(lane)  # a push its thread may have read the lane before
                    continue
                self._busy.add(lane)
                if len(self._busy) > self.threads and self._holding:
                    # No thread is free: the holding ones give their lanes back, and wake this loop
                    # to look at those lanes again (_work).
                    self._wanted.notify_all()
            pool.submit(self._session, lane, stop)
        return soonest

    def _session(self, lane: str, stop: threading.Event) -> None:
        """Work ``lane`` in a thread of the pool until it is empty or must wait, or the worker stops."""
        try:
            while not stop.is_set():
                if self._work(lane, stop) == _MORE:
                    continue  # the lease was given up after JOBS_PER_LEASE jobs, for other workers
                with self._lock:
                    if lane not in self._again:
                        return
                    self._again.discard(lane)
        except REDIS_ERRORS as exc:  # the dispatcher waits for Redis; the lane's jobs stay where they are
            log.warning(kv("lane.redis_error", lane=lane, error=f"{type(exc).__name__}: {exc}"))
        except Exception:  # a bug here must not leave the lane busy for ever
            log.exception(kv("lane.error", lane=lane))
        finally:
            with self._lock:
                self._busy.discard(lane)
                self._again.discard(lane)

    def _work(self, lane: str, stop: threading.Event | None = None) -> str:
        """Take the lane's lease and do its jobs in order: ``_MORE`` when it still has some to do now.

        With ``stop`` (a thread of the pool), a next job held back for a moment by the lane's pace is
        waited for here (:meth:`_hold`)."""
        head = self.outbox.start(lane, self.owner, LEASE_TTL)  # the lease and the head in one round trip
        if head is None:
            return _HELD  # another worker has it
        outcome, wanted = _IDLE, False
        try:
            with self.heartbeat.holding(lane):
                for _ in range(JOBS_PER_LEASE):
                    job, done, not_before, parked = head
                    if parked:  # a job pushed since re-listed it: it waits for the operator
                        self.outbox.unlist(lane)
                        return outcome
                    if job is None:
                        return outcome
                    if not_before > time.time():
                        held = self._hold(lane, not_before, stop) if outcome == _WORKED and stop else _LATER
                        if held != _NOW:
                            wanted = held == _WANTED
                            return outcome
                    after = self._do(lane, job, done)
                    if after is None:
                        return outcome
                    head, outcome = after, _WORKED
                return _MORE
        finally:
            self.outbox.release(lane, self.owner)
            if wanted:  # the dispatcher left this lane to its thread: it must look at it again
                self.outbox.wake()

    def _hold(self, lane: str, until: float, stop: threading.Event) -> str:
        """Wait with the lane's lease until ``until``: ``_NOW`` then. ``_LATER`` when that is more than
        :data:`HOLD_FOR` away or the worker stops, ``_WANTED`` when another lane waits for this thread.
        The head read before the wait is still the head: nobody else works the lane while its lease is ours."""
        with self._wanted:
            if until - time.time() > HOLD_FOR:
                return _LATER
            self._holding[lane] = until
            try:
                while (left := until - time.time()) > 0:
                    if stop.is_set():
                        return _LATER
                    if len(self._busy) > self.threads:  # a lane was handed to the pool and no thread is free
                        return _WANTED
                    self._wanted.wait(left)
            finally:
                del self._holding[lane]
        return _LATER if stop.is_set() else _NOW

    def _do(self, lane: str, job: Job, done: Any = None) -> Head | None:
        """Do one job (``done``: its result, if a holder whose lease ran out did it already before it
        could pop it): the lane's next head, or None when the lane must wait."""
        if done is not None:
            return self.outbox.complete(lane, job, done, [])
        handler = self.handlers.get(job.get("kind", ""))
        if handler is None:
            return self._dead(lane, job, f"no handler for job kind {job.get('kind')!r}")
        try:
            done = handler(job)
        except NotYet as wait:
            self.outbox.pace(lane, time.time() + wait.after)
            return None
        except Retry as retry:
            attempt = self._attempt(job)
            log.warning(kv("job.retry", lane=lane, job=job["id"], attempt=attempt, after=round(retry.after, 1),
                           reason=retry.reason))
            self.outbox.pace(lane, time.time() + retry.after)
            return None
        except Park as park:
            attempt = self._attempt(job)
            if attempt < PARK_AFTER:
                log.warning(kv("job.retry", lane=lane, job=job["id"], attempt=attempt, after=PARK_RETRY,
                               reason=park.reason))
                self.outbox.pace(lane, time.time() + PARK_RETRY)
                return None
            self.outbox.park(lane, job, park.reason, park.fix, park.tell)
            log.error(kv("job.parked", lane=lane, job=job["id"], kind=job.get("kind"), reason=park.reason,
                         fix=f"{park.fix}, then: python -m bridge outbox retry {job['id']}"))
            return None
        except PermanentFailure as failure:
            return self._dead(lane, job, str(failure))
        except REDIS_ERRORS:
            raise  # the loop waits for Redis; the job stays where it is
        except Exception as exc:  # a bug in one job must not stop every lane
            attempt = self._attempt(job)
            log.exception(kv("job.error", lane=lane, job=job["id"], kind=job.get("kind"), attempt=attempt,
                             error=f"{type(exc).__name__}: {exc}"))
            if attempt >= MAX_UNEXPECTED:
                return self._dead(lane, job, f"{type(exc).__name__}: {exc} ({attempt} attempts)")
            self.outbox.pace(lane, time.time() + min(60.0, 2.0**attempt))
            return None
        crash.point("job.before_complete")
        return self.outbox.complete(lane, job, done.result, done.followups)  # its count of failures goes with it

    def _attempt(self, job: Job) -> int:
        key = self.outbox.keys.failures(job['id'])
        attempt = int(self.outbox.r.incr(key))
        self.outbox.r.expire(key, 7 * 24 * 3600)
        return attempt

    def _dead(self, lane: str, job: Job, reason: str) -> Head:
        log.error(kv("job.dead", lane=lane, job=job["id"], kind=job.get("kind"), reason=reason))
        self.outbox.r.rpush(self.outbox.keys.dead, json.dumps({"lane": lane, "job": job, "reason": reason}))
        return self.outbox.complete(lane, job, {"dead": reason}, [])


class Attempts:
    """Marks of an effect's attempts on an API without idempotency keys (Slack posts, X tweets).

    ``first``: when the first attempt was sent (where to look from when reconciling). ``sent``: an
    attempt whose answer we never got (a timeout, a 5xx, a process killed mid-call) and which may
    still land: for :data:`IN_FLIGHT_GRACE` after it, looking for its effect proves nothing, so the
    job waits. A call that was answered clears ``sent``.
    """

    def __init__(self, r: redis.Redis, key: str) -> None:
        self.r, self.key = r, key

    def before(self) -> float | None:
        """When the first attempt was, if there was one; Retry while the last may be in flight."""
        raw = self.r.hgetall(self.key)
        if not raw:
            return None
        if raw.get("sent"):
            age = time.time() - float(raw["sent"])
            if age < IN_FLIGHT_GRACE:
                raise Retry(IN_FLIGHT_GRACE - age, "an earlier attempt may still land; looking for it later")
        return float(raw["first"])

    def sending(self, first: float | None, **request: str) -> None:
        """Mark an attempt as sent; ``request`` keeps what it asked for, for :meth:`request`."""
        now = repr(time.time())
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping={"first": repr(first) if first else now, "sent": now, **request})
            pipe.hdel(self.key, "refused")
            pipe.expire(self.key, 14 * 24 * 3600)
            pipe.execute()

    def request(self, **now: str) -> dict[str, str]:
        """What the first attempt asked for, field by field (``now`` where it kept none).

        A retry must repeat that request, not rebuild it: what it was built from may have moved on
        (the customer tweeted again, the clock passed midnight), and the lookup for the first
        attempt's effect must look where that attempt went.
        """
        kept = self.r.hmget(self.key, list(now))
        return {name: value if value is not None else now[name] for name, value in zip(now, kept, strict=True)}

    def answered(self, record: Callable[[redis.client.Pipeline], object] | None = None) -> None:
        """The call was answered: it did what it did, so a later lookup has nothing to reconcile. The
        mark stays an hour, for an answer recorded while its job was being taken over. ``record``
        adds what the answer tells (a post's ts) to the same transaction: one round trip, not two."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hdel(self.key, "sent")
            pipe.expire(self.key, 3600)
            if record is not None:
                record(pipe)
            pipe.execute()

    def refused(self) -> None:
        """The API answered no: this attempt made nothing (a later one may still be made)."""
        self.r.hset(self.key, "refused", 1)
        self.r.hdel(self.key, "sent")

    def may_have_landed(self) -> bool:
        """Whether some attempt may have made the effect: one was made and not every one was refused."""
        raw = self.r.hgetall(self.key)
        return bool(raw) and not (raw.get("refused") and not raw.get("sent"))


class _Heartbeat:
    """Keeps renewing the leases of the lanes this worker is working: only a dead process loses one.

    Two holders of one lane would do its head job twice; a slow X or Slack call must not let the
    lease run out under a live worker. One thread per worker renews every lease it holds, instead of
    a thread started for each lane worked (bench/perf.py: that was a cost per tweet).
    """

    def __init__(self, outbox: Outbox, owner: str) -> None:
        self.outbox, self.owner = outbox, owner
        self.held: set[str] = set()
        self.changed = threading.Condition()
        self.thread: threading.Thread | None = None

    @contextlib.contextmanager
    def holding(self, lane: str) -> Iterator[None]:
        with self.changed:
            if not self.held:
                self.changed.notify()  # the beat waited for something to hold
            self.held.add(lane)
            if self.thread is None:
                self.thread = threading.Thread(target=self._beat, name=f"leases-{self.owner}", daemon=True)
                self.thread.start()
        try:
            yield
        finally:
            with self.changed:
                self.held.discard(lane)

    def _beat(self) -> None:
        while True:
            with self.changed:
                while not self.held:
                    self.changed.wait()  # nothing held: no wake-ups at all
                self.changed.wait(LEASE_TTL / 4)
                lanes = list(self.held)
            self.renew(lanes)

    def renew(self, lanes: list[str]) -> None:
        """Renew the leases of ``lanes``; a lease lost under a lane still held is an error."""
        for lane in lanes:
            try:
                if self.outbox.renew(lane, self.owner, LEASE_TTL):
                    continue
            except REDIS_ERRORS:
                continue  # Redis is down: the lease cannot expire in a Redis that is not running
            with self.changed:
                lost = lane in self.held  # else released since the list was taken, as it should be
                self.held.discard(lane)
            if lost:
                log.error(kv("lane.lease_lost", lane=lane, owner=self.owner))


class PermanentFailure(Exception):
    """The job cannot succeed however often it is tried (a bug, or a setting that must change)."""
