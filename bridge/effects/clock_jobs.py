"""The jobs the desk's clock and the closed desk queue: the auto-reply, the opening summary, the reminders.

Queued by :class:`bridge.intake.clock.ClockLoop` and the ingest script; each posts with the usual
reconciliation (:meth:`SlackPosting.post_once`, :meth:`XReplies.tweet_once`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bridge.core.hours import fill_auto_reply, opens_text
from bridge.core.log import kv
from bridge.core.models import Author, Case, CaseId, CaseStatus, TweetId, tweet_url
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import Settings
from bridge.effects.jobs import notice_job, retry_if_later
from bridge.effects.replies import XReplies
from bridge.effects.slack_posts import SlackPosting, slack_call
from bridge.slack.blocks import notice_blocks
from bridge.slack.port import SlackPort
from bridge.storage.lanes import Done
from bridge.storage.store import Store
from bridge.x.client import XError

log = logging.getLogger(__name__)

MAX_LISTED = 40  # cases named in one opening summary; the rest are counted


def _minutes(value: float) -> str:
    return f"{value:g} minute{'' if value == 1 else 's'}"


def _ping(setting: str) -> str:
    """The unclaimed reminder's mention: https://api.slack.com/reference/surfaces/formatting#special-mentions"""
    if setting in ("here", "channel"):
        return f"<!{setting}> "
    return f"<!subteam^{setting}> " if setting else ""


class ClockJobs:
    """The jobs the clock and the closed desk queue: auto-reply, opening summary, reminders."""

    def __init__(self, store: Store, slack: SlackPort, settings: Settings, brand: Author,
                 posting: SlackPosting, replies: XReplies) -> None:
        self.store = store
        self.slack = slack
        self.settings = settings
        self.brand = brand
        self.posting = posting
        self.replies = replies

    def handlers(self) -> dict[str, Callable]:
        return {
            "auto_reply": self.auto_reply,
            "summary": self.summary,
            "remind_unclaimed": self.remind_unclaimed,
            "remind_waiting": self.remind_waiting,
        }

    # -- the closed desk -----------------------------------------------------------------------

    def auto_reply(self, job: dict) -> Done:
        case, hours = self.store.case(CaseId(job["case"])), self.settings.hours
        if case is None or hours is None or not hours.auto_reply.strip() or job["period"] == "never":
            return Done({"skipped": "no case or no auto-reply"})
        opens = opens_text(hours, datetime.fromisoformat(job["period"]),
                           datetime.fromtimestamp(self.store.clock(), UTC))
        text = fill_auto_reply(hours.auto_reply, case.customer.username, case.customer.name, opens)
        if self.settings.x.dry_run:
            return Done({"dry_run": text}, [notice_job(case, job["id"], "Dry run: would have tweeted the "
                                                       f"auto-reply: {escape_mrkdwn(text)}")])
        try:
            tweet_id = self.replies.tweet_once(job, 0, text, case.first_tweet)
        except XError as exc:
            retry_if_later(exc)
            log.warning(kv("hours.auto_reply_failed", case=case.id, reason=exc.reason))
            return Done({"failed": exc.reason}, [notice_job(case, job["id"], "Auto-reply not tweeted: "
                                                            f"{escape_mrkdwn(exc.reason)}")])
        self.store.link_brand_tweet(case.id, tweet_id)  # the customer's answer to it joins the case
        log.info(kv("hours.auto_replied", case=case.id, tweet=tweet_id, in_reply_to=case.first_tweet))
        link = tweet_url(self.brand.username, tweet_id)
        return Done({"tweet": tweet_id}, [notice_job(case, job["id"], f"Auto-reply tweeted: {link}")])

    def summary(self, job: dict) -> Done:
        channel = job["channel"]
        ids = self.store.r.lrange(self.store.keys.closed(f"{job['period']}:{channel}"), 0, -1)
        cases = [c for c in (self.store.case(CaseId(i)) for i in ids) if c is not None]
        if not cases:
            return Done({"skipped": "no cases"})
        lines = [self._listed(c) for c in cases[:MAX_LISTED]]
        if len(cases) > MAX_LISTED:
            lines.append(f"\u2026 and {len(cases) - MAX_LISTED} more.")
        many = f"{len(cases)} new cases" if len(cases) > 1 else "1 new case"
        text = f"Good to have you back! While the desk was closed, {many} came in here:\n" + "\n".join(lines)
        ts = slack_call(lambda: self.posting.post_once(
            job, channel, lambda images=True: notice_blocks(text), payload={"period": job["period"]}))
        log.info(kv("hours.summary_posted", channel=channel, period=job["period"], cases=len(cases), ts=ts))
        return Done({"ts": ts})

    def _listed(self, case: Case) -> str:
        tweet = self.store.tweet(case.first_tweet)
        words = escape_mrkdwn(" ".join((tweet.text if tweet else "").split())[:80])
        return f"\u2022 {self._link(case, '@' + case.customer.username)}: {words}"

    def _link(self, case: Case, label: str) -> str:
        label = escape_mrkdwn(label)
        if not case.parent_ts:
            return label
        return f"<{slack_call(lambda: self.slack.permalink(case.channel, case.parent_ts or ''))}|{label}>"

    # -- reminders -----------------------------------------------------------------------------

    def remind_unclaimed(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        if case is None or case.status is not CaseStatus.OPEN or not case.parent_ts:
            return Done({"skipped": "claimed, resolved or not posted"})
        after = _minutes(self.settings.reminders.unclaimed_after)
        text = (f"{_ping(self.settings.reminders.ping)}{self._link(case, 'A case from @' + case.customer.username)} "
                f"has waited more than {after} without a claim. React :{self.settings.emoji.claim}: on it to "
                "claim it.")
        ts = slack_call(lambda: self.posting.post_once(
            job, case.channel, lambda images=True: notice_blocks(text), payload={"case_id": case.id}))
        log.info(kv("reminder.unclaimed", case=case.id, channel=case.channel, ts=ts))
        return Done({"ts": ts})

    def remind_waiting(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        waiting = self.store.r.hget(self.store.keys.case(job['case']), "waiting_since")
        if (case is None or case.claimer is None or case.status is not CaseStatus.CLAIMED or not waiting
                or case.latest_customer_tweet != TweetId(job["tweet"])):
            return Done({"skipped": "answered, released or resolved"})
        after = _minutes(self.settings.reminders.waiting_after)
        text = (f"<@{case.claimer}> {escape_mrkdwn('@' + case.customer.username)} has waited more than {after} "
                "for an answer to their latest post.")
        log.info(kv("reminder.waiting", case=case.id, claimer=case.claimer, tweet=job["tweet"]))
        return self.posting.notice_in(job, case, text)
