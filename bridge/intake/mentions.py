"""X to Slack: poll mentions and searches into cases.

The poller stores each tweet in its case (which queues the Slack posts in the same atomic step) and
moves the source's cursor only after every fetched tweet is stored. The posts themselves are the
jobs of :mod:`bridge.effects.slack_posts`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from bridge.core import crash
from bridge.core.hours import after_hours
from bridge.core.log import kv
from bridge.core.models import Author, TweetId
from bridge.core.rules import is_answerable, route, should_ingest
from bridge.core.settings import Settings
from bridge.storage.loops import run_loop
from bridge.storage.store import Outcome, Store
from bridge.x.client import Fetch, RateLimited, XError, backoff, next_poll_delay

log = logging.getLogger(__name__)



def search_source(query: str) -> str:
    return "search:" + hashlib.sha1(query.encode()).hexdigest()[:12]


class Poller:
    """Polls one source (mentions, or one search query) as often as its rate limit allows."""

    def __init__(
        self,
        source: str,
        fetch: Callable[[TweetId | None, TweetId | None], Fetch],  # (since_id, until_id)
        store: Store,
        settings: Settings,
        brand: Author,
        answerable_by_source: bool,
        revive: Callable[[], object] | None = None,
    ) -> None:
        self.source = source
        self.fetch = fetch
        self.store = store
        self.settings = settings
        self.brand = brand
        self.answerable_by_source = answerable_by_source
        self.revive = revive
        self.failures = 0

    def run(self, stop: threading.Event) -> None:
        run_loop(f"poll-{self.source}", self.poll_once, stop, revive=self.revive)

    def poll_once(self) -> float:
        """Poll if it is this source's turn, across all workers; return the seconds until the next."""
        r, key = self.store.r, self.store.keys.poll(self.source)
        # One schedule per source for every worker: several workers must not poll X more often
        # than one would, nor store the same page twice at once.
        # The turn is held 15 s at most: a worker killed mid-poll must not stop polling for long (a
        # slower poll may overlap another, which stores nothing twice).
        if not r.set(key, "polling", nx=True, px=15_000):
            return max(0.1, min(5.0, (r.pttl(key) or 1000) / 1000))
        wait = self.min_interval()
        try:
            wait = self.poll_now()
        finally:
            r.set(key, "waiting", px=max(1, int(wait * 1000)))
        return wait

    def min_interval(self) -> float:
        return self.settings.x.min_poll_interval

    def wait_after(self, exc: XError, min_interval: float) -> float:
        """Seconds to wait after a failed read: until X's reset after a 429, else backing off."""
        self.failures += 1
        if isinstance(exc, RateLimited):
            wait = exc.reset_at - time.time() if exc.reset_at else backoff(self.failures, min_interval)
            wait = max(min_interval, wait)
            log.warning(kv("x.rate_limited", source=self.source, wait=round(wait, 1), daily=exc.daily))
            return wait
        wait = max(min_interval, backoff(self.failures, min_interval))
        log.warning(kv("x.poll_failed", source=self.source, reason=exc.reason, wait=round(wait, 1)))
        return wait

    def poll_now(self) -> float:
        """Fetch and store what is new, whoever else polls; return the seconds to wait before the next."""
        min_interval = self.min_interval()
        since = self.store.cursor(self.source)
        gap = self.store.gap(self.source)
        try:
            fetched = self.fetch(since, gap[0] if gap else None)
        except XError as exc:
            return self.wait_after(exc, min_interval)
        self.failures = 0
        stored = 0
        for tweet in fetched.tweets:
            if not should_ingest(tweet, self.brand.id, self.settings.x.include_retweets):
                continue
            topic, channel = route(tweet, self.settings.topics, self.settings.slack.default_channel)
            answerable = self.answerable_by_source or is_answerable(tweet, self.brand.username)
            closed = after_hours(self.settings, self.store.clock(), answerable)
            result = self.store.ingest(tweet, channel, topic, answerable, closed)
            if result.outcome is not Outcome.DUPLICATE:
                stored += 1
                log.info(kv("case." + result.outcome.value, case=result.case_id, tweet=tweet.id,
                            channel=result.channel, topic=topic, source=self.source))
        if fetched.tweets:
            crash.point("ingest.before_cursor")
        newest = max((t.id for t in fetched.tweets), key=int, default=None)
        if fetched.truncated:
            # X sends newest first and we stopped before reaching the cursor: older tweets are still
            # unread. The cursor stays; the next polls read down to it below the oldest read so far.
            oldest = min((t.id for t in fetched.tweets), key=int)
            self.store.set_gap(self.source, oldest, max(newest or oldest, gap[1] if gap else oldest, key=int))
            log.warning(kv("x.backlog_gap", source=self.source, below=oldest, cursor=since))
            return min_interval
        if gap:
            self.store.close_gap(self.source, gap[1])  # everything down to the cursor is stored
        elif newest:
            # Only now: every tweet up to the newest is stored with the jobs that post it.
            self.store.set_cursor(self.source, TweetId(newest))
        if stored:
            log.info(kv("x.polled", source=self.source, new=stored, backlog=self.store.outbox.pending()))
        return next_poll_delay(fetched.budget, min_interval, time.time())
