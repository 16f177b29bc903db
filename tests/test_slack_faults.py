"""Slack misbehaving, one fault a test: every effect happens once, nothing is lost.

The real bridge runs between the emulators (tests/harness.py). Each test makes Slack answer one way
it does in production (429 with Retry-After, 500/503, timeouts, a failure answered after Slack did
the work, events delivered up to four times, out of order, or again minutes later) and then looks at
what people would see: parents and thread messages, the reactions on the agent's message, ephemeral
answers, the brand's tweets on X, and an outbox that drains.
"""

from __future__ import annotations

import pytest

from tests.harness import (
    ANNA,
    BEN,
    DSL,
    GENERAL,
    MOBILE,
    Desk,
    claimed_case,
    drained,
    eventually,
    notices,
    said,
)

SENT = "outbox_tray"
BOT = "U0XDESKBOT"
LATE = 2.0  # seconds Slack takes to answer a call that times out


# -- helpers -------------------------------------------------------------------------------------


def parents(desk: Desk, tweet_id: str) -> list[dict]:
    """The top-level messages in Slack that show this customer tweet."""
    return [{**m, "channel": channel} for channel in (GENERAL, DSL, MOBILE) for m in desk.slack.messages(channel)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("tweet_id") == tweet_id
            and m.get("thread_ts") in (None, m["ts"])]


def delivery_of(desk: Desk, ts: str):
    """What Slack sent the app about the message or reaction at ``ts``."""
    return next(d for d in desk.slack.deliveries
                if d.event.get("ts") == ts or d.event.get("item", {}).get("ts") == ts)


def answered(desk: Desk, method: str, status: int) -> bool:
    return any(c.method == method and c.status == status for c in desk.slack.api_log)


def answered_since(desk: Desk, method: str, before: int) -> bool:
    """Slack has answered the call of ``method`` that followed the first ``before`` ones."""
    calls = [c for c in desk.slack.api_log if c.method == method]
    return len(calls) > before and calls[before].status is not None


def tweeted_once(desk: Desk, parent: dict, ts: str, text: str) -> None:
    desk.wait_for(lambda: {SENT, "x"} & set(desk.slack.reactions(parent["channel"], ts)))
    drained(desk)
    assert "x" not in desk.slack.reactions(parent["channel"], ts), notices(desk, parent, "Not tweeted")
    [posted] = desk.x.posted
    assert posted["text"] == text
    assert desk.slack.reactions(parent["channel"], ts) == {SENT: [BOT]}
    assert len(notices(desk, parent, f"https://x.com/Telekom_hilft/status/{posted['id']}")) == 1
    assert len(notices(desk, parent, "Tweeted as")) == 1


def short_slack_timeout(desk: Desk) -> None:
    """The desk's Slack client gives up after 1 s instead of 15 (``timeout`` is read on every call),
    so an answer delayed by :data:`LATE` comes after the bridge stopped waiting for it."""
    desk.rt.slack.client.timeout = 1


# -- posting cases -------------------------------------------------------------------------------


def test_a_burst_of_tweets_under_429s_is_posted_in_order_once_each(desk: Desk) -> None:
    desk.slack.fail_next("chat.postMessage", status=429, error="ratelimited", retry_after=1, times=2)
    tweets = [desk.tweet(f"@Telekom_hilft where is my invoice no. {i}?", author=f"kunde_{i}") for i in range(3)]
    for tweet_id in tweets:
        desk.parent_of(tweet_id)
    drained(desk)
    assert answered(desk, "chat.postMessage", 429)
    assert [len(parents(desk, t)) for t in tweets] == [1, 1, 1]
    shown_order = [p["metadata"]["event_payload"]["tweet_id"] for p in desk.slack.messages(GENERAL)
                   if p.get("metadata", {}).get("event_type") == "xdesk_case"]
    assert shown_order == tweets


# (HTTP status, error body, whether Slack posted before failing). An HTTP 429 is not among them
# with "posted": Slack does not process a rate-limited request (https://api.slack.com/apis/rate-limits),
# which is why slack-sdk retries 429s by itself; the 429 bursts above cover them.
POST_FAULTS = {
    "ratelimited in a 200, Slack posted anyway": (200, "ratelimited", True),
    "500, not posted": (500, None, False),
    "500, Slack posted": (500, None, True),
    "503, Slack posted": (503, None, True),
}


