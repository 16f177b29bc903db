"""Slack to X: claims, releases and resolves from reactions; thread replies tweeted as the brand.

:class:`Desk` decides, from a Slack event, what happens to a case. It only touches Redis (the claim
is one atomic script) and queues jobs, so the Events API request is answered well within Slack's
three seconds. :class:`XReplies` runs those jobs: tweets, reactions and ephemeral answers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from bridge.core import crash, dry_run, privacy
from bridge.core.log import kv
from bridge.core.media import MediaRefused, attachments, describe
from bridge.core.models import Case, CaseId, ChannelId, SlackTs, SlackUserId, TweetId
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import Settings
from bridge.core.tweet_text import EmptyReply, ReplyTooLong, is_note, plan_reply
from bridge.desk.edits import cancelled
from bridge.desk.moves import is_old_parent, moved_hint
from bridge.desk.roles import Roles
from bridge.effects.media_upload import MediaFailed, ReplyMedia
from bridge.intake.deletions import mark_gone
from bridge.intake.mentions import job_error
from bridge.slack.client import SlackError, SlackSide
from bridge.storage.lanes import Attempts, Done, Retry
from bridge.storage.store import Store
from bridge.x.client import RateLimited, TweetGone, XClient, XError, XUnavailable, backoff

log = logging.getLogger(__name__)

def plan(text: str, user: str, settings: Settings, with_media: bool = False) -> list[str]:
    """The tweets for an agent's thread message: planned alike where it is checked and where it is sent.

    With media (bridge/core/media.py) a message with no text is fine: the tweet is the files and the signature.
    """
    try:
        return plan_reply(privacy.plain_reply(text, settings.privacy), settings.signature_of(user),
                          settings.replies.long)
    except EmptyReply:
        if with_media:
            return [settings.signature_of(user)]
        raise


def update_job(case: Case) -> tuple[str, dict]:
    return "slack", {"id": f"update:{case.id}:{uuid.uuid4().hex}", "kind": "update", "case": case.id}


def ephemeral_job(channel: str, user: str, text: str, thread_ts: str | None = None) -> tuple[str, dict]:
    job = {"id": f"ephemeral:{uuid.uuid4().hex}", "kind": "ephemeral", "channel": channel, "user": user,
           "text": text, "thread_ts": thread_ts}
    return "slack", job


def react_job(channel: str, ts: str, name: str) -> tuple[str, dict]:
    return "slack", {"id": f"react:{channel}:{ts}:{name}", "kind": "react", "channel": channel, "ts": ts,
                     "name": name}


def notice_job(case: Case, key: str, text: str) -> tuple[str, dict]:
    return f"post:{case.channel}", {"id": f"notice:{key}", "kind": "notice", "case": case.id, "text": text}


class Desk:
    def __init__(self, store: Store, settings: Settings, roles: Roles, slack: SlackSide) -> None:
        self.store = store
        self.settings = settings
        self.roles = roles
        self.slack = slack
        self.channels = {settings.slack.default_channel, *(t.channel for t in settings.topics)}

    def _case_at(self, channel: str, ts: str) -> Case | None:
        """The case whose parent is at ``ts``, even if the worker has not recorded the parent yet.

        A worker can die between posting a parent and recording its ts, and Slack can deliver an
        agent's reaction before the worker's record lands. The parent carries its case id in its
        message metadata, so ask Slack, and record what it says (a known non-case is remembered).
        """
        case = self.store.case_by_parent(channel, ts)
        if case is not None or channel not in self.channels:
            return case
        negative = f"{self.store.p}notcase:{channel}:{ts}"
        if self.store.r.exists(negative):
            return None
        try:
            case_id = self.slack.case_of_message(channel, ts)
        except SlackError as exc:
            log.warning(kv("slack.parent_lookup_failed", channel=channel, ts=ts, error=exc.error))
            raise
        case = self.store.case(CaseId(case_id)) if case_id else None
        if case is None:
            self.store.r.set(negative, 1, ex=600)
            return None
        if not case.parent_ts:
            self.store.set_parent(case.id, ChannelId(channel), SlackTs(ts))
            log.info(kv("case.parent_recorded_from_slack", case=case.id, channel=channel, ts=ts))
        return self.store.case_by_parent(channel, ts)

    def _push(self, *jobs: tuple[str, dict]) -> None:
        with self.store.r.pipeline(transaction=True) as pipe:
            for lane, job in jobs:
                self.store.outbox.push(lane, job, pipe=pipe)
            pipe.execute()

    # -- reactions on a parent -----------------------------------------------------------------

    def reaction_added(self, user: str, channel: str, ts: str, reaction: str) -> None:
        if reaction == self.settings.emoji.ask_dm:
            from bridge.desk.dm_replies import ask_for_dm  # here: that module builds on this one's jobs

            ask_for_dm(self, user, channel, ts)
            return
        if reaction not in (self.settings.emoji.claim, self.settings.emoji.resolve):
            return
        case = self._case_at(channel, ts)
        if case is None or is_old_parent(case, channel, ts):
            return
        if reaction == self.settings.emoji.claim:
            self._claim(case, user)
        elif reaction == self.settings.emoji.resolve:
            self._resolve(case, user)

    def reaction_removed(self, user: str, channel: str, ts: str, reaction: str) -> None:
        if reaction not in (self.settings.emoji.claim, self.settings.emoji.resolve):
            return
        case = self._case_at(channel, ts)
        if case is None or is_old_parent(case, channel, ts):
            return
        if reaction == self.settings.emoji.claim and case.claimer in (user, None):
            if self.store.release(case.id, SlackUserId(user)):
                log.info(kv("case.released", case=case.id, user=user))
            self._push(update_job(case))
        elif reaction == self.settings.emoji.resolve and case.resolved_by == user:
            if self.store.unresolve(case.id):
                log.info(kv("case.unresolved", case=case.id, user=user))
            self._push(update_job(case))

    def _claim(self, case: Case, user: str) -> None:
        if not self.roles.is_agent(user):
            log.info(kv("case.claim_refused", case=case.id, user=user, why="not an agent"))
            self._push(ephemeral_job(case.channel, user, "Only agents can claim cases. Ask an admin to add you."))
            return
        holder = self.store.claim(case.id, SlackUserId(user))
        if holder == user:
            # Also when it was ours already: a retry of an event whose update was never queued.
            log.info(kv("case.claimed", case=case.id, user=user))
            self._push(update_job(case))
            return
        log.info(kv("case.claim_lost", case=case.id, user=user, holder=holder))
        self._push(ephemeral_job(case.channel, user, f"<@{holder}> already has this case, so nothing changed. "
                                 "Ask them to hand it over, or remove their claim."))

    def _resolve(self, case: Case, user: str) -> None:
        fresh = self.store.case(case.id) or case
        if user != fresh.claimer and not self.roles.is_admin(user):
            self._push(ephemeral_job(case.channel, user, "Only the agent who claimed this case, or an admin, "
                                     "can resolve it."))
            return
        if self.store.resolve(case.id, SlackUserId(user)):
            log.info(kv("case.resolved", case=case.id, user=user))
        self._push(update_job(case))

    # -- thread messages -----------------------------------------------------------------------

    def message(self, user: str, channel: str, ts: str, thread_ts: str, text: str,
                files: list[dict] | None = None) -> None:
        """A thread message; ``files``: the Slack file objects of a file_share message (bridge/core/media.py)."""
        case = self._case_at(channel, thread_ts)
        if case is None:
            return
        if is_old_parent(case, channel, thread_ts):
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, moved_hint(case), thread_ts)]):
                log.info(kv("reply.in_old_thread", case=case.id, user=user, ts=ts))
            return
        if is_note(text, self.settings.replies.note_prefixes):
            log.info(kv("reply.note", case=case.id, user=user, ts=ts))
            return
        if case.claimer is None:
            hint = (f"This case isn't claimed yet, so nothing was tweeted. React :{self.settings.emoji.claim}: "
                    "on the case's first message to claim it, then write your reply again.")
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, hint, thread_ts)]):
                log.info(kv("reply.unclaimed", case=case.id, user=user, ts=ts))
            return
        if case.claimer != user:
            log.info(kv("reply.note", case=case.id, user=user, ts=ts, why="not the claimer"))
            return
        from bridge.desk.dm_replies import take_dm_reply  # here: that module builds on this one's jobs

        if take_dm_reply(self, case, user, channel, ts, text, files):
            return  # a direct message, private: neither split nor checked like a public reply
        guard = privacy.review(text, self.settings)
        if guard.message:
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, guard.message, thread_ts),
                                                     react_job(channel, ts, "x")]):
                log.info(kv("reply.refused", case=case.id, user=user, ts=ts, reason="personal data",
                            found=guard.kinds))
            return
        try:
            media = attachments(files) if files is not None else []
            plan(text, user, self.settings, bool(media))
        except (ReplyTooLong, EmptyReply, MediaRefused) as exc:
            # Told at once, not after a trip through the queue.
            self.store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not tweeted: {exc}", thread_ts),
                                                  react_job(channel, ts, "x")])
            log.info(kv("reply.refused", case=case.id, user=user, ts=ts, reason=str(exc)))
            return
        job = {"id": f"reply:{channel}:{ts}", "kind": "reply", "case": case.id, "channel": channel,
               "ts": ts, "user": user, "text": text}
        if media:
            job["files"] = [a.as_job() for a in media]
        if self.store.take_message(channel, ts, [("x", job)]):
            log.info(kv("reply.queued", case=case.id, user=user, ts=ts))
            if guard.forced:  # the audit trail of personal data tweeted on purpose
                log.warning(kv("privacy.forced", case=case.id, user=user, ts=ts, found=guard.kinds))


    def untweetable(self, user: str, channel: str, ts: str, thread_ts: str, why: str) -> None:
        """A claimer's reply of a kind that is not tweeted: tell them, once."""
        case = self._case_at(channel, thread_ts)
        if case is None or case.claimer != user:
            return
        if self.store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not tweeted: {why}", thread_ts)]):
            log.info(kv("reply.untweetable", case=case.id, user=user, ts=ts, why=why))


