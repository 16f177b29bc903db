"""The outbox jobs the rooms queue for each other, and what an X error means for a job.

A job is a plain dict in a lane (:mod:`bridge.storage.outbox`); these builders are the one place
each kind's id and fields are spelled, so a retry of the same thing gets the same id.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from bridge.core.log import kv
from bridge.core.models import Case, CaseId, TweetId, tweet_url
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.storage.lanes import Attempts, Park, Retry
from bridge.storage.outbox import post_lane, slack_lane
from bridge.storage.store import Store
from bridge.x.client import RateBudget, RateLimited, XError, backoff

log = logging.getLogger(__name__)
T = TypeVar("T")

HOME_MARK_TTL = 60  # seconds: a refresh stuck longer than this (Slack down) lets the next one be queued
Lane = str
QueuedJob = tuple[Lane, dict]


def update_job(case: Case) -> QueuedJob:
    """Show the case's state on its parent again."""
    return slack_lane(case.channel), {"id": f"update:{case.id}:{uuid.uuid4().hex}", "kind": "update",
                                      "case": case.id}


def ephemeral_job(channel: str, user: str, text: str, thread_ts: str | None = None,
                  blocks: list[dict] | None = None) -> QueuedJob:
    """A message only ``user`` sees (at-least-once: Slack cannot find an ephemeral after the fact)."""
    job = {"id": f"ephemeral:{uuid.uuid4().hex}", "kind": "ephemeral", "channel": channel, "user": user,
           "text": text, "thread_ts": thread_ts}
    if blocks is not None:
        job["blocks"] = blocks
    return slack_lane(channel), job


def react_job(channel: str, ts: str, name: str) -> QueuedJob:
    return slack_lane(channel), {"id": f"react:{channel}:{ts}:{name}", "kind": "react", "channel": channel,
                                 "ts": ts, "name": name}


def refresh_home(store: Store, user: str) -> None:
    """Show ``user`` their App Home anew (their cases changed), once for a burst of changes: a refresh
    already queued and not yet begun covers this one too (bridge/desk/admin_home.py takes the mark)."""
    job = {"id": f"home:{user}:{uuid.uuid4().hex}", "kind": "home", "user": user}
    store.queue_once(store.keys.key("homequeued", user), [(slack_lane(f"home:{user}"), job)], ttl=HOME_MARK_TTL)


def notice_job(case: Case, key: str, text: str) -> QueuedJob:
    """A bridge notice in the case's thread, posted once per ``key``."""
    return post_lane(case.channel), {"id": f"notice:{key}", "kind": "notice", "case": case.id, "text": text}


def cancelled(store: Store, job: dict, index: int | None) -> bool:
    """The reply was deleted in Slack before part ``index`` (None: a DM, sent whole) went out, and no
    attempt of it may have landed."""
    if not store.r.exists(store.keys.cancel(job["id"])):
        return False
    # An attempt X refused (a 429, say) tweeted nothing: the reply can still be withdrawn.
    return not Attempts(store.r, store.keys.attempt(job["id"], index)).may_have_landed()


def retry_if_later(exc: XError, attempt: int = 1) -> None:
    """Leave the job for later when X may take it then (raise :class:`Retry`), or until an operator fixed
    what X's error needs (:class:`Park`); return when X said no for good.

    A rate limit waits for X's reset (``x-rate-limit-reset``), or backs off from 15 s when X gave none
    (https://docs.x.com/x-api/fundamentals/rate-limits); a 5xx or a lost answer is tried again in 5 s.
    """
    if exc.fix:  # no retry helps: after a few tries the lane waits for an operator
        raise Park(exc.reason, exc.fix) from None
    if isinstance(exc, RateLimited):
        wait = (exc.reset_at - time.time()) if exc.reset_at else backoff(attempt, 15)
        raise Retry(max(1.0, wait), exc.reason) from None
    if exc.retryable:
        raise Retry(backoff(1, 5), exc.reason) from None


def within_budget(store: Store, endpoint: str, budget_of: Callable[[str], RateBudget], send: Callable[[], T]) -> T:
    """One write to X (``send``) counted against the brand's budget for ``endpoint``, which every lane
    shares: when it is used up, :class:`RateLimited` until X's reset without asking X. X's headers in
    the answer (or in a 429) set the count again."""
    wait = store.x_budget.take(endpoint)
    if wait < 0:
        raise RateLimited(time.time() + 1, daily=False, reason="X's budget for this is being read; the bridge "
                          "tries again in a second")
    if wait > 0:
        raise RateLimited(time.time() + wait, daily=False)
    before = budget_of(endpoint)
    try:
        return send()
    finally:
        after = budget_of(endpoint)
        if after is not before:  # X answered (this call, or one beside it: as fresh either way)
            store.x_budget.seen(endpoint, after.remaining, after.reset_at)
        store.x_budget.sent(endpoint)


def parked_notice(park: Park, case: Case, job: dict, what: str) -> None:
    """Have the thread told, when the lane parks, that ``what`` (your reply) waits for an operator."""
    park.tell.append(notice_job(case, f"parked:{job['id']}", f"<@{job['user']}> {escape_mrkdwn(park.reason)}. "
                                f"{what} waits until an operator fixes this, then goes out once; nothing is lost."))


def gone_jobs(case: Case, tweet_id: TweetId, how: str = "deleted") -> list[QueuedJob]:
    """The parent update and the thread notice for a deleted customer tweet (ids fixed per tweet)."""
    what = "deleted their tweet" if how == "deleted" else "deleted their tweet (or hid it from the brand)"
    text = (f"The customer {what} on X ({tweet_url(case.customer.username, tweet_id)}), "
            "so it can no longer be answered there. A new tweet from them joins this case as usual.")
    return [
        (slack_lane(case.channel), {"id": f"update:custdel:{tweet_id}", "kind": "update", "case": case.id}),
        # Its text and media leave every other message that shows it: a follow-up, a moved copy.
        (slack_lane(case.channel), {"id": f"scrub:{tweet_id}", "kind": "scrub", "case": case.id, "tweet": tweet_id}),
        notice_job(case, f"custdel:{tweet_id}", text),
    ]


def mark_gone(store: Store, case_id: CaseId, tweet_id: TweetId, how: str = "deleted") -> bool:
    """Record that the customer deleted a tweet and queue what Slack shows, unless it was recorded before."""
    if not store.mark_customer_deleted(case_id, tweet_id, lambda case: gone_jobs(case, tweet_id, how)):
        return False
    log.info(kv("case.customer_deleted", case=case_id, tweet=tweet_id, how=how))
    return True
