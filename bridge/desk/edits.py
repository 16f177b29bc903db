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
import uuid
from collections.abc import Callable
from enum import StrEnum

import redis

from bridge.core.log import kv
from bridge.core.models import tweet_url
from bridge.core.reply_check import check_reply
from bridge.core.settings import Settings
from bridge.desk.desk import Desk
from bridge.effects.edits import KEEP
from bridge.effects.jobs import ephemeral_job
from bridge.storage.outbox import x_lane
from bridge.storage.store import Store

log = logging.getLogger(__name__)

RESEND_ACTION = "xdesk_edit_resend"  # the button's action_id
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


class Edits:
    """Decides, from Slack's edit, delete and button events, what happens on X; only queues jobs."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.store: Store = desk.store
        self.settings: Settings = desk.settings
        self.keys = desk.store.keys

    # -- what the bridge knows of a Slack message ------------------------------------------------

    def job_of(self, channel: str, ts: str) -> str:
        return self.store.r.get(self.keys.reply_job(channel, ts)) or f"reply:{channel}:{ts}"

    def sent(self, job_id: str, case_id: str) -> tuple[Sent, list[str]]:
        parts: list[str] = self.store.r.lrange(self.keys.parts(job_id), 0, -1)
        done = self.store.outbox.done(job_id)
        if done is None:
            queued = parts or self.store.outbox.holds(x_lane(case_id), job_id)
            return (Sent.QUEUED if queued else Sent.NONE), parts
        tweets = list(done.get("tweets") or parts) if isinstance(done, dict) else parts
        dry = isinstance(done, dict) and bool(done.get("dry_run"))  # shown as tweeted, so treated as tweeted
        return (Sent.TWEETED if tweets or dry else Sent.FAILED), tweets

    def dm_sent(self, job_id: str, case_id: str) -> Sent:
        """Whether the message went (or goes) out as a direct message: bridge/desk/dm_replies.py's job."""
        done = self.store.outbox.done(job_id)
        if done is None:
            queued = self.store.outbox.holds(x_lane(case_id), job_id)
            return Sent.QUEUED if queued else Sent.NONE
        return Sent.TWEETED if isinstance(done, dict) and (done.get("dm") or done.get("dry_run")) else Sent.FAILED

    def _links(self, tweets: list[str]) -> str:
        brand = self.store.r.hget(self.store.keys.brand, "username") or "i"  # x.com/i/status/<id> works for any
        return " ".join(tweet_url(brand, t) for t in tweets)

    def _once(self, key: str, jobs: list[tuple[str, dict]], also: Callable[[redis.client.Pipeline], None] | None = None,
              ) -> bool:
        """Queue ``jobs`` unless ``key`` was taken before (Slack retries, double clicks, twins)."""
        return self.store.queue_once(self.store.keys.key(key), jobs, also=also)

    # -- an agent edits a thread message ---------------------------------------------------------

    def changed(self, user: str, channel: str, ts: str, thread_ts: str, before: str, after: str, edit_ts: str,
                files: list[dict] | None = None) -> None:
        """``files``: the Slack file objects the message carries (a reply with media keeps them)."""
        if before == after:
            return  # an unfurl or an attachment change, not an edit of the words
        case = self.desk.case_at(channel, thread_ts)
        if case is None:
            return
        if (dm := self.dm_sent(dm_job_of(channel, ts), case.id)) is not Sent.NONE:
            self._tell_dm_edit(user, channel, ts, thread_ts, edit_ts, dm)
            return
        job_id = self.job_of(channel, ts)
        state, tweets = self.sent(job_id, case.id)
        checked = check_reply(after, user, self.settings, files or None)  # an edit keeps the files it has
        problem = NOTE if checked.note else checked.problem
        media = json.dumps([a.as_job() for a in checked.media]) if checked.media else ""
        text, offer = edit_answer(state, case.claimer == user, problem, self._links(tweets))
        if text is None:
            log.info(kv("edit.ignored", case=case.id, ts=ts, state=state.value))
            return
        if offer:
            job = self._offer(user, channel, ts, thread_ts, job_id, text)
        else:
            job = ephemeral_job(channel, user, text, thread_ts)
        text_key = self.keys.edit(channel, ts)

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
        job = ephemeral_job(channel, user, text, thread_ts, [])
        if self._once(f"edited:{channel}:{ts}:{edit_ts}", [job]):
            log.info(kv("edit.told", user=user, ts=ts, state=state.value, dm=True))

    def _offer(self, user: str, channel: str, ts: str, thread_ts: str, job_id: str, text: str,
               ) -> tuple[str, dict]:
        button = {"type": "button", "action_id": RESEND_ACTION, "style": "danger",
                  "text": {"type": "plain_text", "text": "Delete the tweet and send the new text"},
                  "value": json.dumps({"channel": channel, "ts": ts, "job": job_id})}
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "block_id": "xdesk_edit", "elements": [button]}]
        return ephemeral_job(channel, user, text, thread_ts, blocks)

    def resend(self, user: str, value: str) -> None:
        """The author clicked "Delete the tweet and send the new text"."""
        try:
            ref = json.loads(value)
            channel, ts, old_job = str(ref["channel"]), str(ref["ts"]), str(ref["job"])
        except (ValueError, KeyError, TypeError):
            log.warning(kv("edit.bad_button", value=value[:200]))
            return
        edit = self.store.r.hgetall(self.keys.edit(channel, ts))
        if not edit:
            return
        thread_ts = edit["thread_ts"]
        case = self.desk.case_at(channel, thread_ts)
        if case is None:
            return
        if self.job_of(channel, ts) == DELETED:
            self.store.queue(ephemeral_job(channel, user, "Nothing changed: that message was deleted in Slack.",
                                           thread_ts))
            return
        # Checked again: the newest edit (what would be sent) may be newer than the offer clicked.
        files = json.loads(edit.get("files") or "[]")
        checked = check_reply(edit["text"], user, self.settings, with_media=bool(files))
        problem = NOTE if checked.note else checked.problem
        if user != edit["user"] or case.claimer != user or problem:
            why = ("only the reply's author can replace its tweet" if user != edit["user"] else
                   "you no longer hold this case. Claim it again to replace the tweet" if case.claimer != user else
                   "the text as it is now can't be tweeted" if problem == NOTE else
                   f"the text as it is now can't be tweeted: {problem}")
            self.store.queue(ephemeral_job(channel, user, f"Nothing changed: {why}.", thread_ts))
            return
        new_job = f"reply:{channel}:{ts}:{uuid.uuid4().hex[:8]}"
        unsend = {"id": f"unsend:{old_job}", "kind": "unsend", "case": case.id, "reply_job": old_job, "user": user,
                  "why": "edit", "delete": True, "then": new_job}
        reply = {"id": new_job, "kind": "reply", "case": case.id, "channel": channel, "ts": ts, "user": user,
                 "text": edit["text"], **({"files": files} if files else {})}
        if self._switch(channel, ts, old_job, new_job, [(x_lane(case.id), unsend), (x_lane(case.id), reply)]):
            log.info(kv("edit.resend", case=case.id, user=user, ts=ts, old=old_job, new=new_job))
        else:
            log.info(kv("edit.resend_duplicate", case=case.id, user=user, ts=ts, old=old_job))

    def _switch(self, channel: str, ts: str, old_job: str, new_job: str, jobs: list[tuple[str, dict]]) -> bool:
        """Make ``new_job`` the message's reply if ``old_job`` still is, with its jobs: exactly once."""
        first = f"reply:{channel}:{ts}"  # a message never replaced has no key yet
        return self.store.queue_once(self.keys.reply_job(channel, ts), jobs, value=new_job, ttl=KEEP,
                                     when=lambda current: (current or first) == old_job)

    # -- an agent deletes a thread message -------------------------------------------------------

    def deleted(self, author: str, channel: str, ts: str, thread_ts: str) -> None:
        case = self.desk.case_at(channel, thread_ts)
        if case is None:
            return
        dm_job = dm_job_of(channel, ts)
        if self.dm_sent(dm_job, case.id) in (Sent.QUEUED, Sent.TWEETED):
            # Ordered after the DM on the x lane: it says whether the DM was stopped or had gone.
            told = {"id": f"unsend:{dm_job}", "kind": "dm_deleted", "case": case.id, "reply_job": dm_job,
                    "user": author}
            if self._once(f"unsend:{dm_job}", [(x_lane(case.id), told)],
                          lambda pipe: pipe.set(self.keys.cancel(dm_job), 1, ex=KEEP)):
                log.info(kv("reply.dm_deleted_in_slack", case=case.id, user=author, ts=ts))
            return
        job_id = self.job_of(channel, ts)
        state, _ = self.sent(job_id, case.id)
        if state in (Sent.NONE, Sent.FAILED):
            return
        delete = self.settings.replies.delete_on_slack_delete
        unsend = {"id": f"unsend:{job_id}", "kind": "unsend", "case": case.id, "reply_job": job_id, "user": author,
                  "why": "slack_delete", "delete": delete}

        def cancel(pipe: redis.client.Pipeline) -> None:
            # A deleted message has no reply left to replace: an older "send the new text" offer is void.
            pipe.set(self.keys.reply_job(channel, ts), DELETED, ex=KEEP)
            if delete and state is Sent.QUEUED:
                # The reply job checks this before each part: a reply not yet tweeted is never tweeted.
                pipe.set(self.keys.cancel(job_id), 1, ex=KEEP)

        if self._once(f"unsend:{job_id}", [(x_lane(case.id), unsend)], cancel):
            log.info(kv("reply.deleted_in_slack", case=case.id, user=author, ts=ts, state=state.value, delete=delete))


def dm_job_of(channel: str, ts: str) -> str:
    return f"dm_reply:{channel}:{ts}"  # the id bridge/desk/dm_replies.py gives a DM reply's job
