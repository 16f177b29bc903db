"""X to Slack: poll mentions and searches into cases, and show cases in their Slack threads.

The poller stores each tweet in its case (which queues the Slack posts in the same atomic step) and
moves the source's cursor only after every fetched tweet is stored. The posting jobs run from the
channel's outbox lane, one at a time and at Slack's pace of about one message a second per channel
(https://api.slack.com/methods/chat.postMessage#rate_limiting).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable

from bridge.core import crash
from bridge.core.hours import after_hours
from bridge.core.log import kv
from bridge.core.models import Author, Case, CaseId, ChannelId, TweetId
from bridge.core.rules import is_answerable, route, should_ingest
from bridge.core.settings import Settings
from bridge.effects.case_history import CaseHistory
from bridge.slack.blocks import followup_blocks, notice_blocks, parent_blocks
from bridge.slack.client import SlackError, SlackSide
from bridge.storage.lanes import Attempts, Done, PermanentFailure, Retry
from bridge.storage.loops import run_loop
from bridge.storage.store import Outcome, Store
from bridge.x.client import Fetch, RateLimited, XError, backoff, next_poll_delay

log = logging.getLogger(__name__)

# Seconds between posts in one channel: Slack allows about one a second, with short bursts. The
# fault tests and the soak benchmark run against an emulator and set XDESK_SLACK_PACE lower.
SLACK_PACE = float(os.environ.get("XDESK_SLACK_PACE", "1.0"))

Render = Callable[..., tuple[list[dict], str]]  # (images: bool) -> (blocks, fallback text)


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
        r, key = self.store.r, f"{self.store.p}poll:{self.source}"
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


class SlackPosting:
    """The jobs that show cases in Slack: parents, follow-ups, notices, parent updates."""

    def __init__(self, store: Store, slack: SlackSide, settings: Settings, brand: Author) -> None:
        self.store = store
        self.slack = slack
        self.settings = settings
        self.brand = brand
        self.history = CaseHistory(store, slack)

    def handlers(self) -> dict[str, Callable]:
        return {
            "parent": self.parent,
            "followup": self.followup,
            "reopened": self.reopened,
            "notice": self.notice,
            "update": self.update,
        }

    def _case(self, case_id: str) -> Case:
        case = self.store.case(CaseId(case_id))
        if case is None:
            raise PermanentFailure(f"case {case_id} is not stored")
        return case

    def parent(self, job: dict) -> Done:
        case = self._case(job["case"])
        if case.parent_ts:
            return Done({"ts": case.parent_ts})
        tweet = self.store.tweet(case.first_tweet)
        if tweet is None:
            raise PermanentFailure(f"tweet {case.first_tweet} of case {case.id} is not stored")
        extra = self.history.blocks(case, tweet)

        def render(images: bool = True) -> tuple[list[dict], str]:
            blocks, text = parent_blocks(case, tweet, brand_username=self.brand.username,
                                         claim_emoji=self.settings.emoji.claim, images=images)
            return blocks + extra, text

        payload = {"case_id": case.id, "tweet_id": tweet.id}
        channel = case.channel
        self._join_once(channel)
        try:
            ts = self._post_once(job, channel, render, event_type="xdesk_case", payload=payload)
        except SlackError as exc:
            fallback = ChannelId(self.settings.slack.default_channel)
            if exc.error not in ("channel_not_found", "is_archived") or channel == fallback:
                raise job_error(exc) from None
            # A topic's channel is gone: the case must still reach someone.
            log.error(kv("slack.channel_unusable", case=case.id, channel=channel, error=exc.error,
                         fallback=fallback))
            channel = fallback
            ts = self._slack(lambda: self._post_once(job, fallback, render, event_type="xdesk_case",
                                                     payload=payload))
        self.store.set_parent(case.id, channel, ts)
        log.info(kv("case.posted", case=case.id, tweet=tweet.id, channel=channel, ts=ts))
        return Done({"ts": ts}, pace=SLACK_PACE)

    def followup(self, job: dict) -> Done:
        case = self._case(job["case"])
        tweet = self.store.tweet(TweetId(job["tweet"]))
        if tweet is None or not case.parent_ts:
            raise PermanentFailure(f"follow-up {job['tweet']} of case {case.id} has no tweet or parent")
        ts = self._slack(lambda: self._post_once(job, case.channel, lambda images=True: followup_blocks(
            tweet, images=images), thread_ts=case.parent_ts, payload={"case_id": case.id, "tweet_id": tweet.id}))
        log.info(kv("case.followup_posted", case=case.id, tweet=tweet.id, channel=case.channel, ts=ts))
        return Done({"ts": ts}, pace=SLACK_PACE)

    def reopened(self, job: dict) -> Done:
        case = self._case(job["case"])
        who = f"<@{case.claimer}> " if case.claimer else ""
        return self._notice(job, case, f"{who}The customer wrote again, so this case is open again.")

    def notice(self, job: dict) -> Done:
        return self._notice(job, self._case(job["case"]), job["text"])

    def _notice(self, job: dict, case: Case, text: str) -> Done:
        if not case.parent_ts:
            raise PermanentFailure(f"case {case.id} has no parent to post a notice under")
        ts = self._slack(lambda: self._post_once(job, case.channel, lambda images=True: notice_blocks(text),
                                                 thread_ts=case.parent_ts, payload={"case_id": case.id}))
        return Done({"ts": ts}, pace=SLACK_PACE)

    def update(self, job: dict) -> Done:
        case = self._case(job["case"])
        tweet = self.store.tweet(case.first_tweet)
        if not case.parent_ts or tweet is None:
            return Done({"skipped": "no parent yet"})  # the parent, when posted, shows the state
        blocks, text = parent_blocks(case, tweet, brand_username=self.brand.username,
                                     claim_emoji=self.settings.emoji.claim)
        blocks += self.history.blocks(case, tweet)
        self._slack(lambda: self.slack.update(case.channel, case.parent_ts or "", text, blocks))
        return Done(True)

    def _join_once(self, channel: str) -> None:
        """Join a public channel before the first case goes there.

        With chat:write.public the bot can post where it is not a member, but then Slack sends it
        no events from that channel: claims and replies in the thread would go unheard.
        """
        key = f"{self.store.p}joined:{channel}"
        if self.store.r.exists(key):
            return
        try:
            self.slack.join(channel)
        except SlackError as exc:
            # Private channels cannot be joined: the bot must be invited (`check` says so).
            log.warning(kv("slack.join_failed", channel=channel, error=exc.error))
        self.store.r.set(key, 1, ex=24 * 3600)

    def _post_once(self, job: dict, channel: str, render: Render, *, payload: dict,
                   thread_ts: str | None = None, event_type: str = "xdesk_post") -> str:
        """Post the job's message unless an earlier attempt already did.

        Slack takes no idempotency key: a post may succeed and the process die (or the answer get
        lost) before the ts is recorded. So every post carries its job id in its metadata, the first
        attempt leaves a mark in Redis, and a later attempt looks in Slack for the message first.
        """
        attempts = Attempts(self.store.r, f"{self.store.p}attempt:{job['id']}")
        first = attempts.before()
        if first is not None:
            found = self.slack.find_posted(channel, job["id"], first - 60, thread_ts=thread_ts)
            if found:
                log.info(kv("slack.post_reconciled", job=job["id"], channel=channel, ts=found))
                attempts.answered()
                return found
        metadata = {"event_type": event_type, "event_payload": {**payload, "job": job["id"]}}

        def post(images: bool = True) -> str:
            blocks, text = render(images)
            attempts.sending(first)
            try:
                ts = self.slack.post(channel, text, blocks, thread_ts=thread_ts, metadata=metadata)
            except SlackError as exc:
                if exc.answered:
                    attempts.refused()  # Slack said no: nothing was posted
                raise
            attempts.answered()
            return ts

        try:
            ts = post()
        except SlackError as exc:
            if exc.error == "not_in_channel":
                self.slack.join(channel)  # public channels: join and try once more
                ts = post()
            elif exc.error == "invalid_blocks":
                # Slack refuses a whole message when it cannot fetch one image (a deleted avatar or
                # photo): the case goes out without pictures rather than not at all.
                log.warning(kv("slack.images_refused", job=job["id"], channel=channel))
                ts = post(images=False)
            else:
                raise
        crash.point("slack.after_post")
        return ts

    @staticmethod
    def _slack(call: Callable):
        try:
            return call()
        except SlackError as exc:
            raise job_error(exc) from None


def job_error(exc: SlackError) -> Exception:
    """What is left of a Slack error after the SDK's own retries: retry later, or give up."""
    if exc.permanent:
        return PermanentFailure(f"{exc.method}: {exc.error}")
    return Retry(after=5.0, reason=f"{exc.method}: {exc.error}")
