"""The desk's clock: the opening summary after a closed period, the reminders, and the auto-reply.

Every worker runs :class:`ClockLoop`; one turn a second is shared by all of them through Redis, as the
pollers share theirs. Each turn takes what has come due in one atomic script that removes it from
its index (or marks it) and queues the outbox job that posts it, so a turn that is repeated, or run
by two workers at once, queues nothing twice; the jobs post with the usual reconciliation
(:mod:`bridge.effects.clock_jobs`).

The indexes are kept by the case scripts in ``bridge/storage/store.py``: ``unclaimed`` and ``waiting`` hold
case ids scored by the time they wait from, ``closed`` the closed periods scored by their end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bridge.core.hours import desk_zone, is_open
from bridge.core.log import kv
from bridge.core.settings import Settings
from bridge.storage.loops import run_loop
from bridge.storage.outbox import post_lane, slack_lane, x_lane
from bridge.storage.scripts import TAKE_REMINDERS, TAKE_SUMMARIES
from bridge.storage.store import Store

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between turns; reminders are set in minutes
MARK_TTL = 14 * 24 * 3600



class ClockLoop:
    """Each turn: summaries of closed periods that ended, then (while open) the reminders due."""

    def __init__(self, store: Store, settings: Settings, revive: Callable[[], object] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.revive = revive
        self._take_summaries = store.r.register_script(TAKE_SUMMARIES)
        self._take_reminders = store.r.register_script(TAKE_REMINDERS)
        self._queued: set[str] = set()  # what this process has seen queued already: no round trip each turn

    def run(self, stop: threading.Event) -> None:
        run_loop("clock", self.tick_once, stop, revive=self.revive)

    def tick_once(self) -> float:
        """Take a turn if it is due, across all workers; return the seconds until the next."""
        r, key = self.store.r, self.store.keys.clock_turn
        if not r.set(key, "1", nx=True, px=int(TICK * 1000)):
            return max(0.05, min(TICK, (r.pttl(key) or 1000) / 1000))
        self.tick(self.store.clock())
        return TICK

    def tick(self, now: float) -> None:
        self._hourly_and_daily(now)
        p = self.store.p
        summaries = self._take_summaries(args=[p, repr(now), MARK_TTL])
        if summaries:
            log.info(kv("hours.summaries_queued", count=summaries))
        if not is_open(self.settings.hours, datetime.fromtimestamp(now, UTC)):
            return  # nobody is there to remind; what is due then is reminded at the opening
        unclaimed, waiting = self.settings.reminders.unclaimed_after, self.settings.reminders.waiting_after
        cuts = [repr(now - unclaimed * 60) if unclaimed else "", repr(now - waiting * 60) if waiting else ""]
        reminders = self._take_reminders(args=[p, repr(now), *cuts])
        if reminders:
            log.info(kv("reminders.queued", count=reminders))

    def _hourly_and_daily(self, now: float) -> None:
        """The hour's follower sample, and after ``[digest] at`` the previous day's digest: each queued once
        across all workers (a once-mark in the same transaction as the job)."""
        hour = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H")
        self._once(f"followers:{hour}", x_lane("followers"), {"id": f"followers:{hour}", "kind": "followers"})
        digest = self.settings.digest
        local = datetime.fromtimestamp(now, desk_zone(self.settings))
        if self.settings.privacy.retention_days:
            today = local.date().isoformat()
            self._once(f"retention:{today}", slack_lane("retention"), {"id": f"retention:{today}", "kind": "retention"})
        if digest.channel and local.strftime("%H:%M") >= digest.at:
            day = (local.date() - timedelta(days=1)).isoformat()
            self._once(f"digest:{day}", post_lane(digest.channel),
                       {"id": f"digest:{day}", "kind": "digest", "day": day, "channel": digest.channel})

    def _once(self, name: str, lane: str, job: dict) -> None:
        if name in self._queued:
            return
        if self.store.queue_once(self.store.keys.key("once", name), [(lane, job)], ttl=3 * 86400):
            log.info(kv("clock.queued", job=job["id"]))
        self._queued = {n for n in self._queued if n.split(":")[0] != name.split(":")[0]} | {name}