class XReplies:
    """The jobs of the Slack-to-X direction: tweet a reply, react, answer ephemerally."""

    def __init__(self, store: Store, x: XClient, slack: SlackSide, settings: Settings, brand_username: str,
                 media: ReplyMedia | None = None):
        self.store = store
        self.media = media  # uploads a reply's files (bridge/effects/media_upload.py)
        self.x = x
        self.slack = slack
        self.settings = settings
        self.brand_username = brand_username

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
            self.store.answered(case.id, case.latest_customer_tweet)  # as live: nobody waits any more
            return Done({"dry_run": True, "tweets": []}, [
                react_job(channel, ts, self.settings.replies.sent_emoji),
                notice_job(case, job["id"], dry_run.would_have_tweeted(case, parts, self.brand_username)
                           + (f"\nWith {escape_mrkdwn(describe(job))} attached." if job.get("files") else "")),
            ])
        progress = f"{self.store.p}parts:{job['id']}"
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
            try:
                tweet_id = self._tweet_once(job, index, part, in_reply_to, media_ids if index == 0 else [])
            except RateLimited as exc:
                wait = max(1.0, (exc.reset_at - time.time()) if exc.reset_at else backoff(len(sent) + 1, 15))
                self._tell_delay(case, job, exc, wait)
                raise Retry(wait, exc.reason) from None
            except XError as exc:
                if exc.retryable:
                    raise Retry(backoff(1, 5), exc.reason) from None
                log.warning(kv("reply.failed", case=case.id, ts=ts, reason=exc.reason, parts_sent=len(sent)))
                if isinstance(exc, TweetGone) and not sent:
                    mark_gone(self.store, case.id, in_reply_to)
                return self._failed(case, job, exc.reason, sent)
            with self.store.r.pipeline(transaction=True) as pipe:
                pipe.rpush(progress, tweet_id)
                pipe.expire(progress, 14 * 24 * 3600)
                pipe.set(f"{self.store.p}tweet:{tweet_id}", case.id)
                pipe.execute()
            sent.append(tweet_id)
            in_reply_to = TweetId(tweet_id)
            log.info(kv("reply.tweeted", case=case.id, user=user, ts=ts, tweet=tweet_id,
                        part=f"{len(sent)}/{len(parts)}"))
        self.store.answered(case.id, case.latest_customer_tweet)  # no waiting reminder for this tweet
        links = " ".join(f"https://x.com/{self.brand_username}/status/{t}" for t in sent)
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
        self.store.queue_once(f"{self.store.p}delayed:{job['id']}", [notice])  # the mark and its notice together

    def _tweet_once(self, job: dict, index: int, text: str, in_reply_to: TweetId,
                    media_ids: list[str] | None = None) -> TweetId:
        """Tweet one part unless an earlier attempt already did.

        X takes no idempotency key, and a tweet may be created while our process dies or the answer
        is lost. The first attempt leaves a mark; a later one first looks on the brand's timeline for
        its reply to ``in_reply_to`` with this text, and records that instead of tweeting again.
        """
        attempts = Attempts(self.store.r, f"{self.store.p}attempt:{job['id']}:{index}")
        if attempts.before() is not None:
            asked = attempts.request(text=text, in_reply_to=in_reply_to)
            text, in_reply_to = asked["text"], TweetId(asked["in_reply_to"])
            found = self.x.find_reply(in_reply_to, text)
            if found:
                log.info(kv("reply.reconciled", job=job["id"], part=index + 1, tweet=found))
                attempts.answered()
                return found
        attempts.sending(None, text=text, in_reply_to=in_reply_to)
        try:
            tweet_id = self.x.post_reply(text, in_reply_to, media_ids)
        except XError as exc:
            if not isinstance(exc, XUnavailable):
                attempts.refused()  # X answered no: nothing was tweeted
            raise
        attempts.answered()
        crash.point("x.after_tweet")
        return tweet_id

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
