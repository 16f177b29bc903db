"""What a case's parent shows besides the tweet: the customer's earlier cases, and the case's buttons.

The store keeps every customer's case ids in ingest order (``customers:``, bridge/storage/keys.py, written by the
same atomic script that opens a case). A parent links the latest few earlier cases to their Slack
parents; a permalink is asked of Slack once (https://docs.slack.dev/reference/methods/chat.getPermalink)
and kept in Redis. An earlier case whose parent is not posted yet is listed without a link.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bridge.core.log import kv
from bridge.core.models import Case, CaseId, CaseStatus, Tweet
from bridge.slack.blocks import Block, block_id, case_actions_block, history_block
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.store import Store

log = logging.getLogger(__name__)

MAX_SHOWN = 5
PERMALINK_TTL = 30 * 24 * 3600


class CaseHistory:
    def __init__(self, store: Store, slack: SlackPort) -> None:
        self.store = store
        self.slack = slack

    def earlier(self, case: Case) -> tuple[list[tuple[str, str | None]], int]:
        """The latest earlier cases of the customer as (label, link), newest first, and how many there are."""
        ids = (self.store.r.hget(*self.store.keys.customer(case.customer.id)) or "").split()
        earlier = [CaseId(i) for i in ids if int(i) < int(case.id)]
        shown: list[tuple[str, str | None]] = []
        for case_id in reversed(earlier[-MAX_SHOWN:]):
            other = self.store.case(case_id)
            if other is not None:
                shown.append((self._label(other), self.permalink(other)))
        return shown, len(earlier)

    def blocks(self, case: Case, tweet: Tweet) -> list[Block]:
        """The blocks added under the parent's status: earlier cases (if any), then the buttons."""
        shown, total = self.earlier(case)
        history = [history_block(shown, total, block_id("history", tweet.id, case.id))] if total else []
        return [*history, case_actions_block(case.id, block_id("actions", tweet.id, case.id))]

    def permalink(self, case: Case) -> str | None:
        if not case.parent_ts:
            return None
        key = self.store.keys.permalink(case.channel, case.parent_ts)
        link = self.store.r.get(key)
        if link:
            return str(link)
        try:
            link = self.slack.permalink(case.channel, case.parent_ts)
        except SlackError as exc:
            log.warning(kv("slack.permalink_failed", case=case.id, channel=case.channel, error=exc.error))
            return None  # shown without a link this time
        self.store.r.set(key, link, ex=PERMALINK_TTL)
        return link

    def _label(self, case: Case) -> str:
        tweet = self.store.tweet(case.first_tweet)
        when = ""
        if tweet is not None and tweet.created_at:
            try:
                when = " of " + datetime.fromisoformat(tweet.created_at.replace("Z", "+00:00")).strftime("%-d %b %Y")
            except ValueError:
                when = ""
        status = {CaseStatus.RESOLVED: "resolved", CaseStatus.CLAIMED: "claimed"}.get(case.status, "open")
        return f"case {case.id}{when} ({status})"
