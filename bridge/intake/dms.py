"""Direct messages, X to Slack: the brand's DM events read into cases (stored by :mod:`bridge.storage.dms`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bridge.core import crash
from bridge.core.log import kv
from bridge.core.models import Author, Tweet, TweetId
from bridge.core.rules import route
from bridge.core.settings import Settings
from bridge.intake.mentions import Poller
from bridge.storage.dms import DmStore
from bridge.storage.store import Outcome, Store
from bridge.x.client import Fetch, XError, next_poll_delay
from bridge.x.port import DirectPort

log = logging.getLogger(__name__)

SOURCE = "dms"
MAX_PAGES = 3  # per poll: each page is one of the 15 requests X allows in 15 minutes

def _no_timeline(since: TweetId | None, until: TweetId | None) -> Fetch:
    raise TypeError("DMs are read by pages of events, not by since_id: DmPoller.poll_now does not fetch")


class DmPoller(Poller):
    """Reads ``GET /2/dm_events`` into cases as often as [dm] min_poll_interval and X's budget allow.

    DM events have no ``since_id``: X sends the newest first, page by page. The poller reads pages
    until it meets an event at or below its cursor (the newest event stored), stores the customers'
    messages oldest first, and only then moves the cursor. A read cut short by the page bound goes
    on from its pagination token at the next poll. With no cursor yet (DMs just switched on) only
    the newest page is read: older DMs are not imported.
    """

    def __init__(self, direct: DirectPort, store: Store, settings: Settings, brand: Author,
                 revive: Callable[[], object] | None = None) -> None:
        # Poller's fetch reads timelines by since_id; this poller reads DM pages with self.direct instead.
        super().__init__(SOURCE, _no_timeline, store, settings, brand, answerable_by_source=True, revive=revive)
        self.direct = direct
        self.dms = DmStore(store)

    def run(self, stop: threading.Event) -> None:
        log.info(kv("dm.polling", min_interval=self.min_interval()))
        super().run(stop)

    def min_interval(self) -> float:
        return self.settings.dm.min_poll_interval

    def poll_now(self) -> float:
        min_interval = self.min_interval()
        cursor = self.store.cursor(SOURCE)
        backlog_key = self.store.keys.dm_backlog
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
