"""Slack to X, the effects: a reply tweeted once (each part of a chain), reactions and ephemeral answers.

:class:`XReplies` runs the jobs :class:`bridge.desk.desk.Desk` queued. X takes no idempotency key, so
every tweet goes through :meth:`XReplies.tweet_once`, which reconciles with the brand's timeline first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bridge.core import crash, dry_run
from bridge.core.log import kv
from bridge.core.media import describe
from bridge.core.models import Case, TweetId, tweet_url
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.reply_check import plan
from bridge.core.settings import Settings
from bridge.core.tweet_text import EmptyReply, ReplyTooLong
from bridge.effects.jobs import (
    cancelled,
    mark_gone,
    notice_job,
    parked_notice,
    react_job,
    refresh_home,
    retry_if_later,
    within_budget,
)
from bridge.effects.media_upload import MediaFailed, ReplyMedia
from bridge.effects.slack_posts import job_error
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.figures import Figures
from bridge.storage.lanes import Attempts, Done, Park, Retry
from bridge.storage.limits import TWEETS
from bridge.storage.store import Store
from bridge.x.client import RateLimited, TweetGone, XError, XUnavailable
from bridge.x.port import XPort

log = logging.getLogger(__name__)

WAITING_AFTER = 2  # retries before the thread is told that X keeps failing


class XReplies:
    """The jobs of the Slack-to-X direction: tweet a reply, react, answer ephemerally."""

    def __init__(self, store: Store, x: XPort, slack: SlackPort, settings: Settings, brand_username: str,
                 media: ReplyMedia | None = None):
        self.store = store
        self.media = media  # uploads a reply's files (bridge/effects/media_upload.py)
        self.x = x
        self.slack = slack
        self.settings = settings
        self.brand_username = brand_username
        self.figures = Figures(store.r, store.keys, lambda: settings, store.clock)

    def handlers(self) -> dict[str, Callable]:
        return {"reply": self.reply, "react": self.react, "ephemeral": self.ephemeral}

    def reply(self, job: dict) -> Done:
        case = self.store.case(job["case"])
        channel, ts, user = job["channel"], job["ts"], job["user"]
        if case is None:
            return Done({"skipped": "case gone"})
        try:
            parts = plan(job["text"], user, self.settings, bool(job.get("files")))
        except (ReplyTooLong, EmptyReply) as exc:
            return self._failed(case, job, str(exc))
        if self.settings.x.dry_run:  # shown as live, with the sent emoji; the notice says what would be
            log.info(kv("reply.dry_run", case=case.id, user=user, ts=ts, parts=len(parts)))
            self.figures.replied(case, "tweet", case.latest_customer_tweet, job["id"], user)  # as live
            return Done({"dry_run": True, "tweets": []}, [
                react_job(channel, ts, self.settings.replies.sent_emoji),
                notice_job(case, job["id"], dry_run.would_have_tweeted(case, parts, self.brand_username)
                           + (f"\nWith {escape_mrkdwn(describe(job))} attached." if job.get("files") else "")),
            ])
        progress = self.store.keys.parts(job['id'])
        sent: list[str] = self.store.r.lrange(progress, 0, -1)
        try:  # media go on the first part
            media_ids = self.media.media_ids(job) if job.get("files") and not sent and self.media else []
        except MediaFailed as exc:
            return self._failed(case, job, str(exc))
        in_reply_to = TweetId(sent[-1]) if sent else case.latest_customer_tweet
        for index in range(len(sent), len(parts)):
            part = parts[index]
            if cancelled(self.store, job, index):  # deleted in Slack: its unsend job tells the thread
                return Done({"cancelled": True, "tweets": sent})
            withdrawn = bool(self.store.r.exists(self.store.keys.cancel(job["id"])))
            try:
                if withdrawn:  # and an attempt of this part may have landed: look for it, never send it again
                    found = self.earlier_attempt(job, index, part, in_reply_to)
                    if found is None:
                        log.info(kv("reply.withdrawn", case=case.id, ts=ts, part=index + 1, parts_sent=len(sent)))
                        return Done({"cancelled": True, "tweets": sent})
                    tweet_id = found
                else:
                    tweet_id = self.tweet_once(job, index, part, in_reply_to, media_ids if index == 0 else [])
            except XError as exc:
                try:
                    retry_if_later(exc, attempt=len(sent) + 1)
                except Retry as later:
                    if isinstance(exc, RateLimited):
                        self._tell_delay(case, job, exc, later.after)
                    else:
                        self._tell_waiting(case, job, exc)
                    raise
                except Park as park:
                    parked_notice(park, case, job, "Your reply")
                    raise
                log.warning(kv("reply.failed", case=case.id, ts=ts, reason=exc.reason, parts_sent=len(sent)))
                if isinstance(exc, TweetGone) and not sent:
                    mark_gone(self.store, case.id, in_reply_to)
                return self._failed(case, job, exc.reason, sent)
            with self.store.r.pipeline(transaction=True) as pipe:
                pipe.rpush(progress, tweet_id)
                pipe.expire(progress, 14 * 24 * 3600)
                pipe.hset(*self.store.keys.tweet(tweet_id), case.id)
                pipe.execute()
            sent.append(tweet_id)
            in_reply_to = TweetId(tweet_id)
            log.info(kv("reply.tweeted", case=case.id, user=user, ts=ts, tweet=tweet_id,
                        part=f"{len(sent)}/{len(parts)}"))
        # Nobody waits for this tweet any more (no reminder), and the reply counts in the figures, once.
        self.figures.replied(case, "tweet", case.latest_customer_tweet, job["id"], user)
        refresh_home(self.store, user)  # their case no longer waits
        links = " ".join(tweet_url(self.brand_username, t) for t in sent)
        return Done({"tweets": sent}, [
            react_job(channel, ts, self.settings.replies.sent_emoji),
            notice_job(case, job["id"], f"Tweeted as @{self.brand_username}: {links}"),
        ])

    def _tell_delay(self, case: Case, job: dict, exc: RateLimited, wait: float) -> None:
        """Once per reply: the agent learns it waits for X's limit, and until when."""
        if wait < 60:
            return
        until = time.strftime("%H:%M UTC", time.gmtime(time.time() + wait))
        notice = notice_job(case, f"delay:{job['id']}", f"<@{job['user']}> {exc.reason} "
                            f"Your reply is queued and will be tweeted at about {until}.")
        self.store.queue_once(self.store.keys.delayed(job['id']), [notice])  # the mark and its notice together

    def _tell_waiting(self, case: Case, job: dict, exc: XError) -> None:
        """Once per reply, from its third try on: X keeps failing, the reply waits (in its case's lane only)."""
        if int(self.store.r.get(self.store.keys.failures(job["id"])) or 0) < WAITING_AFTER:
            return
        notice = notice_job(case, f"delay:{job['id']}", f"<@{job['user']}> {escape_mrkdwn(exc.reason)}. Your "
                            "reply waits and is tweeted once, as soon as X answers; nothing else waits for it.")
        if self.store.queue_once(self.store.keys.delayed(job['id']), [notice]):
            log.warning(kv("reply.waiting_for_x", case=case.id, job=job["id"], reason=exc.reason))

    def tweet_once(self, job: dict, index: int, text: str, in_reply_to: TweetId,
                    media_ids: list[str] | None = None) -> TweetId:
        """Tweet one part unless an earlier attempt already did.

        X takes no idempotency key, and a tweet may be created while our process dies or the answer
        is lost. The first attempt leaves a mark; a later one first looks on the brand's timeline for
        its reply to ``in_reply_to`` with this text, and records that instead of tweeting again.
        """
        found = self.earlier_attempt(job, index, text, in_reply_to)
        if found:
            return found
        attempts = Attempts(self.store.r, self.store.keys.attempt(job['id'], index))
        asked = attempts.request(text=text, in_reply_to=in_reply_to)  # a retry repeats the first request
        text, in_reply_to = asked["text"], TweetId(asked["in_reply_to"])
        attempts.sending(None, text=text, in_reply_to=in_reply_to)
        try:
            tweet_id = within_budget(self.store, TWEETS, self.x.budget,
                                     lambda: self.x.post_reply(text, in_reply_to, media_ids))
        except XError as exc:
            if not isinstance(exc, XUnavailable):
                attempts.refused()  # X answered no: nothing was tweeted
            raise
        attempts.answered()
        crash.point("x.after_tweet")
        return tweet_id

    def earlier_attempt(self, job: dict, index: int, text: str, in_reply_to: TweetId) -> TweetId | None:
        """The tweet an earlier attempt of this part made, if X has it (Retry while one may still land)."""
        attempts = Attempts(self.store.r, self.store.keys.attempt(job['id'], index))
        if attempts.before() is None:
            return None
        asked = attempts.request(text=text, in_reply_to=in_reply_to)
        found = self.x.find_reply(TweetId(asked["in_reply_to"]), asked["text"])
        if found:
            log.info(kv("reply.reconciled", job=job["id"], part=index + 1, tweet=found))
            attempts.answered()
        return found

    def _failed(self, case: Case, job: dict, reason: str, sent: list[str] | None = None) -> Done:
        extra = f" ({len(sent)} part(s) were tweeted before that.)" if sent else ""
        return Done({"failed": reason, "tweets": sent or []}, [
            react_job(job["channel"], job["ts"], "x"),
            notice_job(case, job["id"], f"<@{job['user']}> Not tweeted: {escape_mrkdwn(reason)}{extra}"),
        ])

    def react(self, job: dict) -> Done:
        try:
            self.slack.react(job["channel"], job["ts"], job["name"])
        except SlackError as exc:
            if exc.error == "message_not_found":
                return Done({"skipped": exc.error})  # deleted in Slack meanwhile (bridge/desk/edits.py)
            raise job_error(exc) from None
        return Done(True)

    def ephemeral(self, job: dict) -> Done:
        try:
            self.slack.ephemeral(job["channel"], job["user"], job["text"], job.get("thread_ts"), job.get("blocks"))
        except SlackError as exc:
            if exc.error in ("user_not_in_channel", "channel_not_found"):
                return Done({"skipped": exc.error})  # nobody left to tell
            raise job_error(exc) from None
        return Done(True)
