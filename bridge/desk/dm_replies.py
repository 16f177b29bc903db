"""Direct messages, Slack to X: the claimer's reply sent as a DM, and asking a customer for a DM.

From Slack (:func:`take_dm_reply`, :func:`ask_for_dm`, called by :class:`~bridge.desk.desk.Desk`)
only Redis is touched and jobs queued; :class:`DmJobs` runs them on the ``x`` lane, in order with
the brand's tweets. X takes no idempotency key for a DM either: like a tweet, each send leaves a mark
first, and a later attempt looks in the conversation for its text before sending again.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.core.log import kv
from bridge.core.models import Author, Case, CaseId, TweetId, UserId
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import Settings
from bridge.core.tweet_text import EmptyReply, compose, plan_reply, slack_to_plain
from bridge.desk.desk import XReplies, ephemeral_job, notice_job, react_job
from bridge.desk.edits import cancelled
from bridge.desk.moves import is_old_parent
from bridge.intake.dms import DmStore, dm_recipient
from bridge.storage.lanes import Attempts, Done, Retry
from bridge.storage.store import Store
from bridge.x.client import RateLimited, XClient, XError, XUnavailable, backoff
from bridge.x.direct import XDirect

if TYPE_CHECKING:
    from bridge.desk.desk import Desk

log = logging.getLogger(__name__)

ASK_ONCE_TTL = 365 * 24 * 3600  # a case is asked for a DM once (a year is longer than any case stays open)
MAX_DM = 10_000  # characters of one direct message: https://docs.x.com/x-api/direct-messages/manage/introduction


def dm_text(text: str, signature: str) -> str:
    """The DM for a Slack reply: plain text, signed; one message, never split."""
    return plan_reply(slack_to_plain(text), signature, "refuse", limit=sys.maxsize)[0]


# -- from Slack ------------------------------------------------------------------------------------


def take_dm_reply(desk: Desk, case: Case, user: str, channel: str, ts: str, text: str,
                  files: list[dict] | None = None) -> bool:
    """Queue the claimer's reply as a DM if :func:`dm_recipient` says so; False: tweet it as usual."""
    peer = dm_recipient(desk.store, case.id)
    if peer is None:
        return False
    if files:  # X's DM media upload is not supported: say so rather than send the text without them
        why = "files aren't sent in direct messages. Send the text alone, and the file as a link."
        desk.store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not sent: {why}", case.parent_ts),
                                              react_job(channel, ts, "x")])
        return True
    try:
        signed = dm_text(text, desk.settings.signature_of(user))
    except EmptyReply as exc:
        desk.store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not sent: {exc}", case.parent_ts)])
        return True
    if len(signed) > MAX_DM:
        why = f"a direct message holds at most {MAX_DM:,} characters and this one has {len(signed):,}."
        desk.store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not sent: {why}", case.parent_ts),
                                              react_job(channel, ts, "x")])
        return True
    # "answers": the DM the agent saw last, so that a DM arriving meanwhile still waits for its answer.
    job = {"id": f"dm_reply:{channel}:{ts}", "kind": "dm_reply", "case": case.id, "to": peer, "channel": channel,
           "ts": ts, "user": user, "text": text, "answers": DmStore(desk.store).latest_dm(case.id)}
    if desk.store.take_message(channel, ts, [("x", job)]):
        log.info(kv("reply.dm_queued", case=case.id, user=user, ts=ts))
    return True


def ask_for_dm(desk: Desk, user: str, channel: str, ts: str) -> None:
    """The ask_dm reaction on a public case's parent: tweet the customer the ask, once per case.

    The claimer may ask; on an unclaimed case any agent may (asking does not claim it).
    """
    case = desk._case_at(channel, ts)
    if case is None or is_old_parent(case, channel, ts):  # a moved case is asked from its new parent
        return
    dms = DmStore(desk.store)
    why = None
    if not desk.roles.is_agent(user):
        why = "Only agents can ask a customer for a direct message."
    elif not desk.settings.dm.enabled:
        why = "Direct messages are switched off ([dm] enabled = false), so a customer's DM would not reach Slack."
    elif dms.is_dm_case(case.id):
        why = "This case is a direct message already: just reply in the thread."
    elif case.claimer and case.claimer != user:
        why = f"<@{case.claimer}> has this case, so only they can ask the customer for a DM."
    if why:
        desk._push(ephemeral_job(channel, user, why))
        log.info(kv("dm.ask_refused", case=case.id, user=user, why=why))
        return
    # Its own id per ask: one X refused (done, and forgotten below) must not hide the next one.
    job = {"id": f"dm_ask:{case.id}:{uuid.uuid4().hex[:8]}", "kind": "dm_ask", "case": case.id, "user": user}
    # The customer is expected now already, with the job, not when it runs: one who DMs while the x
    # lane waits (for X's limit, say) still lands in this case. Once per case, whatever Slack repeats.
    customer = asked_customer(desk.store, case).id
    if desk.store.queue_once(ask_once_key(desk.store, case.id), [("x", job)], ttl=ASK_ONCE_TTL,
                             also=lambda pipe: dms.record_ask(case.id, customer, pipe)):
        log.info(kv("dm.ask_queued", case=case.id, user=user))


