"""The jobs that show cases in Slack: parents, follow-ups, notices and parent updates, each posted once.

They run from the channel's outbox lane, one at a time and at Slack's pace of about one message a
second per channel (https://api.slack.com/methods/chat.postMessage#rate_limiting).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bridge.core import crash
from bridge.core.log import kv
from bridge.core.models import Author, Case, CaseId, ChannelId, SlackTs, TweetId
from bridge.core.settings import Settings
from bridge.effects.case_history import CaseHistory
from bridge.slack.blocks import followup_blocks, notice_blocks, parent_blocks
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.lanes import Attempts, Done, NotYet, Park, PermanentFailure, Retry
from bridge.storage.limits import SlackPace
from bridge.storage.store import Store

if TYPE_CHECKING:
    from redis.client import Pipeline

log = logging.getLogger(__name__)

# Seconds between posts in one channel once a burst is spent: Slack allows about one a second, with
# short bursts (https://docs.slack.dev/apis/web-api/rate-limits#special-rate-limits). The fault tests
# and the soak benchmark run against an emulator and set XDESK_SLACK_PACE lower.
SLACK_PACE = float(os.environ.get("XDESK_SLACK_PACE", "1.0"))
# Posts at once in a channel before the pace applies. Slack allows short bursts (the emulator 3); one
# fewer leaves a second for the time between counting a post here and Slack receiving it, which
# varies (a retry, a slow answer): without it the soak saw Slack's 429 dozens of times a run.
SLACK_BURST = 2

# How long a process trusts its own memory that the bot joined a channel before asking Redis again
# (whose mark lasts a day: then the bot joins again, in case it was removed).
JOINED_KNOWN = 3600.0

Render = Callable[..., tuple[list[dict], str]]  # (images: bool) -> (blocks, fallback text)
Record = Callable[["Pipeline", str], object]  # (transaction, ts): what a post's ts means, stored with its answer


def job_error(exc: SlackError) -> Exception:
    """What is left of a Slack error after the SDK's own retries: retry later, or give up."""
    if exc.fix:
        return Park(f"Slack refused {exc.method}: {exc.error}", exc.fix)
    if exc.permanent:
        return PermanentFailure(f"{exc.method}: {exc.error}")
    return Retry(after=5.0, reason=f"{exc.method}: {exc.error}")


def slack_call(call: Callable[[], Any]) -> Any:
    """Run one Slack call for a job: a Slack error becomes the job's retry or its failure."""
    try:
        return call()
    except SlackError as exc:
        raise job_error(exc) from None