@pytest.mark.parametrize("fault", POST_FAULTS)
def test_a_failed_post_of_a_case_ends_with_one_parent(desk: Desk, fault: str) -> None:
    status, error, applied = POST_FAULTS[fault]
    desk.slack.fail_next("chat.postMessage", status=status, error=error, applied=applied,
                         retry_after=1 if status == 429 else None)
    tweet_id = desk.tweet("@Telekom_hilft my invoice is wrong")
    desk.wait_for(lambda: answered(desk, "chat.postMessage", status))
    if status != 429:  # Slack's 429 is waited out by the client; the others by the job's backoff
        desk.hurry(f"post:{GENERAL}")
    parent = desk.parent_of(tweet_id)
    drained(desk)
    shown = parents(desk, tweet_id)
    assert len(shown) == 1, f"one tweet, {len(shown)} cases in Slack: {[m['ts'] for m in shown]}"
    desk.claim(ANNA, parent)  # the bridge knows the parent that Slack shows
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    assert desk.slack.ephemerals == []


def test_a_post_slack_made_after_the_client_timed_out_ends_with_one_parent(desk: Desk) -> None:
    short_slack_timeout(desk)
    desk.slack.fail_next("chat.postMessage", status=200, delay=LATE)
    tweet_id = desk.tweet("@Telekom_hilft my invoice is wrong")
    parent = desk.parent_of(tweet_id)  # it lands a second after the bridge gave up on it
    desk.hurry(f"post:{GENERAL}")
    drained(desk)
    assert len(parents(desk, tweet_id)) == 1
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))


def test_a_thread_notice_slack_posted_before_failing_is_posted_once(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.slack.fail_next("chat.postMessage", status=503, retry_after=None, applied=True)  # the "Tweeted as"
    ts = desk.reply(ANNA, parent, "Please restart the router.")
    desk.wait_for(lambda: answered(desk, "chat.postMessage", 503))
    desk.hurry(f"post:{parent['channel']}")
    tweeted_once(desk, parent, ts, "Please restart the router. ^AN")


# -- reactions, parent updates, ephemerals -------------------------------------------------------

SLACK_LANE_FAULTS = {
    "chat.update 503": ("chat.update", dict(status=503, retry_after=None)),
    "chat.update timeout": ("chat.update", dict(status=200, delay=LATE)),
    "reactions.add 429": ("reactions.add", dict(status=429, retry_after=1)),
    "reactions.add 500, Slack reacted": ("reactions.add", dict(status=500, applied=True)),
    "chat.postEphemeral 429": ("chat.postEphemeral", dict(status=429, retry_after=1)),
    "chat.postEphemeral 503": ("chat.postEphemeral", dict(status=503, retry_after=None)),
}


@pytest.mark.parametrize("fault", SLACK_LANE_FAULTS)
def test_a_failed_reaction_update_or_ephemeral_happens_once(desk: Desk, fault: str) -> None:
    method, kwargs = SLACK_LANE_FAULTS[fault]
    if "delay" in kwargs:
        short_slack_timeout(desk)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    before = len(desk.slack.calls_to(method))
    desk.slack.fail_next(method, **kwargs)
    if method == "chat.update":
        desk.claim(ANNA, parent)
    elif method == "reactions.add":
        desk.claim(ANNA, parent)
        desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
        ts = desk.reply(ANNA, parent, "On it!")
    else:
        desk.claim(ANNA, parent)
        desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
        desk.claim(BEN, parent)
    desk.wait_for(lambda: answered_since(desk, method, before))  # the fault was answered
    if kwargs["status"] != 429:
        desk.hurry("slack")
    drained(desk)
    if method == "chat.update":
        assert desk.claimed_by(parent, ANNA)
    elif method == "reactions.add":
        assert desk.slack.reactions(parent["channel"], ts) == {SENT: [BOT]}
        assert len(desk.x.posted) == 1
    else:
        [told] = desk.slack.ephemerals
        assert told["user"] == BEN and f"<@{ANNA}>" in told["text"]
        assert desk.claimed_by(parent, ANNA)


# -- events: retried, twinned, out of order, late ------------------------------------------------


def test_events_delivered_four_times_have_one_effect(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    claim = desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "eyes", retries=3)
    assert claim.statuses == [200] * 4
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    ts = desk.slack.post_user_message(ANNA, parent["channel"], "Please restart it.", thread_ts=parent["ts"],
                                      retries=3)
    assert delivery_of(desk, ts).statuses == [200] * 4
    tweeted_once(desk, parent, ts, "Please restart it. ^AN")
    resolve = desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "white_check_mark", retries=3)
    assert resolve.statuses == [200] * 4
    desk.wait_for(lambda: "Resolved" in desk.parent_text(parent))
    drained(desk)
    assert desk.slack.ephemerals == []  # a retried claim is not "someone else has this case"
    assert len(desk.x.posted) == 1


