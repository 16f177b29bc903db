"""A customer deletes their tweet: the deletion watch and a refused reply mark the case, once."""

from __future__ import annotations

import json

import pytest
import redis

from bridge.core.models import Author, Case, CaseId, ChannelId, SlackUserId, Tweet, TweetId, UserId
from bridge.core.settings import Environment
from bridge.intake.deletions import DeletionWatch
from bridge.slack.blocks import parent_blocks
from bridge.storage.store import Store
from bridge.x.client import XClient
from tests.harness import ANNA, GENERAL, X_KEYS, Desk, block_text, claimed_case, drained, notices


def queued_ids(store: Store) -> list[str]:
    return [json.loads(raw)["id"] for lane in store.outbox.lanes()
            for raw in store.r.lrange(f"{store.p}lane:{lane}", 0, -1)]


QUICK_WATCH = "\n[privacy]\ndeleted_check_interval = 0.2\n"


def test_a_customer_deleting_their_tweet_shows_on_the_parent_with_one_notice(make_desk) -> None:
    desk = make_desk(QUICK_WATCH)
    customer, parent = claimed_case(desk)
    desk.x.delete_tweet(customer)

    desk.wait_for(lambda: "customer deleted this tweet" in desk.parent_text(parent))
    desk.wait_for(lambda: bool(notices(desk, parent, "The customer deleted their tweet")))
    lookups = sum(1 for r in desk.x.requests if r.path == "/2/tweets")
    # Rounds after the first find nothing new to look up: a second case keeps the loop asking X.
    other = desk.tweet("@Telekom_hilft another question", author="kunde_karl")
    desk.parent_of(other)
    desk.x.wait_for(lambda: sum(1 for r in desk.x.requests if r.path == "/2/tweets") >= lookups + 3)
    drained(desk)
    [told] = notices(desk, parent, "The customer deleted their tweet")
    assert f"https://x.com/kunde_klaus/status/{customer}" in told
    assert "customer deleted" not in desk.parent_text(desk.parent_of(other))


def test_a_reply_to_a_deleted_tweet_marks_the_case_once(desk: Desk) -> None:
    customer, parent = claimed_case(desk)
    desk.x.delete_tweet(customer)
    first = desk.reply(ANNA, parent, "Are you still there?")
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], first))
    desk.reply(ANNA, parent, "Hello?")
    desk.wait_for(lambda: len(notices(desk, parent, "Not tweeted")) == 2)
    desk.wait_for(lambda: "customer deleted this tweet" in desk.parent_text(parent))
    drained(desk)
    assert len(notices(desk, parent, "The customer deleted their tweet")) == 1
    assert desk.x.posted == []


def test_the_deletion_watch_asks_x_a_hundred_ids_at_a_time_and_marks_each_case_once(
        x_emu, redis_url: str) -> None:
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    x = XClient(Environment.from_environ({"X_API_URL": x_emu.url, "X_API_KEY": X_KEYS["consumer_key"],
                                          "X_API_SECRET": X_KEYS["consumer_secret"],
                                          "X_ACCESS_TOKEN": X_KEYS["access_token"],
                                          "X_ACCESS_TOKEN_SECRET": X_KEYS["access_token_secret"]}))
    customer = Author(id=UserId("42"), username="kunde_klaus", name="Klaus")
    ids = [x_emu.add_tweet(f"@Telekom_hilft question {i}", "kunde_klaus") for i in range(150)]
    for tweet_id in ids:
        store.ingest(Tweet(id=TweetId(tweet_id), text="q", author=customer), ChannelId(GENERAL), None, True)
    resolved = store.case_of_tweet(TweetId(ids[5]))
    assert resolved is not None and store.resolve(resolved, SlackUserId(ANNA))
    for gone in (ids[0], ids[5], ids[120]):
        x_emu.delete_tweet(gone)
    watch = DeletionWatch(store, x, interval=0.01)

    watch.check_once()
    lookups = [r for r in x_emu.requests if r.path == "/2/tweets"]
    # Every stored tweet is looked at, a resolved case's too: what X no longer shows must leave the desk.
    assert sorted(len(r.query["ids"].split(",")) for r in lookups) == [50, 100]
    marked = {t for t in ids if (store.case(store.case_of_tweet(TweetId(t))).extra.get("customer_deleted"))}
    assert marked == {ids[0], ids[5], ids[120]}
    queued = queued_ids(store)
    assert sorted(j for j in queued if "custdel" in j) == sorted(
        f"{kind}:custdel:{t}" for t in (ids[0], ids[5], ids[120]) for kind in ("update", "notice"))
    assert store.tweet(TweetId(ids[5])).text == ""  # type: ignore[union-attr]  # its text left Redis at once

    store.r.delete("xdesk:deletions:turn")  # the next round's turn, without waiting for it
    watch.check_once()
    assert sorted(queued_ids(store)) == sorted(queued)  # nothing queued twice
    assert [len(r.query["ids"].split(",")) for r in x_emu.requests if r.path == "/2/tweets"][2:] == [100, 47]


