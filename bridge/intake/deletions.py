"""X to Slack: a customer deleted their tweet, and the case shows it.

The X API v2 sends no deletion event to a polling app, so the bridge finds out two ways: a worker
loop looks up the latest customer tweet of every case not resolved (``GET /2/tweets?ids=``, 100 at a
time) and sees X answer it as not found; and a reply fails because X says the tweet it answers is
"deleted or not visible". Either way the case hash gets ``customer_deleted = <tweet id>``, the parent
shows it, and the thread gets one notice: the Slack jobs have ids derived from the tweet id, so a
second discovery of the same deletion does nothing the first did not (the outbox skips done jobs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from bridge.core.log import kv
from bridge.core.models import Case, CaseId, CaseStatus, TweetId
from bridge.storage.loops import run_loop
from bridge.storage.outbox import Job
from bridge.storage.store import Store
from bridge.x.client import XClient, XError

log = logging.getLogger(__name__)

# Seconds between two looks at X. GET /2/tweets allows 5,000 user-context calls per 15 minutes
# (https://docs.x.com/x-api/fundamentals/rate-limits); a round of 2,000 cases takes 20 of them, so a
# round a minute uses 300. A 429 ends the round; the next one tries again.
CHECK_INTERVAL = 60.0
MAX_CASES = 2000  # the newest cases are looked at; an older case still open is rare
BATCH = 100  # ids per lookup, X's maximum
FIELD = "customer_deleted"


def gone_jobs(case: Case, tweet_id: TweetId, how: str = "deleted") -> list[tuple[str, Job]]:
    """The parent update and the thread notice for a deleted customer tweet (ids fixed per tweet)."""
    what = "deleted their tweet" if how == "deleted" else "deleted their tweet (or hid it from the brand)"
    text = (f"The customer {what} on X (https://x.com/{case.customer.username}/status/{tweet_id}), "
            "so it can no longer be answered there. A new tweet from them joins this case as usual.")
    return [
        ("slack", {"id": f"update:custdel:{tweet_id}", "kind": "update", "case": case.id}),
        (f"post:{case.channel}", {"id": f"notice:custdel:{tweet_id}", "kind": "notice", "case": case.id,
                                  "text": text}),
    ]


def mark_gone(store: Store, case_id: CaseId, tweet_id: TweetId, how: str = "deleted") -> bool:
    """Record the deletion and queue what Slack shows, unless it was recorded before."""
    key = f"{store.p}case:{case_id}"
    with store.r.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(key)
            if pipe.hget(key, FIELD) == tweet_id:
                return False
            case = store.case(case_id)
            if case is None:
                return False
            pipe.multi()
            pipe.hset(key, FIELD, tweet_id)
            for lane, job in gone_jobs(case, tweet_id, how):
                store.outbox.push(lane, job, pipe=pipe)
            pipe.execute()
        except redis.WatchError:
            return False  # a twin recorded it (or the case changed: the next round looks again)
    log.info(kv("case.customer_deleted", case=case_id, tweet=tweet_id, how=how))
    return True


class DeletionWatch:
    """Looks up the latest customer tweet of the open cases and marks those X no longer shows."""

    def __init__(self, store: Store, x: XClient, interval: float | None = None,
                 revive: Callable[[], object] | None = None) -> None:
        self.store = store
        self.x = x
        self.interval = CHECK_INTERVAL if interval is None else interval
        self.revive = revive

    def run(self, stop: threading.Event) -> None:
        run_loop("deletions", self.check_once, stop, revive=self.revive)

    def check_once(self) -> float:
        # One round per interval for all workers together: X's limit is the brand's, not a process's.
        key = f"{self.store.p}deletions:turn"
        if not self.store.r.set(key, 1, nx=True, px=int(self.interval * 1000)):
            return max(0.05, (self.store.r.pttl(key) or 1) / 1000)
        watched = self._watched()
        ids = list(watched)
        for start in range(0, len(ids), BATCH):
            try:
                gone = self.x.gone([TweetId(t) for t in ids[start:start + BATCH]])
            except XError as exc:
                log.warning(kv("x.deletion_check_failed", reason=exc.reason, checked=start))
                break  # the next round tries again
            for tweet_id, how in gone.items():
                mark_gone(self.store, watched[tweet_id], tweet_id, how)
        return self.interval

    def _watched(self) -> dict[str, CaseId]:
        """Latest customer tweet -> case, for the newest cases that are not resolved nor marked yet."""
        newest = int(self.store.r.get(f"{self.store.p}seq:case") or 0)
        case_ids = [str(n) for n in range(newest, max(0, newest - MAX_CASES), -1)]
        with self.store.r.pipeline(transaction=False) as pipe:
            for case_id in case_ids:
                pipe.hmget(f"{self.store.p}case:{case_id}", "status", "latest_customer_tweet", FIELD, "kind")
            rows = pipe.execute()
        # A case a direct message opened (kind "dm", bridge/intake/dms.py) has no tweet for X to look up.
        return {tweet: CaseId(case_id) for case_id, (status, tweet, marked, kind) in zip(case_ids, rows, strict=True)
                if tweet and status != CaseStatus.RESOLVED.value and marked != tweet and kind != "dm"}