def ask_once_key(store: Store, case_id: str) -> str:
    return f"{store.p}once:dm_ask:{case_id}"


def asked_customer(store: Store, case: Case) -> Author:
    """Who is asked: the author of the tweet the ask replies to (in a conversation, maybe not the case's
    first customer)."""
    latest = store.tweet(case.latest_customer_tweet)
    return latest.author if latest else case.customer


# -- the jobs --------------------------------------------------------------------------------------


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # a placeholder the template does not know stays as written


class DmJobs:
    def __init__(self, store: Store, x: XClient, settings: Settings, brand: Author, replies: XReplies) -> None:
        self.store = store
        self.dms = DmStore(store)
        self.direct = XDirect(x)
        self.settings = settings
        self.brand = brand
        self.replies = replies  # its _tweet_once tweets the ask exactly once

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
            self.dms.answered(case.id, job.get("answers", ""))  # as live: nobody waits any more
            return Done({"dry_run": True, "dms": []}, [react_job(channel, ts, self.settings.replies.sent_emoji),
                                                     notice_job(case, job["id"], said)])
        try:
            event_id = self._send_once(job, UserId(job["to"]), text)
        except XError as exc:
            if isinstance(exc, RateLimited) and exc.reset_at and exc.reset_at - time.time() >= 60:
                self._tell_delay(case, job, exc.reset_at)
            self._retry_or_raise(exc)
            log.warning(kv("reply.dm_failed", case=case.id, ts=ts, reason=exc.reason))
            return Done({"failed": exc.reason}, [
                react_job(channel, ts, "x"),
                notice_job(case, job["id"], f"<@{user}> Not sent as a direct message: {escape_mrkdwn(exc.reason)}"),
            ])
        log.info(kv("reply.dm_sent", case=case.id, user=user, ts=ts, dm=event_id))
        self.dms.answered(case.id, job.get("answers", ""))  # no waiting reminder for that DM
        return Done({"dm": event_id}, [
            react_job(channel, ts, self.settings.replies.sent_emoji),
            notice_job(case, job["id"], f"Sent as a direct message to {who}."),
        ])

    def ask(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        if case is None:
            return Done({"skipped": "case gone"})
        customer, user = asked_customer(self.store, case), job["user"]
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
            tweet_id = self.replies._tweet_once(job, 0, text, case.latest_customer_tweet)
        except XError as exc:
            self._retry_or_raise(exc)
            log.warning(kv("dm.ask_failed", case=case.id, reason=exc.reason))
            self.store.r.delete(ask_once_key(self.store, case.id))  # nothing went out: the agent may ask again
            return Done({"failed": exc.reason}, [notice_job(
                case, job["id"], f"<@{user}> Could not ask {who} for a DM: {escape_mrkdwn(exc.reason)}")])
        self.store.link_brand_tweet(case.id, tweet_id)
        link = f"https://x.com/{self.brand.username}/status/{tweet_id}"
        log.info(kv("dm.asked", case=case.id, user=user, tweet=tweet_id))
        return Done({"tweets": [tweet_id]}, [notice_job(case, job["id"], f"Asked {who} to send a DM: {link}")])

    def _tell_delay(self, case: Case, job: dict, reset_at: float) -> None:
        """Once per reply: the agent learns that the DM waits for X's limit (15 per 15 minutes), and until when."""
        until = time.strftime("%H:%M UTC", time.gmtime(reset_at))
        said = (f"<@{job['user']}> X's limit on direct messages is used up. Your reply is queued and will be sent "
                f"at about {until}.")
        self.store.queue_once(f"{self.store.p}delayed:{job['id']}", [notice_job(case, f"delay:{job['id']}", said)],
                              ttl=14 * 24 * 3600)  # the mark and its notice together

    @staticmethod
    def _retry_or_raise(exc: XError) -> None:
        """Leave the job for later when X may take it then; return when X said no for good."""
        if isinstance(exc, RateLimited):
            raise Retry(max(1.0, (exc.reset_at - time.time()) if exc.reset_at else backoff(1, 15)), exc.reason)
        if exc.retryable:
            raise Retry(backoff(1, 5), exc.reason)

    def _send_once(self, job: dict, peer: UserId, text: str) -> TweetId:
        """Send the DM unless an earlier attempt did: see :meth:`XReplies._tweet_once`."""
        attempts = Attempts(self.store.r, f"{self.store.p}attempt:{job['id']}")
        first = attempts.before()
        if first is not None:
            found = self.direct.find_sent(self.brand.id, peer, text, since=first - 60)
            if found:
                log.info(kv("reply.dm_reconciled", job=job["id"], dm=found))
                attempts.answered()
                return found
        attempts.sending(first)
        try:
            event_id = self.direct.send(peer, text)
        except XError as exc:
            if not isinstance(exc, XUnavailable):
                attempts.refused()  # X answered no: nothing was sent
            raise
        attempts.answered()
        return event_id


def _quoted(text: str) -> str:
    return "\n".join(f">{escape_mrkdwn(line)}" for line in text.split("\n"))
