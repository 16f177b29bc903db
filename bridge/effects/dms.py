"""Direct messages, the effects: a DM reply sent once, and the tweet that asks a customer for a DM.

The jobs are queued by :class:`bridge.desk.dm_replies.DmDesk` and run on the ``x`` lane, in order with
the brand's tweets. X takes no idempotency key for a DM either: like a tweet, each send leaves a mark
first, and a later attempt looks in the conversation for its text before sending again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bridge.core.log import kv
from bridge.core.models import Author, Case, CaseId, TweetId, UserId, tweet_url
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import Settings
from bridge.core.tweet_text import compose, dm_text
from bridge.effects.jobs import (
    cancelled,
    notice_job,
    parked_notice,
    react_job,
    refresh_home,
    retry_if_later,
    within_budget,
)
from bridge.effects.replies import XReplies
from bridge.storage.dms import DmStore
from bridge.storage.lanes import Attempts, Done, Park
from bridge.storage.limits import DMS
from bridge.storage.store import Store
from bridge.x.client import RateLimited, XError, XUnavailable
from bridge.x.port import DirectPort

log = logging.getLogger(__name__)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # a placeholder the template does not know stays as written


class DmJobs:
    def __init__(self, store: Store, direct: DirectPort, settings: Settings, brand: Author, replies: XReplies,
                 ) -> None:
        self.store = store
        self.dms = DmStore(store)
        self.direct = direct
        self.settings = settings
        self.brand = brand
        self.replies = replies  # its tweet_once tweets the ask exactly once
        self.figures = replies.figures

    def handlers(self) -> dict[str, Callable]:
        return {"dm_reply": self.reply, "dm_ask": self.ask}

    def reply(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        if case is None:
            return Done({"skipped": "case gone"})
        channel, ts, user = job["channel"], job["ts"], job["user"]
        if cancelled(self.store, job, None):  # deleted in Slack before it went out: its notice says so
            log.info(kv("reply.dm_cancelled", case=case.id, user=user, ts=ts))
            return Done({"cancelled": True})
        text = dm_text(job["text"], self.settings.signature_of(user))
        who = escape_mrkdwn("@" + case.customer.username)
        if self.settings.x.dry_run:  # shown as live, like a tweeted reply in a dry run (bridge/core/dry_run.py)
            said = f"Dry run: not sent. Would have sent as a direct message to {who}:\n{_quoted(text)}"
            self.figures.replied(case, "dm", job.get("answers", ""), job["id"], user)  # as live
            return Done({"dry_run": True, "dms": []}, [react_job(channel, ts, self.settings.replies.sent_emoji),
                                                     notice_job(case, job["id"], said)])
        try:
            event_id = self._send_once(job, UserId(job["to"]), text)
        except XError as exc:
            if isinstance(exc, RateLimited) and exc.reset_at and exc.reset_at - time.time() >= 60:
                self._tell_delay(case, job, exc.reset_at)
            try:
                retry_if_later(exc)
            except Park as park:
                parked_notice(park, case, job, "Your direct message")
                raise
            log.warning(kv("reply.dm_failed", case=case.id, ts=ts, reason=exc.reason))
            return Done({"failed": exc.reason}, [
                react_job(channel, ts, "x"),
                notice_job(case, job["id"], f"<@{user}> Not sent as a direct message: {escape_mrkdwn(exc.reason)}"),
            ])
        log.info(kv("reply.dm_sent", case=case.id, user=user, ts=ts, dm=event_id))
        self.figures.replied(case, "dm", job.get("answers", ""), job["id"], user)  # nobody waits; counted once
        refresh_home(self.store, user)
        return Done({"dm": event_id}, [
            react_job(channel, ts, self.settings.replies.sent_emoji),
            notice_job(case, job["id"], f"Sent as a direct message to {who}."),
        ])

    def ask(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        if case is None:
            return Done({"skipped": "case gone"})
        customer, user = self.dms.asked_customer(case), job["user"]
        ask = self.settings.dm.ask_template.format_map(_Missing(handle=customer.username, name=customer.name))
        text = compose(ask, self.settings.signature_of(user))
        who = escape_mrkdwn("@" + customer.username)
        # Before the tweet: a customer answering at once must find the case waiting.
        self.dms.record_ask(case.id, customer.id)
        if self.settings.x.dry_run:
            said = (f"Dry run: not tweeted. Asking {who} for a DM would have tweeted as @{self.brand.username}:\n"
                    f"{_quoted(text)}")
            return Done({"dry_run": True, "tweets": []}, [notice_job(case, job["id"], said)])
        try:
            tweet_id = self.replies.tweet_once(job, 0, text, case.latest_customer_tweet)
        except XError as exc:
            retry_if_later(exc)
            log.warning(kv("dm.ask_failed", case=case.id, reason=exc.reason))
            self.store.r.delete(self.dms.ask_once_key(case.id))  # nothing went out: the agent may ask again
            return Done({"failed": exc.reason}, [notice_job(
                case, job["id"], f"<@{user}> Could not ask {who} for a DM: {escape_mrkdwn(exc.reason)}")])
        self.store.link_brand_tweet(case.id, tweet_id)
        link = tweet_url(self.brand.username, tweet_id)
        log.info(kv("dm.asked", case=case.id, user=user, tweet=tweet_id))
        return Done({"tweets": [tweet_id]}, [notice_job(case, job["id"], f"Asked {who} to send a DM: {link}")])

    def _tell_delay(self, case: Case, job: dict, reset_at: float) -> None:
        """Once per reply: the agent learns that the DM waits for X's limit (15 per 15 minutes), and until when."""
        until = time.strftime("%H:%M UTC", time.gmtime(reset_at))
        said = (f"<@{job['user']}> X's limit on direct messages is used up. Your reply is queued and will be sent "
                f"at about {until}.")
        self.store.queue_once(self.store.keys.delayed(job['id']), [notice_job(case, f"delay:{job['id']}", said)],
                              ttl=14 * 24 * 3600)  # the mark and its notice together

    def _send_once(self, job: dict, peer: UserId, text: str) -> TweetId:
        """Send the DM unless an earlier attempt did: see :meth:`XReplies.tweet_once`."""
        attempts = Attempts(self.store.r, self.store.keys.attempt(job['id']))
        first = attempts.before()
        if first is not None:
            found = self.direct.find_sent(self.brand.id, peer, text, since=first - 60)
            if found:
                log.info(kv("reply.dm_reconciled", job=job["id"], dm=found))
                attempts.answered()
                return found
        attempts.sending(first)
        try:
            event_id = within_budget(self.store, DMS, self.direct.budget, lambda: self.direct.send(peer, text))
        except XError as exc:
            if not isinstance(exc, XUnavailable):
                attempts.refused()  # X answered no: nothing was sent
            raise
        attempts.answered()
        return event_id


def _quoted(text: str) -> str:
    return "\n".join(f">{escape_mrkdwn(line)}" for line in text.split("\n"))