def test_the_same_event_delivered_twice_at_once_is_tweeted_once(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts = desk.slack.post_user_message(ANNA, parent["channel"], "Twin check.", thread_ts=parent["ts"],
                                      deliver_async=True)
    first = delivery_of(desk, ts)
    # The twin (same event id) while the first is still on its way; Slack retries it once.
    desk.slack.deliver(first.event, event_id=first.event_id, retries=1)
    desk.slack.drain()
    tweeted_once(desk, parent, ts, "Twin check. ^AN")


def test_a_claim_on_a_parent_the_bridge_has_not_recorded_yet_counts(desk: Desk) -> None:
    # Slack posts the parent but answers 503: the bridge does not know the parent's ts until its
    # retry finds it. The agent claims and replies in that window.
    desk.slack.fail_next("chat.postMessage", status=503, retry_after=None, applied=True)
    tweet_id = desk.tweet("@Telekom_hilft my router is dead")
    parent = desk.parent_of(tweet_id)
    assert desk.rt.store.case_by_parent(parent["channel"], parent["ts"]) is None  # not recorded yet
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    ts = desk.reply(ANNA, parent, "Which model is it?")
    desk.x.wait_for_posts(1)
    desk.hurry(f"post:{parent['channel']}")  # now the parent's own retry comes
    tweeted_once(desk, parent, ts, "Which model is it? ^AN")
    assert len(parents(desk, tweet_id)) == 1
    assert desk.slack.ephemerals == []


def test_a_claim_the_moment_the_parent_appears_counts(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft my router is dead")
    parent = desk.parent_of(tweet_id)  # returns as Slack stores it, before the bridge hears back
    desk.claim(ANNA, parent)
    ts = desk.reply(ANNA, parent, "Checking now.")
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    tweeted_once(desk, parent, ts, "Checking now. ^AN")
    assert len(parents(desk, tweet_id)) == 1 and desk.slack.ephemerals == []


def test_events_delivered_again_minutes_later_change_nothing(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    claim = delivery_of(desk, parent["ts"])
    ts = desk.reply(ANNA, parent, "Fixed, please check.")
    tweeted_once(desk, parent, ts, "Fixed, please check. ^AN")
    reply = delivery_of(desk, ts)

    # Life goes on: the customer answers, a colleague writes a note.
    [ours] = desk.x.posted
    desk.tweet("@Telekom_hilft works again, thanks", in_reply_to=ours["id"])
    desk.wait_for(lambda: any("works again" in said(m) for m in desk.thread(parent)))
    desk.reply(BEN, parent, "note: closing the ticket")

    # Slack delivers Anna's reply again (same event id), while she still holds the case.
    assert desk.slack.deliver(reply.event, event_id=reply.event_id, retries=1) == [200, 200]
    drained(desk)
    assert len(desk.x.posted) == 1 and len(notices(desk, parent, "Tweeted as")) == 1

    # Anna hands the case over; then her claim arrives again.
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    desk.wait_for(lambda: not desk.claimed_by(parent, ANNA))
    drained(desk)
    assert desk.slack.deliver(claim.event, event_id=claim.event_id, retries=1) == [200, 200]
    drained(desk)
    assert not desk.claimed_by(parent, ANNA)

    desk.claim(BEN, parent)  # the case is free: the late claim took nothing
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    drained(desk)
    assert desk.slack.ephemerals == []
    assert len(desk.x.posted) == 1


def test_a_post_that_lands_after_the_retry_was_due_is_not_posted_twice(desk: Desk) -> None:
    """The answer is lost and Slack carries the post out late: after the job's own retry was due.

    Looking for the post before it landed would find nothing; the retry waits out the grace for a
    request in flight before it looks (found by the soak: bench/soak.py).
    """
    short_slack_timeout(desk)
    desk.slack.fail_next("chat.postMessage", status=200, delay=8)  # lands 7 s after the bridge gave up
    tweet_id = desk.tweet("@Telekom_hilft my invoice is wrong")
    desk.wait_for(lambda: len(parents(desk, tweet_id)) == 1, timeout=20)
    eventually(lambda: desk.rt.store.outbox.pending() == 0, timeout=60, what="the retry after the grace")
    eventually(lambda: next(c for c in desk.slack.api_log if c.method == "chat.postMessage").status,
               what="the late post to be carried out")
    assert len(parents(desk, tweet_id)) == 1
