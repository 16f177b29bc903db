"""Each case's X effects in their own lane: one stuck reply holds only its case, and the lanes share
X's write budget. Through the real bridge and the X emulator."""

from __future__ import annotations

from tests.harness import ANNA, Desk, claimed_case, drained, notices


def test_one_cases_reply_failing_at_x_holds_no_other_case_and_goes_out_once_when_x_recovers(desk: Desk) -> None:
    stuck_tweet, stuck = claimed_case(desk, "@Telekom_hilft my router is dead")
    others = [claimed_case(desk, f"@Telekom_hilft router {i} is dead") for i in range(10)]
    desk.x.fail_next("POST", r"^/2/tweets$", status=503, times=10**6, body_regex=f'"{stuck_tweet}"')
    desk.reply(ANNA, stuck, "We're looking into it.")
    desk.x.wait_for(lambda: sum(r.path == "/2/tweets" and r.status == 503 for r in desk.x.requests) >= 1)
    for i, (_, parent) in enumerate(others):
        desk.reply(ANNA, parent, f"Reset done for router {i}.")
    desk.x.wait_for_posts(10)  # while the stuck reply still fails at X
    assert sorted(p["text"] for p in desk.x.posted) == sorted(f"Reset done for router {i}. ^AN" for i in range(10))
    assert all(p["in_reply_to_tweet_id"] != stuck_tweet for p in desk.x.posted)

    desk.hurry("x")  # its retries come sooner than 5 s apart; the third says so in the thread
    desk.hurry("x")
    desk.wait_for(lambda: bool(notices(desk, stuck, "Your reply waits and is tweeted once")))
    desk.x.clear_faults()  # X answers again
    desk.hurry("x")
    desk.x.wait_for_posts(11)
    drained(desk)
    assert [p["text"] for p in desk.x.posted if p["in_reply_to_tweet_id"] == stuck_tweet] == [
        "We're looking into it. ^AN"]


def test_the_cases_lanes_share_xs_budget_for_tweets_and_never_burst_past_it(desk: Desk) -> None:
    cases = [claimed_case(desk, f"@Telekom_hilft line {i} is down") for i in range(4)]
    desk.x.limits.limits["POST /2/tweets"] = 3  # X allows 3 tweets in a 15-minute window from now on
    desk.x.limits.window_seconds = 900
    for i, (_, parent) in enumerate(cases):
        desk.reply(ANNA, parent, f"Line {i} is back.")
    desk.x.wait_for_posts(3)
    [(_, waiting)] = [(t, p) for t, p in cases if t not in {post["in_reply_to_tweet_id"] for post in desk.x.posted}]
    desk.wait_for(lambda: bool(notices(desk, waiting, "Your reply is queued and will be tweeted at about")))
    assert not any(r.path == "/2/tweets" and r.status == 429 for r in desk.x.requests)  # not asked: counted
    assert len(desk.x.posted) == 3
