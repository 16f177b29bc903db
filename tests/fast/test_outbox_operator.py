"""Parked jobs and dead letters, listed and re-driven by ``python -m bridge outbox``'s command, once each."""

from __future__ import annotations

import io

from bridge.app.outbox_cli import outbox_command
from bridge.storage.outbox import x_lane
from bridge.x.errors import XAuthError
from tests.fast.kit import FastDesk
from tests.harness import ANNA


def run(fast: FastDesk, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    action, job = (args[0] if args else "list"), (args[1] if len(args) > 1 else None)
    return outbox_command(fast.store.outbox, action, job, out), out.getvalue()


def parked_reply(fast: FastDesk):
    parent = fast.parent(fast.tweet("@Telekom_hilft my router is dead"))
    fast.claim(ANNA, parent)
    fast.x.fail(XAuthError("X rejected the brand account's credentials (HTTP 401)", status=401,
                           fix="set working X credentials"), times=3)
    fast.reply(ANNA, parent, "We're on it.")
    for _ in range(2):
        fast.hurry()
        fast.drain()
    [entry] = fast.store.outbox.parked()
    return parent, entry["job"]["id"]


def test_a_dropped_parked_reply_is_never_tweeted_and_the_cases_next_reply_goes_out(fast: FastDesk) -> None:
    parent, job = parked_reply(fast)
    assert fast.x.calls.count("post_reply") == 3 and fast.x.said() == []
    code, listed = run(fast)
    assert code == 0 and f"parked  {job}" in listed and "to fix: set working X credentials" in listed
    fast.reply(ANNA, parent, "A second reply waits behind it, in order.")
    assert fast.x.calls.count("post_reply") == 3  # the lane is parked: nothing is tried

    assert run(fast, "drop", job)[0] == 0
    assert run(fast, "drop", job)[0] == 1  # once
    fast.drain()
    assert fast.x.said() == ["A second reply waits behind it, in order. ^AN"]
    assert fast.store.outbox.done(job) == {"dropped": "by an operator"}
    assert "nothing waits for an operator" in run(fast)[1]


def test_a_dead_letter_is_worked_again_at_the_head_of_its_lane_or_dropped_once(fast: FastDesk) -> None:
    lane = x_lane("42")
    fast.store.queue((lane, {"id": "mystery:1", "kind": "mystery", "case": "42"}))
    fast.drain()
    [dead] = fast.store.outbox.dead_letters()
    assert dead["job"]["id"] == "mystery:1" and "no handler" in dead["reason"]
    assert "0 parked, 1 dead" in run(fast)[1]

    assert run(fast, "retry", "mystery:1")[0] == 0
    assert fast.store.outbox.head(lane) == {"id": "mystery:1", "kind": "mystery", "case": "42"}
    assert fast.store.outbox.done("mystery:1") is None
    fast.drain()  # still no handler: dead again
    assert run(fast, "drop", "mystery:1")[0] == 0
    code, said = run(fast, "retry", "mystery:1")
    assert code == 1 and "neither parked nor a dead letter" in said
    assert fast.store.outbox.dead_letters() == []


def test_retry_and_drop_need_a_job(fast: FastDesk) -> None:
    code, said = run(fast, "retry")
    assert code == 2 and "needs the id of a job" in said


def test_posts_slack_refuses_for_a_revoked_token_are_parked_and_all_retried_at_once(fast: FastDesk) -> None:
    fast.slack.fail("chat.postMessage", "token_revoked", times=3)
    tweets = [fast.x.customer_tweets(f"@Telekom_hilft router {i} is dead") for i in range(2)]
    fast.poller.poll_now()
    for _ in range(3):
        fast.drain()
        fast.hurry()
    assert [e["reason"] for e in fast.store.outbox.parked()] == ["Slack refused chat.postMessage: token_revoked"]
    assert "SLACK_BOT_TOKEN" in run(fast)[1]
    assert run(fast, "retry", "all") == (0, "1 parked job(s) worked again\n")
    fast.drain()
    assert [fast.parent(t).text for t in tweets] and fast.store.outbox.parked() == []
