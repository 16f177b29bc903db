"""The earlier cases a parent lists, read from the store (no Slack call for a case not posted yet)."""

from __future__ import annotations

import redis

from bridge.core.models import Author, ChannelId, SlackTs, Tweet, TweetId, UserId
from bridge.effects.case_history import CaseHistory
from bridge.storage.store import Store


class NoSlack:
    def permalink(self, channel: str, ts: str) -> str:
        return f"https://xdesk.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def test_an_earlier_case_not_posted_yet_is_listed_without_a_link(redis_url: str) -> None:
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    klaus = Author(id=UserId("42"), username="klaus", name="Klaus")
    cases = [store.ingest(Tweet(id=TweetId(str(100 + n)), text=f"case {n}", author=klaus,
                                conversation_id=TweetId(str(100 + n)), created_at="2026-11-03T10:00:00.000Z"),
                          ChannelId("C0GENERAL1"), None, True).case_id for n in range(3)]
    store.ingest(Tweet(id=TweetId("999"), text="other", author=Author(id=UserId("7"), username="o", name="O")),
                 ChannelId("C0GENERAL1"), None, True)
    store.set_parent(cases[0], ChannelId("C0GENERAL1"), SlackTs("1700000000.000100"))
    history = CaseHistory(store, NoSlack())  # type: ignore[arg-type]
    third = store.case(cases[2])
    assert third is not None
    shown, total = history.earlier(third)
    assert total == 2
    assert shown == [
        (f"case {cases[1]} of 3 Nov 2026 (open)", None),
        (f"case {cases[0]} of 3 Nov 2026 (open)", "https://xdesk.slack.com/archives/C0GENERAL1/p1700000000000100"),
    ]
