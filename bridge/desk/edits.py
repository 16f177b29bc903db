"""Slack to X: what an agent's edit or deletion of a thread reply does to its tweet.

X has no editing for an app's tweets, and Slack tells the app about edits and deletions only after
the fact (``message_changed`` / ``message_deleted``, https://api.slack.com/events/message/message_changed).
So:

- An edit of a reply that was tweeted: the author is told, ephemerally, that the tweet stays as
  first written, with a button that deletes the tweet (every part of a split reply) and tweets the
  edited text as a new reply. An edit of a reply still queued: the author is told it goes out as
  first written. An edit of a note, or of a reply X refused: nothing / a hint to write a new message.
- A deletion of a tweeted reply: with ``[replies] delete_on_slack_delete`` its tweets are deleted on
  X (``DELETE /2/tweets/:id``), else the thread says they stay. A reply deleted while still queued is
  cancelled before it is tweeted; parts tweeted before the cancel landed are deleted like any other.

Which job tweeted a Slack message is kept under ``replyjob:<channel>:<ts>`` once the text was
replaced (``reply:<channel>:<ts>`` before that); the job records its tweets under ``parts:<job id>``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

import redis

from bridge.core import privacy
from bridge.core.log import kv
from bridge.core.media import MediaRefused, attachments
from bridge.core.models import Case
from bridge.core.settings import Settings
from bridge.core.tweet_text import EmptyReply, ReplyTooLong, is_note
from bridge.storage.lanes import Attempts, Done, Retry
from bridge.storage.store import Store
from bridge.x.client import RateLimited, XClient, XError, backoff

if TYPE_CHECKING:  # slack_to_x asks this module whether a reply was cancelled
    from bridge.desk.desk import Desk

log = logging.getLogger(__name__)

RESEND_ACTION = "xdesk_edit_resend"  # the button's action_id
KEEP = 14 * 24 * 3600  # as long as a reply job's record of its tweets
DELETED = "deleted"  # a message's reply job once the message is deleted in Slack


class Sent(StrEnum):
    NONE = "none"  # never a reply job: a note, an unclaimed case, a refused text
    QUEUED = "queued"  # the job has not finished
    TWEETED = "tweeted"  # done, at least one part is on X
    FAILED = "failed"  # done, nothing on X


NOTE = "note"


def edit_answer(state: Sent, author_holds_case: bool, problem: str | None, links: str) -> tuple[str | None, bool]:
    """What the author of an edited thread message is told (None: nothing), and whether they are
    offered to delete the tweet and send the new text. ``problem``: why the new text could not be
    tweeted (:data:`NOTE` when it is a note), None when it could."""
    if state is Sent.NONE:
        # A note stays a note, and an edit never tweets on its own; only a claimer who turned a
        # message into a reply is told how to send it.
        if author_holds_case and problem is None:
            return "Edits aren't tweeted, only new messages: write it again as a new message to tweet it.", False
        return None, False
    if state is Sent.QUEUED:
        return ("Your reply is still on its way to X and goes out as you first wrote it: an edit in Slack "
                "doesn't change it. Once it's tweeted, edit it again to replace the tweet."), False
    if state is Sent.FAILED:
        return "This reply wasn't tweeted, so neither is the edit. Write the new text as a new message.", False
    stays = f"A tweet can't be edited: your reply stays on X as you first wrote it{f' ({links})' if links else ''}."
    if problem == NOTE:
        return f"{stays} To take it off X, delete your message.", False
    if problem is not None:
        return f"{stays} The new text couldn't be tweeted either: {problem}", False
    if not author_holds_case:
        return f"{stays} You no longer hold this case, so it can't be replaced from here.", False
    return f"{stays} Delete that tweet on X and tweet the new text instead?", True


def ephemeral_blocks_job(channel: str, user: str, text: str, thread_ts: str, blocks: list[dict]) -> tuple[str, dict]:
    return "slack", {"id": f"ephemeral:{uuid.uuid4().hex}", "kind": "ephemeral", "channel": channel, "user": user,
                     "text": text, "thread_ts": thread_ts, "blocks": blocks}


class Edits:
    """Decides, from Slack's edit, delete and button events, what happens on X; only queues jobs."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.store: Store = desk.store
        self.settings: Settings = desk.settings
        self.p = desk.store.p

    # -- what the bridge knows of a Slack message ------------------------------------------------

    def job_of(self, channel: str, ts: str) -> str:
        return self.store.r.get(f"{self.p}replyjob:{channel}:{ts}") or f"reply:{channel}:{ts}"

    def sent(self, job_id: str) -> tuple[Sent, list[str]]:
        parts: list[str] = self.store.r.lrange(f"{self.p}parts:{job_id}", 0, -1)
        done = self.store.outbox.done(job_id)
        if done is None:
            queued = parts or any(json.loads(raw).get("id") == job_id
                                  for raw in self.store.r.lrange(f"{self.p}lane:x", 0, -1))
            return (Sent.QUEUED if queued else Sent.NONE), parts
        tweets = list(done.get("tweets") or parts) if isinstance(done, dict) else parts
        dry = isinstance(done, dict) and bool(done.get("dry_run"))  # shown as tweeted, so treated as tweeted
        return (Sent.TWEETED if tweets or dry else Sent.FAILED), tweets

    def dm_sent(self, job_id: str) -> Sent:
        """Whether the message went (or goes) out as a direct message: bridge/desk/dm_replies.py's job."""
        done = self.store.outbox.done(job_id)
        if done is None:
            queued = any(json.loads(raw).get("id") == job_id for raw in self.store.r.lrange(f"{self.p}lane:x", 0, -1))
            return Sent.QUEUED if queued else Sent.NONE
        return Sent.TWEETED if isinstance(done, dict) and (done.get("dm") or done.get("dry_run")) else Sent.FAILED

    def _links(self, tweets: list[str]) -> str:
        brand = self.store.r.hget("xdesk:brand", "username") or "i"  # x.com/i/status/<id> works for any
        return " ".join(f"https://x.com/{brand}/status/{t}" for t in tweets)

    def _once(self, key: str, jobs: list[tuple[str, dict]], also: Callable[[redis.client.Pipeline], None] | None = None,
              ) -> bool:
        """Queue ``jobs`` unless ``key`` was taken before (Slack retries, double clicks, twins)."""
        return self.store.queue_once(f"{self.p}{key}", jobs, also=also)

    # -- an agent edits a thread message ---------------------------------------------------------

    def changed(self, user: str, channel: str, ts: str, thread_ts: str, before: str, after: str, edit_ts: str,
                files: list[dict] | None = None) -> None:
        """``files``: the Slack file objects the message carries (a reply with media keeps them)."""
        if before == after:
            return  # an unfurl or an attachment change, not an edit of the words
        case = self.desk._case_at(channel, thread_ts)
        if case is None:
            return
        if (dm := self.dm_sent(dm_job_of(channel, ts))) is not Sent.NONE:
            self._tell_dm_edit(user, channel, ts, thread_ts, edit_ts, dm)
            return
        job_id = self.job_of(channel, ts)
        state, tweets = self.sent(job_id)
        try:
            media = json.dumps([a.as_job() for a in attachments(files)]) if files else ""
            problem = self._problem(user, after, bool(media))
        except MediaRefused as exc:
            media, problem = "", str(exc)
        text, offer = edit_answer(state, case.claimer == user, problem, self._links(tweets))
        if text is None:
            log.info(kv("edit.ignored", case=case.id, ts=ts, state=state.value))
            return
        if offer:
            job = self._offer(user, channel, ts, thread_ts, job_id, text)
        else:
            job = ("slack", {"id": f"ephemeral:{uuid.uuid4().hex}", "kind": "ephemeral", "channel": channel,
                             "user": user, "text": text, "thread_ts": thread_ts})
        text_key = f"{self.p}edit:{channel}:{ts}"

        def remember(pipe: redis.client.Pipeline) -> None:
            # The newest text wins: a click on an older offer sends what Slack shows now.
            pipe.hset(text_key, mapping={"text": after, "user": user, "thread_ts": thread_ts, "files": media})
            pipe.expire(text_key, KEEP)

        if self._once(f"edited:{channel}:{ts}:{edit_ts}", [job], remember):
            log.info(kv("edit.told", case=case.id, user=user, ts=ts, state=state.value, offer=offer))

    def _tell_dm_edit(self, user: str, channel: str, ts: str, thread_ts: str, edit_ts: str, state: Sent) -> None:
        if state is Sent.FAILED:
            text = "This direct message wasn't sent, so neither is the edit. Write the new text as a new message."
        else:  # X has no way to edit a sent DM
            text = ("A direct message can't be edited: the customer gets it as you first wrote it. "
                    "Send the correction as a new message.")
            if state is Sent.QUEUED:
                text += " To stop it before it goes out, delete your message."
        job = ephemeral_blocks_job(channel, user, text, thread_ts, [])
        if self._once(f"edited:{channel}:{ts}:{edit_ts}", [job]):
            log.info(kv("edit.told", user=user, ts=ts, state=state.value, dm=True))

    def _problem(self, user: str, text: str, with_media: bool = False) -> str | None:
        """Why ``text`` could not be tweeted as a reply ("note" for a note), or None."""
        if is_note(text, self.settings.replies.note_prefixes):
            return NOTE
        from bridge.desk.desk import plan  # not at the top: slack_to_x asks this module about cancels

        guard = privacy.review(text, self.settings)  # an edit must not get round the personal data guard
        if guard.message:
            return guard.message.removeprefix("Not tweeted: ")
        try:
            plan(text, user, self.settings, with_media)
        except (ReplyTooLong, EmptyReply) as exc:
            return str(exc)
        return None

    def _offer(self, user: str, channel: str, ts: str, thread_ts: str, job_id: str, text: str,
               ) -> tuple[str, dict]:
        button = {"type": "button", "action_id": RESEND_ACTION, "style": "danger",
                  "text": {"type": "plain_text", "text": "Delete the tweet and send the new text"},
                  "value": json.dumps({"channel": channel, "ts": ts, "job": job_id})}
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "block_id": "xdesk_edit", "elements": [button]}]
        return ephemeral_blocks_job(channel, user, text, thread_ts, blocks)

    def resend(self, user: str, value: str) -> None:
        """The author clicked "Delete the tweet and send the new text"."""
        try:
            ref = json.loads(value)
            channel, ts, old_job = str(ref["channel"]), str(ref["ts"]), str(ref["job"])
        except (ValueError, KeyError, TypeError):
            log.warning(kv("edit.bad_button", value=value[:200]))
            return
        edit = self.store.r.hgetall(f"{self.p}edit:{channel}:{ts}")
        if not edit:
            return
        thread_ts = edit["thread_ts"]
        case = self.desk._case_at(channel, thread_ts)
        if case is None:
            return
        if self.job_of(channel, ts) == DELETED:
            self.desk._push(("slack", {"id": f"ephemeral:{uuid.uuid4().hex}", "kind": "ephemeral", "channel": channel,
                                       "user": user, "text": "Nothing changed: that message was deleted in Slack.",
                                       "thread_ts": thread_ts}))
            return
        # Checked again: the newest edit (what would be sent) may be newer than the offer clicked.
        files = json.loads(edit.get("files") or "[]")
        problem = self._problem(user, edit["text"], bool(files))
        if user != edit["user"] or case.claimer != user or problem:
            why = ("only the reply's author can replace its tweet" if user != edit["user"] else
                   "you no longer hold this case. Claim it again to replace the tweet" if case.claimer != user else
                   "the text as it is now can't be tweeted" if problem == NOTE else
                   f"the text as it is now can't be tweeted: {problem}")
            self.desk._push(("slack", {"id": f"ephemeral:{uuid.uuid4().hex}", "kind": "ephemeral", "channel": channel,
                                       "user": user, "text": f"Nothing changed: {why}.", "thread_ts": thread_ts}))
            return
        new_job = f"reply:{channel}:{ts}:{uuid.uuid4().hex[:8]}"
        unsend = {"id": f"unsend:{old_job}", "kind": "unsend", "case": case.id, "reply_job": old_job, "user": user,
                  "why": "edit", "delete": True, "then": new_job}
        reply = {"id": new_job, "kind": "reply", "case": case.id, "channel": channel, "ts": ts, "user": user,
                 "text": edit["text"], **({"files": files} if files else {})}
        if self._switch(channel, ts, old_job, new_job, [("x", unsend), ("x", reply)]):
            log.info(kv("edit.resend", case=case.id, user=user, ts=ts, old=old_job, new=new_job))
        else:
            log.info(kv("edit.resend_duplicate", case=case.id, user=user, ts=ts, old=old_job))

    def _switch(self, channel: str, ts: str, old_job: str, new_job: str, jobs: list[tuple[str, dict]]) -> bool:
        """Make ``new_job`` the message's reply if ``old_job`` still is, with its jobs: exactly once."""
        first = f"reply:{channel}:{ts}"  # a message never replaced has no key yet
        return self.store.queue_once(f"{self.p}replyjob:{channel}:{ts}", jobs, value=new_job, ttl=KEEP,
                                     when=lambda current: (current or first) == old_job)

    # -- an agent deletes a thread message -------------------------------------------------------

    def deleted(self, author: str, channel: str, ts: str, thread_ts: str) -> None:
        case = self.desk._case_at(channel, thread_ts)
        if case is None:
            return
        dm_job = dm_job_of(channel, ts)
        if self.dm_sent(dm_job) in (Sent.QUEUED, Sent.TWEETED):
            # Ordered after the DM on the x lane: it says whether the DM was stopped or had gone.
            told = {"id": f"unsend:{dm_job}", "kind": "dm_deleted", "case": case.id, "reply_job": dm_job,
                    "user": author}
            if self._once(f"unsend:{dm_job}", [("x", told)],
                          lambda pipe: pipe.set(f"{self.p}cancel:{dm_job}", 1, ex=KEEP)):
                log.info(kv("reply.dm_deleted_in_slack", case=case.id, user=author, ts=ts))
            return
        job_id = self.job_of(channel, ts)
        state, _ = self.sent(job_id)
        if state in (Sent.NONE, Sent.FAILED):
            return
        delete = self.settings.replies.delete_on_slack_delete
        unsend = {"id": f"unsend:{job_id}", "kind": "unsend", "case": case.id, "reply_job": job_id, "user": author,
                  "why": "slack_delete", "delete": delete}

        def cancel(pipe: redis.client.Pipeline) -> None:
            # A deleted message has no reply left to replace: an older "send the new text" offer is void.
            pipe.set(f"{self.p}replyjob:{channel}:{ts}", DELETED, ex=KEEP)
            if delete and state is Sent.QUEUED:
                # The reply job checks this before each part: a reply not yet tweeted is never tweeted.
                pipe.set(f"{self.p}cancel:{job_id}", 1, ex=KEEP)

        if self._once(f"unsend:{job_id}", [("x", unsend)], cancel):
            log.info(kv("reply.deleted_in_slack", case=case.id, user=author, ts=ts, state=state.value, delete=delete))


