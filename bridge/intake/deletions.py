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

from bridge.core.log import kv
from bridge.core.models import CaseId, CaseStatus, TweetId
from bridge.effects.jobs import mark_gone
from bridge.storage.loops import run_loop
from bridge.storage.store import CUSTOMER_DELETED, Store
from bridge.x.client import XError
from bridge.x.port import XPort

log = logging.getLogger(__name__)

# Seconds between two looks at X. GET /2/tweets allows 5,000 user-context calls per 15 minutes
# (https://docs.x.com/x-api/fundamentals/rate-limits); a round of 2,000 cases takes 20 of them, so a
# round a minute uses 300. A 429 ends the round; the next one tries again.
CHECK_INTERVAL = 60.0
MAX_CASES = 2000  # the newest cases are looked at; an older case still open is rare
BATCH = 100  # ids per lookup, X's maximum



class DeletionWatch:
    """Looks up the latest customer tweet of the open cases and marks those X no longer shows."""

    def __init__(self, store: Store, x: XPort, interval: float | None = None,
                 revive: Callable[[], object] | None = None) -> None:
        self.store = store
        self.x = x
        self.interval = CHECK_INTERVAL if interval is None else interval
        self.revive = revive

    def run(self, stop: threading.Event) -> None:
        run_loop("deletions", self.check_once, stop, revive=self.revive)

    def check_once(self) -> float:
        # One round per interval for all workers together: X's limit is the brand's, not a process's.
        key = self.store.keys.deletions_turn
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
        """Tweet -> case: the latest customer tweet of the newest cases not resolved nor marked yet, and the
        next stored tweets in turn, so that every stored tweet is looked at well within a day (X's developer
        terms: content deleted on X leaves within 24 hours)."""
        watched = self._latest()
        watched.update(self._in_turn(MAX_CASES))
        return watched

    def _in_turn(self, count: int) -> dict[str, CaseId]:
        """The next ``count`` stored customer tweets, from where the last round stopped (a cursor in Redis)."""
        r, keys = self.store.r, self.store.keys
        cursor = int(r.get(keys.key("deletions", "cursor")) or 0)
        found: list[str] = []
        while len(found) < count:
            cursor, batch = r.scan(cursor, match=f"{keys.p}tweetdata:*", count=1000)
            found += [key.rsplit(":", 1)[-1] for key in batch]
            if cursor == 0:
                break
        r.set(keys.key("deletions", "cursor"), cursor)
        with r.pipeline(transaction=False) as pipe:
            for tweet_id in found:
                pipe.hget(*keys.tweet(tweet_id))
                pipe.get(keys.tweetdata(tweet_id))
            rows = pipe.execute()
        out = {}
        for tweet_id, case_id, raw in zip(found, rows[::2], rows[1::2], strict=True):
            # DMs have no post for X to look up; a tweet gone already is gone.
            if case_id and raw and '"direct":true' not in raw and '"gone":true' not in raw:
                out[tweet_id] = CaseId(case_id)
        return out

    def _latest(self) -> dict[str, CaseId]:
        """Latest customer tweet -> case, for the newest cases that are not resolved nor marked yet."""
        newest = int(self.store.r.get(self.store.keys.case_seq) or 0)
        case_ids = [str(n) for n in range(newest, max(0, newest - MAX_CASES), -1)]
        with self.store.r.pipeline(transaction=False) as pipe:
            for case_id in case_ids:
                pipe.hmget(self.store.keys.case(case_id), "status", "latest_customer_tweet", CUSTOMER_DELETED, "kind")
            rows = pipe.execute()
        # A case a direct message opened (kind "dm", bridge/intake/dms.py) has no tweet for X to look up.
        return {tweet: CaseId(case_id) for case_id, (status, tweet, marked, kind) in zip(case_ids, rows, strict=True)
                if tweet and status != CaseStatus.RESOLVED.value and marked != tweet and kind != "dm"}
