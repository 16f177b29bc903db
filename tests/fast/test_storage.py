"""What a case keeps in Redis: every field of its tweets and customer, and nothing at its default."""

from __future__ import annotations

import pytest
import redis

from bridge.core.models import Author, ChannelId, Media, Tweet, TweetId, UserId
from bridge.storage.store import Store


def test_a_stored_tweet_comes_back_whole_and_is_kept_without_its_defaults(redis_url: str) -> None:
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    quiet = Author(UserId("7"), "kunde_klaus", "Klaus", 0)  # no followers, no picture: all defaults
    full = Tweet(TweetId("12"), "@Telekom_hilft ✓ photo", Author(UserId("8"), "k2", "K 2", 42, "https://p/k.jpg"),
                 TweetId("11"), replied_to=TweetId("11"), lang="de", created_at="2026-12-02T10:00:00.000Z",
                 media=(Media("3_1", "photo", "https://pbs/x.jpg", "a router"),), mentions=("telekom_hilft",))
    bare = Tweet(TweetId("20"), "@Telekom_hilft help", quiet, TweetId("20"))
    for tweet in (full, bare):
        store.ingest(tweet, ChannelId("C0DSLTEAM1"), None, True)
        assert store.tweet(tweet.id) == tweet
    raw = store.r.get(store.keys.tweetdata("20"))
    assert raw == '{"id":"20","text":"@Telekom_hilft help","author":{"id":"7","username":"kunde_klaus",' \
                  '"name":"Klaus"},"conversation_id":"20"}'
    case = store.case(store.case_of_tweet(TweetId("20")))  # type: ignore[arg-type]
    assert case is not None and case.customer == quiet


def test_a_case_hash_stays_compact_however_long_the_customers_picture_url(redis_url: str) -> None:
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    picture = "https://pbs.twimg.com/profile_images/1790000000000000001/AbCdEfGh_normal.jpg"
    customer = Author(UserId("1000000006"), "kunde_klaus", "Klaus Kunde", 1234, picture)
    store.ingest(Tweet(TweetId("30"), "@Telekom_hilft help", customer, TweetId("30")), ChannelId("C0DSLTEAM1"),
                 None, True)
    case_id = store.case_of_tweet(TweetId("30"))
    # Compact: a listpack (Redis 7; a ziplist in Redis 6), not a hashtable.
    assert store.r.object("encoding", store.keys.case(case_id)) in ("listpack", "ziplist")  # type: ignore[arg-type]
    case = store.case(case_id)  # type: ignore[arg-type]
    assert case is not None and (case.customer.username, case.customer.name) == ("kunde_klaus", "Klaus Kunde")
    assert store.tweet(TweetId("30")).author == customer  # type: ignore[union-attr]


def test_xs_budget_is_shared_and_a_late_answer_does_not_give_back_writes_already_taken(redis_url: str) -> None:
    import time

    from bridge.storage.limits import TWEETS

    budget = Store(redis.Redis.from_url(redis_url, decode_responses=True)).x_budget
    reset = float(int(time.time()) + 900)
    assert budget.take(TWEETS) == 0  # nothing known: one write goes to learn the count ...
    assert budget.take(TWEETS) == -1  # ... and the others wait for its answer
    budget.seen(TWEETS, 2, reset)
    budget.sent(TWEETS)
    assert [budget.take(TWEETS) for _ in range(2)] == [0, 0]  # two lanes take the two left
    budget.seen(TWEETS, 1, reset)  # the first of them is answered: X counts the second not yet
    assert budget.take(TWEETS) > 890  # none left: until the reset, 900 s away
    budget.seen(TWEETS, 100, reset + 900)  # a new window
    assert budget.take(TWEETS) == 0


def test_a_lease_renewed_after_its_lane_was_released_is_no_lost_lease(redis_url: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    from bridge.storage.lanes import LEASE_TTL, LaneWorker

    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    worker = LaneWorker(store.outbox, {})
    assert store.outbox.lease("post:C1", worker.owner, LEASE_TTL)
    with worker.heartbeat.holding("post:C1"):
        worker.heartbeat.renew(["post:C1"])  # held and leased: renewed
    store.outbox.release("post:C1", worker.owner)
    worker.heartbeat.renew(["post:C1"])  # the beat's list was taken before the release: not an error
    assert "lane.lease_lost" not in caplog.text
    with worker.heartbeat.holding("post:C2"):  # held, but its lease is gone (taken over): an error
        worker.heartbeat.renew(["post:C2"])
    assert "lane.lease_lost lane=post:C2" in caplog.text
