"""Direct messages in Redis: a DM stored in its case, the ask for a DM, and the rule that sends a reply as a DM.

A customer's DM joins, in this order: the case that asked them for a DM (the ``ask_dm`` reaction),
else their open (not resolved) DM case, else it opens a new DM case, routed by topics like a tweet.
A DM is stored as a :class:`~bridge.core.models.Tweet` with ``direct=True`` (its id the DM event's id; X
draws DM event ids and post ids from one snowflake sequence), so the parent, follow-up and update
jobs show it like a tweet, minus the public link.

Keys (under ``xdesk:``), besides a case's ``tweet:`` and ``tweetdata:`` ones:

- ``dmask:<X user id>`` -> the case that asked this customer for a DM, until their DM joins it
- ``once:dm_ask:<case id>`` the case's ask for a DM is queued (it is asked once)
- ``dmcase:<X user id>`` -> the customer's latest case with a DM in it
- ``cursor:dms`` the newest DM event id stored; ``dmbacklog`` where an unfinished read resumes
- case hash fields ``kind`` ("dm" for a case a DM opened), ``dm_peer`` (the customer's X user id),
  ``dm_latest`` (their latest DM) and ``dm_tweet_mark`` (their latest tweet when that DM came)
"""

from __future__ import annotations

import redis

from bridge.core.models import Author, Case, CaseId, ChannelId, Tweet, UserId
from bridge.storage.figures import day_and_hour
from bridge.storage.scripts import INGEST_DM
from bridge.storage.store import Ingested, Outcome, Store, case_customer, tweet_json

ASK_TTL = 30 * 24 * 3600  # X keeps DM events for 30 days; an ask older than that is forgotten


class DmStore:
    """The DM side of :class:`~bridge.storage.store.Store`: same Redis, same prefix, its own scripts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.r, self.p, self.keys = store.r, store.p, store.keys
        self._ingest = self.r.register_script(INGEST_DM)

    def ingest(self, dm: Tweet, channel: ChannelId, topic: str | None) -> Ingested:
        """Store a customer's DM in its case and queue what Slack must show, in one atomic step."""
        now = self.store.clock()
        args = [self.p, dm.id, tweet_json(dm), dm.author.id, channel, topic or "",
                case_customer(dm.author), repr(now), *day_and_hour(now, self.store.zone())]
        outcome, case_id, case_channel = self._ingest(args=args)
        return Ingested(Outcome(outcome), CaseId(case_id), ChannelId(case_channel))

    def record_ask(self, case_id: CaseId, customer: UserId, pipe: redis.client.Pipeline | None = None) -> None:
        """The customer's next DM joins this case."""
        (pipe or self.r).set(self.keys.dm_ask(customer), case_id, ex=ASK_TTL)

    def latest_dm(self, case_id: CaseId) -> str:
        return self.r.hget(self.keys.case(case_id), "dm_latest") or ""

    def is_dm_case(self, case_id: CaseId) -> bool:
        return self.r.hget(self.keys.case(case_id), "kind") == "dm"

    def ask_once_key(self, case_id: str) -> str:
        """Taken when the case's ask for a DM is queued: a case is asked once."""
        return self.keys.key("once", "dm_ask", case_id)

    def asked_customer(self, case: Case) -> Author:
        """Who is asked: the author of the tweet the ask replies to (in a conversation, maybe not the case's
        first customer)."""
        latest = self.store.tweet(case.latest_customer_tweet)
        return latest.author if latest else case.customer


def dm_recipient(store: Store, case_id: CaseId) -> UserId | None:
    """To whom the case's next reply goes as a direct message; None: it is tweeted.

    The one place this is decided (the personal-data guard of public replies does not apply to a DM).
    The rule: a case a DM opened is always answered by DM. A public case the customer has DM'd into
    is answered by DM while their latest message in it is a DM, that is while no tweet of theirs joined
    the case after their latest DM; once one did, the reply is tweeted again.
    """
    peer, mark, latest = store.r.hmget(store.keys.case(case_id), "dm_peer", "dm_tweet_mark",
                                       "latest_customer_tweet")
    return UserId(peer) if peer and mark == latest else None
