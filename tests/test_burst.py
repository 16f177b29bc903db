"""After an outage: a burst of 10,000 mentions all become cases, in order per channel, at Slack's pace."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.store import Store
from tests.cluster import Cluster
from tests.harness import ANNA, DSL, GENERAL, MOBILE
from tests.test_crash_recovery import eventually

CHANNELS = (GENERAL, DSL, MOBILE)


def parents(slack: SlackEmulator, channel: str) -> list[str]:
    """Tweet ids of the channel's case parents, in the order Slack shows them."""
    out = []
    for message in sorted(slack.messages(channel), key=lambda m: float(m["ts"])):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if message.get("thread_ts") in (None, message["ts"]) and payload.get("tweet_id"):
            out.append(payload["tweet_id"])
    return out


def test_ten_thousand_mentions_become_cases_in_order_per_channel(
    x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, settings_path: Path, tmp_path: Path
) -> None:
    """All 10,000 are stored as cases at once, each with its post queued in tweet order in its channel.

    Posting them all at Slack's pace takes hours (about one a second per channel), so the test
    follows the first posts into Slack and checks the queues hold the rest in order; the full
    drain is measured by bench/soak.py.
    """
    topics = ["router", "5G", "invoice"]
    ids = [x_emu.add_tweet(f"@Telekom_hilft {topics[i % 3]} problem number {i}", author=f"k{i % 997}")
           for i in range(10_000)]
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    cluster = Cluster(x_emu, slack_emu, redis_url, settings_path, tmp_path,
                      extra_env={"XDESK_SLACK_PACE": "0"}).start()
    try:
        eventually(lambda: store.cursor("mentions") == ids[-1], timeout=180, interval=1, what="all stored")
        assert all(store.case_of_tweet(t) for t in ids)  # the cursor moved only once every case was stored
        eventually(lambda: sum(len(parents(slack_emu, c)) for c in CHANNELS) >= 300, interval=1,
                   what="the first posts")
        assert "backlog=" in cluster.logs()  # the operator sees how much is still to post
    finally:
        cluster.stop()
    every: list[str] = []
    for channel in CHANNELS:
        queued = [store.case(json.loads(job)["case"]).first_tweet
                  for job in store.r.lrange(f"xdesk:lane:post:{channel}", 0, -1)]
        in_order = parents(slack_emu, channel) + queued
        assert in_order == sorted(in_order, key=int), f"{channel} out of order"
        every += in_order
    assert sorted(every, key=int) == ids  # each exactly once: posted or queued, none lost


def test_posting_keeps_slacks_pace_of_one_message_a_second_per_channel_after_a_short_burst(
    x_emu: XEmulator, redis_url: str, settings_path: Path, tmp_path: Path
) -> None:
    # Slack: "1 message per second to a specific channel", with bursts allowed; the emulator allows
    # 3 at once, the bridge takes 2 (bridge/effects/slack_posts.py SLACK_BURST).
    with SlackEmulator(channels=CHANNELS, post_rate_per_channel=1.0, post_burst=3,
                       signing_secret="s3cr3t-signing", bot_token="xoxb-pace-test",
                       users={ANNA: {"name": "anna"}}) as slack:
        from tests import harness

        env = harness.environment(x_emu, slack, redis_url)
        env.update(SLACK_BOT_TOKEN="xoxb-pace-test", SLACK_SIGNING_SECRET="s3cr3t-signing")
        cluster = Cluster(x_emu, slack, redis_url, settings_path, tmp_path, extra_env=env).start()
        try:
            for i in range(7):
                x_emu.add_tweet(f"@Telekom_hilft router {i}", author=f"k{i}")
            eventually(lambda: len(parents(slack, DSL)) == 7, timeout=60, what="seven parents")
        finally:
            cluster.stop()
        posts = sorted(float(m["ts"]) for m in slack.messages(DSL) if m.get("thread_ts") in (None, m["ts"]))
        limited = [c for c in slack.api_log if c.method == "chat.postMessage" and c.status == 429]
        assert limited == [], "the bridge went faster than Slack allows"
        # Two at once, then one a second: the seventh no sooner than 5 s after the first.
        assert posts[6] - posts[0] >= 5.0 - 0.05