def dm_job_of(channel: str, ts: str) -> str:
    return f"dm_reply:{channel}:{ts}"  # the id bridge/desk/dm_replies.py gives a DM reply's job


def cancelled(store: Store, job: dict, index: int | None) -> bool:
    """The reply was deleted in Slack before part ``index`` (None: a DM, sent whole) went out, and no
    attempt of it may have landed."""
    p = store.p
    if not store.r.exists(f"{p}cancel:{job['id']}"):
        return False
    # An attempt X refused (a 429, say) tweeted nothing: the reply can still be withdrawn.
    attempt = f"{p}attempt:{job['id']}" + (f":{index}" if index is not None else "")
    return not Attempts(store.r, attempt).may_have_landed()


class EditJobs:
    """The ``unsend`` job: delete a reply's tweets on X (or say they stay), then tell the thread."""

    def __init__(self, store: Store, x: XClient, settings: Settings, brand_username: str) -> None:
        self.store = store
        self.x = x
        self.settings = settings
        self.brand_username = brand_username

    def handlers(self) -> dict[str, Callable]:
        return {"unsend": self.unsend, "dm_deleted": self.dm_deleted}

    def dm_deleted(self, job: dict) -> Done:
        """A DM reply deleted in Slack: stopped if it had not gone out; X cannot unsend one that had."""
        case = self.store.case(job["case"])
        done = self.store.outbox.done(job["reply_job"])
        if case is None or not isinstance(done, dict) or not (done.get("cancelled") or done.get("dm")):
            return Done({"skipped": "nothing was sent"})
        who = f"<@{job['user']}>"
        if done.get("cancelled"):
            text = f"{who} deleted their message before it was sent, so no direct message went out."
        else:
            text = (f"{who} deleted their message in Slack. A direct message can't be unsent from here: "
                    "the customer still has it.")
        notice = {"id": f"notice:{job['id']}", "kind": "notice", "case": case.id, "text": text}
        return Done(True, [(f"post:{case.channel}", notice)])

    def unsend(self, job: dict) -> Done:
        case = self.store.case(job["case"])
        if case is None:
            return Done({"skipped": "case gone"})
        tweets: list[str] = self.store.r.lrange(f"{self.store.p}parts:{job['reply_job']}", 0, -1)
        links = " ".join(f"https://x.com/{self.brand_username}/status/{t}" for t in tweets)
        who = f"<@{job['user']}>"
        if job["why"] == "edit":
            did = f"{who} edited their reply, and a tweet can't be edited"
            after = " The new text is tweeted as a new reply."
        else:
            did = f"{who} deleted their reply in Slack"
            after = ""
        if self.settings.x.dry_run and job["delete"]:
            return self._tell(case, job, f"{did}. Dry run: its tweet would have been deleted on X"
                                         f"{f': {links}' if links else '.'}{after}", tweets)
        if not tweets:
            return self._tell(case, job, f"{did} before it was tweeted, so nothing was tweeted.", [])
        if not job["delete"]:
            return self._tell(case, job, f"{did}; its tweet stays on X ([replies] delete_on_slack_delete is off): "
                                         f"{links}", tweets)
        gone_key = f"{self.store.p}unsent:{job['reply_job']}"
        for tweet_id in tweets:
            if self.store.r.sismember(gone_key, tweet_id):
                continue  # deleted by an earlier attempt of this job
            try:
                self.x.delete_tweet(tweet_id)  # an already deleted tweet counts as deleted
            except RateLimited as exc:
                wait = max(1.0, exc.reset_at - time.time()) if exc.reset_at else backoff(2, 15)
                raise Retry(wait, exc.reason) from None
            except XError as exc:
                if exc.retryable:
                    raise Retry(backoff(1, 5), exc.reason) from None
                log.warning(kv("reply.delete_failed", case=case.id, tweet=tweet_id, reason=exc.reason))
                also = ""
                if job.get("then"):  # the new text must not join the old one on X
                    self.store.r.set(f"{self.store.p}cancel:{job['then']}", 1, ex=KEEP)
                    also = " The new text was not tweeted either."
                return self._tell(case, job, f"{did}, but its tweet could not be deleted on X: {exc.reason}. "
                                             f"Delete it in the X app: {links}.{also}", tweets)
            with self.store.r.pipeline(transaction=True) as pipe:
                pipe.sadd(gone_key, tweet_id)
                pipe.expire(gone_key, KEEP)
                pipe.execute()
            log.info(kv("reply.tweet_deleted", case=case.id, tweet=tweet_id, why=job["why"]))
        return self._tell(case, job, f"{did}, so its tweet was deleted on X: {links}.{after}", tweets)

    def _tell(self, case: Case, job: dict, text: str, tweets: list[str]) -> Done:
        notice = {"id": f"notice:{job['id']}", "kind": "notice", "case": case.id, "text": text}
        return Done({"tweets": tweets, "delete": job["delete"]}, [(f"post:{case.channel}", notice)])
