"""What a case keeps in Redis: every field of its tweets and customer, and nothing at its default."""

from __future__ import annotations

import itertools
import time

import pytest
import redis

from bridge.core.models import Author, CaseId, ChannelId, Media, SlackTs, SlackUserId, Tweet, TweetId, UserId
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
                  '"name":"Klaus"}}'  # its conversation is its own: not kept twice
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


def test_a_post_that_spends_slacks_burst_leaves_its_channels_lane_alone_until_the_next_may_go(
        redis_url: str) -> None:
    from bridge.storage.limits import SlackPace
    from bridge.storage.outbox import post_lane

    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    pace = SlackPace(store.r, store.keys, interval=1.0, burst=2)
    store.outbox.push(post_lane("C1"), {"id": "parent:1", "kind": "parent", "case": "1"})
    assert pace.take("C1") == 0 and store.outbox.lanes_due()[post_lane("C1")] == 0  # one more may go now
    before = time.time()
    assert pace.take("C1") == 0  # the burst is spent: the lane waits, without being tried, for a second
    assert before + 0.9 < store.outbox.lanes_due()[post_lane("C1")] <= time.time() + 1.0
    assert 0.9 < pace.take("C1") <= 1.0
    assert store.outbox.lanes_due().get(post_lane("C2"), 0) == 0  # another channel is not held


def test_cases_stored_by_an_earlier_version_are_found_after_the_upgrade(redis_url: str) -> None:
    from bridge.storage.upgrade import upgrade

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    store = Store(r)
    first = Tweet(TweetId("1001"), "@Telekom_hilft my router", Author(UserId("77"), "k", "K"), TweetId("1001"))
    store.ingest(first, ChannelId("C1"), None, True)
    store.set_parent(CaseId("1"), ChannelId("C1"), SlackTs("1733.000100"))
    # The layout of version 1: a key for each lookup, the customer's cases as a list.
    for (key, field), old in ((store.keys.tweet("1001"), "tweet:1001"), (store.keys.tweet("1002"), "tweet:1002"),
                              (store.keys.conversation("1001"), "conv:1001"),
                              (store.keys.parent("C1", "1733.000100"), "parent:C1:1733.000100")):
        r.set(f"xdesk:{old}", "1")
        r.hdel(key, field)
    r.hdel(*store.keys.customer("77"))
    r.rpush("xdesk:customer:77", "1")
    # A claimed case; and neither indexed, as before version 3.
    other = Tweet(TweetId("5001"), "@Telekom_hilft hello", Author(UserId("78"), "l", "L"), TweetId("5001"))
    store.ingest(other, ChannelId("C1"), None, True)
    store.claim(CaseId("2"), SlackUserId("U0ANNA0001"))
    r.delete(store.keys.queue, store.keys.claims("U0ANNA0001"), store.keys.schema)

    assert upgrade(r, store.keys) == 5 + 2  # five lookups moved, two open cases indexed
    assert upgrade(r, store.keys) == 0  # once
    assert store.unclaimed()[0] == 1 and store.unclaimed()[1][0][0].id == "1"
    assert [c.id for c in store.open_claims("U0ANNA0001")] == ["2"]
    assert not r.keys("xdesk:tweet:*") and not r.keys("xdesk:customer:*") and not r.keys("xdesk:parent:*")
    assert store.case_of_tweet(TweetId("1002")) == "1"  # the brand's reply, say: an answer to it joins
    assert store.case_by_parent("C1", "1733.000100").id == "1"  # type: ignore[union-attr]
    answer = Tweet(TweetId("1003"), "@Telekom_hilft still down", Author(UserId("77"), "k", "K"), TweetId("1001"),
                   replied_to=TweetId("1002"))
    assert store.ingest(answer, ChannelId("C2"), None, True).case_id == "1"
    second = Tweet(TweetId("2001"), "@Telekom_hilft new trouble", Author(UserId("77"), "k", "K"), TweetId("2001"))
    store.ingest(second, ChannelId("C1"), None, True)
    assert r.hget(*store.keys.customer("77")) == "1 3"  # the customer's history goes on from the old list


def test_only_a_push_into_an_empty_lane_wakes_the_workers(redis_url: str) -> None:
    """A lane that has jobs is known to the workers already: a backlog must not wake them per tweet."""
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    channel = ChannelId("C0DSLTEAM1")
    customer = Author(UserId("7"), "kunde_klaus", "Klaus")
    store.ingest(Tweet(TweetId("40"), "@Telekom_hilft help", customer, TweetId("40")), channel, None, True)
    assert store.r.llen(store.keys.wake) == 1
    store.outbox.lanes_due()  # the dispatcher's look: it sees the lane, and the token goes
    store.ingest(Tweet(TweetId("41"), "@Telekom_hilft again", customer, TweetId("41")), channel, None, True)
    assert store.r.llen(store.keys.wake) == 0 and store.outbox.depth(f"post:{channel}") == 2


def _lane_worker_running(store: Store, handlers: dict, threads: int):  # type: ignore[no-untyped-def]
    import threading

    from bridge.storage.lanes import LaneWorker

    worker = LaneWorker(store.outbox, handlers, threads=threads)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return worker, stop, thread


def test_a_lane_waits_for_its_pace_in_its_thread_without_handing_its_lease_back(redis_url: str) -> None:
    from bridge.storage.lanes import Done

    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    done: list[tuple[str, float]] = []

    def post(job: dict) -> Done:  # as a post that spends Slack's burst: the lane waits 0.3 s
        done.append((job["id"], time.time()))
        store.outbox.pace("post:C1", time.time() + 0.3)
        return Done()

    for i in range(3):
        store.outbox.push("post:C1", {"id": f"p{i}", "kind": "post"})
    starts = []
    start = store.outbox.start
    store.outbox.start = lambda *a: (starts.append(a), start(*a))[1]  # type: ignore[method-assign]
    _, stop, thread = _lane_worker_running(store, {"post": post}, threads=2)
    try:
        deadline = time.time() + 5
        while len(done) < 3 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(5)
    assert [job for job, _ in done] == ["p0", "p1", "p2"]
    assert all(b - a >= 0.29 for (_, a), (_, b) in itertools.pairwise(done))  # the pace is kept
    assert len(starts) == 1  # one lease for the three: no release, no dispatch in between


def test_a_lane_waiting_for_its_pace_gives_its_thread_to_a_lane_that_has_none(redis_url: str) -> None:
    from bridge.storage.lanes import Done

    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    done: dict[str, float] = {}

    def post(job: dict) -> Done:
        done[job["id"]] = time.time()
        store.outbox.pace(job["lane"], time.time() + 1.4)  # the longest a thread holds a lane for
        return Done()

    for lane in ("post:C1", "post:C2"):  # two threads, both holding their lanes
        for i in range(2):
            store.outbox.push(lane, {"id": f"{lane}:{i}", "kind": "post", "lane": lane})
    _, stop, thread = _lane_worker_running(store, {"post": post}, threads=2)
    try:
        deadline = time.time() + 5
        while len(done) < 2 and time.time() < deadline:
            time.sleep(0.01)
        pushed = time.time()
        store.outbox.push("slack:C3", {"id": "update", "kind": "post", "lane": "slack:C3"})
        while "update" not in done and time.time() < deadline:
            time.sleep(0.01)
        while len(done) < 5 and time.time() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(5)
    assert done["update"] - pushed < 0.7  # not behind the paces of the others
    assert len(done) == 5  # and those lanes go on, at their pace
    assert done["post:C1:1"] - done["post:C1:0"] >= 1.39