@pytest.mark.parametrize(("deleted", "latest", "shown"), [
    ("1", "1", "The customer deleted this tweet on X"),
    ("1", "3", "The customer deleted this tweet on X"),
    ("2", "2", "The customer deleted their latest tweet on X"),
    ("2", "3", None),  # a follow-up deleted before the customer wrote again: only the thread tells it
    (None, "3", None),
])
def test_what_the_parent_says_of_a_deleted_customer_tweet(deleted: str | None, latest: str, shown: str | None,
                                                          ) -> None:
    customer = Author(id=UserId("42"), username="kunde_klaus", name="Klaus")
    case = Case(id=CaseId("7"), channel=ChannelId(GENERAL), topic=None, first_tweet=TweetId("1"),
                latest_customer_tweet=TweetId(latest), customer=customer,
                extra={"customer_deleted": deleted} if deleted else {})
    first = Tweet(id=TweetId("1"), text="help", author=customer)
    blocks, _ = parent_blocks(case, first, brand_username="Telekom_hilft")
    text = block_text(blocks)
    assert (shown in text) if shown else ("customer deleted" not in text)


def test_a_deleted_tweet_leaves_slack_and_redis_its_text_and_media_and_a_reply_still_works(make_desk) -> None:
    desk = make_desk(QUICK_WATCH)
    first = desk.tweet("@Telekom_hilft my router shows error 0x55", media=[("photo", "https://pbs.twimg.com/media/err55.jpg")])
    parent = desk.parent_of(first)
    later = desk.tweet("@Telekom_hilft and my PIN is 1234", in_reply_to=first)
    desk.wait_for(lambda: any("PIN is 1234" in block_text(m.get("blocks") or []) for m in desk.thread(parent)))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))

    def everywhere() -> str:
        slack = json.dumps([desk.slack.message(parent["channel"], parent["ts"]), desk.thread(parent)])
        r = desk.rt.redis
        stored = " ".join(str(r.get(k)) for k in r.scan_iter("xdesk:tweetdata:*"))
        return slack + stored

    assert "PIN is 1234" in everywhere() and "err55.jpg" in everywhere()
    desk.x.delete_tweet(later)
    desk.x.delete_tweet(first)
    desk.wait_for(lambda: "PIN is 1234" not in everywhere() and "error 0x55" not in everywhere(), timeout=20)
    assert "err55.jpg" not in everywhere()
    assert "The customer deleted this tweet on X." in json.dumps(desk.thread(parent))
    drained(desk)
    desk.reply(ANNA, parent, "Sorry to see you go")  # answering the case still works as before
    desk.wait_for(lambda: bool(notices(desk, parent, "Not tweeted")) or bool(desk.x.posted))