class SlackPosting:
    """The jobs that show cases in Slack: parents, follow-ups, notices, parent updates."""

    def __init__(self, store: Store, slack: SlackPort, settings: Settings, brand: Author) -> None:
        self.store = store
        self.slack = slack
        self.settings = settings
        self.brand = brand
        self.history = CaseHistory(store, slack)
        self.pace = SlackPace(store.r, store.keys, SLACK_PACE, SLACK_BURST)
        self._joined: dict[str, float] = {}  # channel -> until when this process knows it joined

    def handlers(self) -> dict[str, Callable]:
        return {
            "parent": self.parent,
            "followup": self.followup,
            "reopened": self.reopened,
            "notice": self.notice,
            "update": self.update,
            "audit": self.audit,
            "scrub": self.scrub,
        }

    def case(self, case_id: str) -> Case:
        case = self.store.case(CaseId(case_id))
        if case is None:
            raise PermanentFailure(f"case {case_id} is not stored")
        return case

    def parent(self, job: dict) -> Done:
        case, tweet = self.store.case_with_first_tweet(CaseId(job["case"]))
        if case is None:
            raise PermanentFailure(f"case {job['case']} is not stored")
        if case.parent_ts:
            return Done({"ts": case.parent_ts})
        if tweet is None:
            raise PermanentFailure(f"tweet {case.first_tweet} of case {case.id} is not stored")
        extra = self.history.blocks(case, tweet)

        def render(images: bool = True) -> tuple[list[dict], str]:
            blocks, text = parent_blocks(case, tweet, brand_username=self.brand.username,
                                         claim_emoji=self.settings.emoji.claim, images=images)
            return blocks + extra, text

        payload = {"case_id": case.id, "tweet_id": tweet.id}
        channel = case.channel

        def record(posted_in: ChannelId) -> Record:  # the parent, in the transaction of the post's answer
            return lambda pipe, ts: self.store.set_parent(case.id, posted_in, SlackTs(ts), pipe)

        self.join_once(channel)
        try:
            ts = self.post_once(job, channel, render, event_type="xdesk_case", payload=payload,
                                record=record(channel))
        except SlackError as exc:
            fallback = ChannelId(self.settings.slack.default_channel)
            if exc.error not in ("channel_not_found", "is_archived") or channel == fallback:
                raise job_error(exc) from None
            # A topic's channel is gone: the case must still reach someone.
            log.error(kv("slack.channel_unusable", case=case.id, channel=channel, error=exc.error,
                         fallback=fallback))
            channel = fallback
            ts = slack_call(lambda: self.post_once(job, fallback, render, event_type="xdesk_case",
                                                     payload=payload, record=record(fallback)))
        log.info(kv("case.posted", case=case.id, tweet=tweet.id, channel=channel, ts=ts))
        return Done({"ts": ts})

    def followup(self, job: dict) -> Done:
        case = self.case(job["case"])
        tweet = self.store.tweet(TweetId(job["tweet"]))
        if tweet is None or not case.parent_ts:
            raise PermanentFailure(f"follow-up {job['tweet']} of case {case.id} has no tweet or parent")
        ts = slack_call(lambda: self.post_once(job, case.channel, lambda images=True: followup_blocks(
            tweet, images=images), thread_ts=case.parent_ts, payload={"case_id": case.id, "tweet_id": tweet.id}))
        log.info(kv("case.followup_posted", case=case.id, tweet=tweet.id, channel=case.channel, ts=ts))
        return Done({"ts": ts})

    def reopened(self, job: dict) -> Done:
        case = self.case(job["case"])
        who = f"<@{case.claimer}> " if case.claimer else ""
        return self.notice_in(job, case, f"{who}The customer wrote again, so this case is open again.")

    def notice(self, job: dict) -> Done:
        return self.notice_in(job, self.case(job["case"]), job["text"])

    def notice_in(self, job: dict, case: Case, text: str) -> Done:
        if not case.parent_ts:
            raise PermanentFailure(f"case {case.id} has no parent to post a notice under")
        ts = slack_call(lambda: self.post_once(job, case.channel, lambda images=True: notice_blocks(text),
                                                 thread_ts=case.parent_ts, payload={"case_id": case.id}))
        return Done({"ts": ts})

    def scrub(self, job: dict) -> Done:
        """A customer's tweet X no longer shows: every message of the bot's that shows it, but the case's
        parent (which its update job shows anew), is shown again without its text and media."""
        case, tweet = self.case(job["case"]), self.store.tweet(TweetId(job["tweet"]))
        if tweet is None:
            return Done({"skipped": "tweet not stored"})
        blocks, text = followup_blocks(tweet)
        scrubbed = 0
        for channel, ts in self.store.parents_of(case.id):
            for message in slack_call(lambda c=channel, t=ts: self.slack.replies(c, t)):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                current = channel == case.channel and message.get("ts") == case.parent_ts
                if message.get("bot_id") and payload.get("tweet_id") == tweet.id and not current:
                    slack_call(lambda c=channel, m=message: self.slack.update(c, m["ts"], text, blocks))
                    scrubbed += 1
        log.info(kv("case.tweet_scrubbed", case=case.id, tweet=tweet.id, messages=scrubbed))
        return Done({"messages": scrubbed})

    def audit(self, job: dict) -> Done:
        """An admin's change, posted in ``[slack] audit_channel`` (bridge/desk/admin.py)."""
        channel = job["channel"]
        self.join_once(channel)
        ts = slack_call(lambda: self.post_once(job, channel, lambda images=True: notice_blocks(job["text"]),
                                                 payload={}, event_type="xdesk_audit"))
        return Done({"ts": ts})

    def update(self, job: dict) -> Done:
        case = self.case(job["case"])
        tweet = self.store.tweet(case.first_tweet)
        if not case.parent_ts or tweet is None:
            return Done({"skipped": "no parent yet"})  # the parent, when posted, shows the state
        blocks, text = parent_blocks(case, tweet, brand_username=self.brand.username,
                                     claim_emoji=self.settings.emoji.claim)
        blocks += self.history.blocks(case, tweet)
        slack_call(lambda: self.slack.update(case.channel, case.parent_ts or "", text, blocks))
        return Done(True)

    def join_once(self, channel: str) -> None:
        """Join a public channel before the first case goes there.

        With chat:write.public the bot can post where it is not a member, but then Slack sends it
        no events from that channel: claims and replies in the thread would go unheard.
        """
        if self._joined.get(channel, 0.0) > time.monotonic():
            return  # known here: no round trip to Redis for every post
        key = self.store.keys.joined(channel)
        if self.store.r.exists(key):
            self._joined[channel] = time.monotonic() + JOINED_KNOWN
            return
        try:
            self.slack.join(channel)
        except SlackError as exc:
            # Private channels cannot be joined: the bot must be invited (`check` says so).
            log.warning(kv("slack.join_failed", channel=channel, error=exc.error))
        self.store.r.set(key, 1, ex=24 * 3600)
        self._joined[channel] = time.monotonic() + JOINED_KNOWN

    def post_once(self, job: dict, channel: str, render: Render, *, payload: dict,
                  thread_ts: str | None = None, event_type: str = "xdesk_post", record: Record | None = None) -> str:
        """Post the job's message unless an earlier attempt already did.

        Slack takes no idempotency key: a post may succeed and the process die (or the answer get
        lost) before the ts is recorded. So every post carries its job id in its metadata, the first
        attempt leaves a mark in Redis, and a later attempt looks in Slack for the message first.
        ``record`` stores what the post's ts means (a case's parent) with the mark of its answer.
        """

        def answered(ts: str) -> None:
            attempts.answered(None if record is None else lambda pipe: record(pipe, ts))
        attempts = Attempts(self.store.r, self.store.keys.attempt(job['id']))
        first = attempts.before()
        if first is not None:
            found = self.slack.find_posted(channel, job["id"], first - 60, thread_ts=thread_ts)
            if found:
                log.info(kv("slack.post_reconciled", job=job["id"], channel=channel, ts=found))
                answered(found)
                return found
        if (wait := self.pace.take(channel)) > 0:
            raise NotYet(wait)  # the channel's lane waits exactly until Slack takes the next post
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
            answered(ts)
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
