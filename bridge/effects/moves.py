"""Moving a case to another topic's channel: the new thread, its history, and the old thread's pointer.

The move itself is one Lua script (:data:`bridge.storage.scripts.MOVE`): it points the case at the new
channel (no parent yet) and queues, in the new channel's post lane, a new ``parent`` job and then a ``move_history``
job. Later customer tweets join the same lane behind them, so they land after the history. The
history job re-posts the old thread (follow-up tweets as tweets, everyone else's messages as bot
posts naming who wrote them, their text inert), one message at a time through
``SlackPosting.post_once``: a crash mid-move neither loses nor doubles a message. It then queues
the old parent's "Moved to" update and a notice in the old thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace

from bridge.core.log import kv
from bridge.core.models import Case, CaseId, TweetId
from bridge.effects.slack_posts import SlackPosting, job_error
from bridge.slack.blocks import (
    Block,
    escape_mrkdwn,
    followup_blocks,
    notice_blocks,
    parent_blocks,
    parse_block_id,
)
from bridge.slack.client import SlackError
from bridge.storage.lanes import Done, PermanentFailure, Retry
from bridge.storage.outbox import post_lane, slack_lane

log = logging.getLogger(__name__)




class CaseMoves:
    """The worker's jobs of a move."""

    def __init__(self, posting: SlackPosting) -> None:
        self.posting = posting
        self.store = posting.store
        self.slack = posting.slack

    def handlers(self) -> dict[str, Callable]:
        return {"move_history": self.history, "moved_away": self.moved_away, "thread_notice": self.thread_notice}

    def _case(self, case_id: str) -> Case:
        case = self.store.case(CaseId(case_id))
        if case is None:
            raise PermanentFailure(f"case {case_id} is not stored")
        return case

    def history(self, job: dict) -> Done:
        case = self._case(job["case"])
        if not case.parent_ts:
            if self.store.outbox.done(job.get("parent_job", "")) is not None:
                raise PermanentFailure(f"the new parent of case {case.id} was not posted")  # dead-lettered
            raise Retry(5.0, f"the new parent of case {case.id} is not recorded yet")
        items = self._snapshot(job)
        done_key = self.store.keys.move_progress(job['id'])
        start = int(self.store.r.get(done_key) or 0)
        thread = case.parent_ts
        for index in range(start, len(items)):
            # In order, at Slack's pace: post_once raises NotYet when the channel must wait, and the
            # job goes on from here (done_key) when it may.
            render = self._render(items[index])
            sub = {"id": f"{job['id']}:{index}"}
            # A copy carries what it copies, so that moving the case again copies the original.
            self._post(sub, case.channel, render, case.id, thread, extra=items[index])
            self.store.r.set(done_key, index + 1, ex=14 * 24 * 3600)
        old = self.posting.history.permalink(replace(case, channel=job["from_channel"], parent_ts=job["from_ts"]))
        new = self.posting.history.permalink(case) or ""
        who = f"<@{job['actor']}>"
        came = f"Moved here from <#{job['from_channel']}> by {who}" + (f": <{old}|the old thread>" if old else ".")
        self._post({"id": f"{job['id']}:here"}, case.channel, lambda images=True: notice_blocks(came), case.id, thread)
        log.info(kv("case.moved", case=case.id, channel=case.channel, ts=thread, copied=len(items),
                    from_channel=job["from_channel"]))
        base = {"case": case.id, "channel": job["from_channel"], "ts": job["from_ts"], "to": case.channel,
                "link": new, "actor": job["actor"]}
        went = f"{who} moved this case to <#{case.channel}>" + (f": <{new}|continue in its new thread>" if new else ".")
        return Done({"copied": len(items)}, [
            (slack_lane(job["from_channel"]), {**base, "id": f"movedaway:{job['id']}", "kind": "moved_away"}),
            (post_lane(job["from_channel"]), {**base, "id": f"movednotice:{job['id']}", "kind": "thread_notice",
                                             "text": went}),
        ])

    def _snapshot(self, job: dict) -> list[dict]:
        """The old thread as it was when the case moved, read once and kept for the job's retries."""
        key = self.store.keys.move_snapshot(job['id'])
        raw = self.store.r.get(key)
        if raw:
            return list(json.loads(raw))
        try:
            messages = self.slack.replies(job["from_channel"], job["from_ts"])
        except SlackError as exc:
            raise job_error(exc) from None
        names: dict[str, str] = {}
        items: list[dict] = []
        for message in messages:
            if message.get("ts") == job["from_ts"] or float(message.get("ts", 0)) > float(job["moved_at"]):
                continue
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if message.get("bot_id") and payload.get("tweet_id") and self.store.tweet(TweetId(payload["tweet_id"])):
                items.append({"tweet": payload["tweet_id"]})
            elif message.get("bot_id") and "copy_who" in payload:
                items.append({"who": payload["copy_who"], "text": payload.get("copy_text", "")})
            elif message.get("bot_id"):
                items.append({"who": "xdesk", "text": message.get("text", "")})
            else:
                user = str(message.get("user", ""))
                if user not in names:
                    try:
                        names[user] = self.slack.user_name(user)
                    except SlackError:
                        names[user] = user
                items.append({"who": names[user], "text": message.get("text", "")})
        self.store.r.set(key, json.dumps(items), ex=14 * 24 * 3600)
        return items

    def _render(self, item: dict) -> Callable[..., tuple[list[Block], str]]:
        if "tweet" in item:
            tweet = self.store.tweet(TweetId(item["tweet"]))
            if tweet is not None:
                return lambda images=True: followup_blocks(tweet, images=images)
        said = f"*{escape_mrkdwn(item.get('who', ''))}* wrote:\n{escape_mrkdwn(item.get('text', '')) or '…'}"
        return lambda images=True: notice_blocks(said)

    def moved_away(self, job: dict) -> Done:
        """The old parent keeps the tweet and says where the case went; its buttons and status go."""
        case = self._case(job["case"])
        tweet = self.store.tweet(case.first_tweet)
        if tweet is None:
            raise PermanentFailure(f"tweet {case.first_tweet} of case {case.id} is not stored")
        blocks, _ = parent_blocks(case, tweet, brand_username=self.posting.brand.username)
        where = f"\u27a1\ufe0f Moved to <#{job['to']}>"
        if job["link"]:
            where += f": <{job['link']}|open the case there>"
        for block in blocks:
            ref = parse_block_id(block.get("block_id", ""))
            if ref is not None and ref.kind == "status":
                # The link to X stays; the status and topic are the new thread's now.
                links = [e for e in block["elements"] if e["text"].startswith("<https://x.com/")]
                block["elements"] = [*links, {"type": "mrkdwn", "text": where, "verbatim": True}]
        try:
            self.slack.update(job["channel"], job["ts"], "This case moved to another channel.", blocks)
        except SlackError as exc:
            if exc.error == "message_not_found":
                return Done({"skipped": exc.error})  # the old parent was deleted: nothing to point from
            raise job_error(exc) from None
        return Done(True)

    def thread_notice(self, job: dict) -> Done:
        ts = self._post(job, job["channel"], lambda images=True: notice_blocks(job["text"]), job["case"], job["ts"])
        return Done({"ts": ts})

    def _post(self, job: dict, channel: str, render: Callable, case_id: str, thread_ts: str,
              extra: dict | None = None) -> str:
        """One post through ``SlackPosting.post_once``, whose reconciliation makes it exactly once."""
        try:
            payload = {"case_id": case_id}
            if extra and "tweet" in extra:
                payload["tweet_id"] = extra["tweet"]
            elif extra:
                payload.update(copy_who=extra.get("who", ""), copy_text=extra.get("text", ""))
            return self.posting.post_once(job, channel, render, payload=payload, thread_ts=thread_ts)
        except SlackError as exc:
            raise job_error(exc) from None
