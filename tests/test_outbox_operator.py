"""A job that only an operator can make succeed is parked, not spun, and ``python -m bridge outbox``
lists and re-drives it. Through the real bridge, the X emulator and the real command line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from tests.harness import ANNA, Desk, claimed_case, drained, notices


def outbox(desk: Desk, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **desk.env, "BRIDGE_SETTINGS": os.environ["BRIDGE_SETTINGS"]}
    return subprocess.run([sys.executable, "-m", "bridge", "outbox", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_reply_x_refuses_for_bad_credentials_is_parked_listed_and_sent_once_when_retried(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    stuck_tweet, stuck = claimed_case(desk, "@Telekom_hilft my router is dead")
    _, other = claimed_case(desk, "@Telekom_hilft my line is dead")
    desk.x.fail_next("POST", r"^/2/tweets$", status=401, times=10**6, body_regex=f'"{stuck_tweet}"')
    caplog.set_level(logging.ERROR, logger="bridge.storage.lanes")
    desk.reply(ANNA, stuck, "We're looking into it.")
    for _ in range(2):  # the first tries, 30 s apart: a moment's trouble would pass
        desk.hurry("x")
    desk.wait_for(lambda: bool(notices(desk, stuck, "waits until an operator fixes this")))
    [told] = notices(desk, stuck, "waits until an operator fixes this")
    assert "X rejected the brand account's credentials" in told and f"<@{ANNA}>" in told
    [parked] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job.parked")]
    assert "python -m bridge outbox retry reply:" in parked and "X credentials" in parked
    tries = sum(r.path == "/2/tweets" and r.status == 401 for r in desk.x.requests)
    assert tries == 3

    desk.reply(ANNA, other, "Line reset, please try again.")  # parking holds only its own case
    desk.x.wait_for_posts(1)

    listed = outbox(desk)
    assert listed.returncode == 0, listed.stderr
    [line] = [ln for ln in listed.stdout.splitlines() if ln.startswith("parked")]
    job = line.split()[1]
    assert job.startswith("reply:") and "X rejected the brand account's credentials" in listed.stdout
    assert "1 parked, 0 dead" in listed.stdout
    assert sum(r.path == "/2/tweets" and r.status == 401 for r in desk.x.requests) == tries  # not spun

    desk.x.clear_faults()  # the operator fixed the credentials
    assert outbox(desk, "retry", job).returncode == 0
    again = outbox(desk, "retry", job)
    assert again.returncode == 1 and "neither parked nor a dead letter" in again.stdout
    desk.x.wait_for_posts(2)
    drained(desk)
    assert [p["text"] for p in desk.x.posted if p["in_reply_to_tweet_id"] == stuck_tweet] == [
        "We're looking into it. ^AN"]
    assert "nothing waits for an operator" in outbox(desk).stdout
