"""kill -9 anywhere: after a restart every case is posted once, every reply tweeted once, nothing pending.

Each crash point (bridge/core/crash.py) sits between two steps of the flow where a blind retry would
repeat an effect or a careless one would lose it. The processes are the Procfile's, killed with
SIGKILL by the point itself, and restarted by the test's supervisor.
"""

from __future__ import annotations

import functools
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from bridge.core.tweet_text import plan_reply, slack_to_plain
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.store import Store
from tests import harness
from tests.cluster import Cluster
from tests.harness import ANNA, BASE_SETTINGS, DSL, GENERAL, MOBILE, block_text, write_settings

CHANNELS = (GENERAL, DSL, MOBILE)


# Processes start and restart here: give conditions a minute.
eventually = functools.partial(harness.eventually, timeout=60)


def slack_posts_of(slack: SlackEmulator, tweet_id: str) -> list[dict]:
    """Every message in Slack that shows this customer tweet (parent or thread reply)."""
    found = []
    for channel in CHANNELS:
        for message in slack.messages(channel):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("tweet_id") == tweet_id:
                found.append({**message, "channel": channel})
    return found


def bot_said(slack: SlackEmulator, parent: dict) -> list[str]:
    """What the bridge's own messages in the case's thread say."""
    return [m.get("text", "") + block_text(m.get("blocks") or [])
            for m in slack.thread(parent["channel"], parent["ts"]) if m.get("bot_id")]


def pending(redis_url: str) -> tuple[int, int]:
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    return store.outbox.pending(), int(store.r.llen("xdesk:dead"))


def play_cases(cluster: Cluster, n: int, rng: random.Random, first: int = 0) -> dict[str, list[str]]:
    """n customers tweet; an agent claims and answers each (some long: a chain); a follow-up joins.

    Returns the reply texts expected on X per case tweet.
    """
    x, slack = cluster.x, cluster.slack
    topics = ["my router is down", "5G roaming is broken", "my invoice is wrong"]
    tweets = [x.add_tweet(f"@Telekom_hilft {rng.choice(topics)} #{i}", author=f"kunde_{i}")
              for i in range(first, first + n)]
    expected: dict[str, list[str]] = {}
    for i, tweet_id in enumerate(tweets, start=first):
        eventually(lambda t=tweet_id: slack_posts_of(slack, t), what=f"case for {tweet_id}")
        parent = slack_posts_of(slack, tweet_id)[0]
        cluster.act(slack.add_reaction, ANNA, parent["channel"], parent["ts"], "eyes")
        eventually(lambda p=parent: f"<@{ANNA}>" in str(slack.message(p["channel"], p["ts"])), what="claim shown")
        long = i % 3 == 0
        text = (f"Case {i}: please restart the router and wait two minutes. " * (6 if long else 1)).strip()
        ts = cluster.act(slack.post_user_message, ANNA, parent["channel"], text, thread_ts=parent["ts"])
        expected[tweet_id] = [text]
        eventually(lambda p=parent, t=ts: "outbox_tray" in slack.reactions(p["channel"], t), what="sent mark")
    return expected


def assert_exactly_once(cluster: Cluster, expected: dict[str, list[str]], redis_url: str) -> None:
    x, slack = cluster.x, cluster.slack
    for tweet_id in expected:
        posts = slack_posts_of(slack, tweet_id)
        assert len(posts) == 1, f"tweet {tweet_id} shown {len(posts)} times"
    parts = sum(len(plan_reply(slack_to_plain(reply), "^AN", "split")) for (reply,) in expected.values())
    assert len(x.posted) == parts, f"{len(x.posted)} tweets for {parts} reply parts"
    texts = Counter(p["text"] for p in x.posted)
    assert all(count == 1 for count in texts.values()), [t for t, c in texts.items() if c > 1]
    replied_to = Counter(p["in_reply_to_tweet_id"] for p in x.posted)
    assert set(expected) <= set(replied_to)
    for tweet_id, (reply,) in expected.items():
        chain = [p for p in x.posted if reply.split(":")[0] + ":" in p["text"]]
        first = [p for p in chain if p["in_reply_to_tweet_id"] == tweet_id]
        assert len(first) == 1, f"reply to {tweet_id} started {len(first)} times"
    eventually(lambda: pending(redis_url) == (0, 0), what="outbox drained, nothing dead")
    notices = [m for ch in CHANNELS for m in slack.messages(ch) if "Tweeted as @Telekom_hilft" in m.get("text", "")
               or "Tweeted as @Telekom_hilft" in block_text(m.get("blocks") or [])]
    assert len(notices) == len(expected), f"{len(notices)} 'tweeted' notices for {len(expected)} replies"


CRASH_POINTS = [
    "ingest.before_cursor",
    "slack.after_post@1",  # the first parent
    "slack.after_post@2",
    "slack.after_post@4",  # a 'tweeted' notice in a thread
    "x.after_tweet@1",
    "x.after_tweet@2",  # the second part of a chain
    "job.before_complete@1",
    "job.before_complete@3",
    "job.before_complete@6",
    "web.after_store@1",  # the claim is stored, Slack has no 200: it delivers again
    "web.after_store@2",  # the reply is queued, Slack has no 200
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_killed_at_a_crash_point_nothing_is_lost_or_repeated(
    crash_at: str, x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, settings_path: Path, tmp_path: Path
) -> None:
    cluster = Cluster(x_emu, slack_emu, redis_url, settings_path, tmp_path, crash_at=crash_at).start()
    try:
        expected = play_cases(cluster, 2, random.Random(crash_at))
        assert_exactly_once(cluster, expected, redis_url)
        assert sum(p.crashes for p in cluster.procs) == 1, "the crash point never fired"
        assert "crash.point name=" + crash_at.split("@")[0] in cluster.logs()
    finally:
        cluster.stop()


@pytest.mark.parametrize("seed", [1, 2])
def test_random_kills_of_two_webs_and_two_workers_lose_and_repeat_nothing(
    seed: int, x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, settings_path: Path, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    cluster = Cluster(x_emu, slack_emu, redis_url, settings_path, tmp_path, webs=2, workers=2).start()
    stop = threading.Event()
    try:
        cluster.kill_randomly(rng, stop, every=(0.5, 2.0))
        expected = play_cases(cluster, 4, rng)
        while sum(p.kills for p in cluster.procs) < 2:  # cases go on until kills fell among them
            expected |= play_cases(cluster, 2, rng, first=len(expected))
        stop.set()
        assert_exactly_once(cluster, expected, redis_url)
    finally:
        stop.set()
        cluster.stop()


def closed_today(tmp_path: Path) -> Path:
    """Settings whose desk is closed now: today and tomorrow (in case the test runs across midnight)
    are holidays in the desk's zone, every other day is open around the clock."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    holidays = ", ".join(f'"{today + timedelta(days=d)}"' for d in (0, 1))
    days = "\n".join(f'{day} = ["00:00-24:00"]' for day in
                     ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    hours = f"""
[hours]
timezone = "Europe/Berlin"
{days}
holidays = [{holidays}]
auto_reply = "@{{handle}} Thanks! We're back {{opens}}."
"""
    return write_settings(tmp_path / "closed.toml", BASE_SETTINGS, hours)


def test_a_worker_killed_after_tweeting_the_auto_reply_tweets_it_once(
    x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path
) -> None:
    cluster = Cluster(x_emu, slack_emu, redis_url, closed_today(tmp_path), tmp_path, crash_at="x.after_tweet").start()
    try:
        tweet_id = x_emu.add_tweet("@Telekom_hilft my router is down", author="kunde_klaus")
        eventually(lambda: slack_posts_of(slack_emu, tweet_id), what="the case")
        eventually(lambda: pending(redis_url) == (0, 0), what="outbox drained, nothing dead")
        assert sum(p.crashes for p in cluster.procs) == 1, "the crash point never fired"
        [auto] = x_emu.posted
        assert auto["in_reply_to_tweet_id"] == tweet_id and auto["text"].startswith("@kunde_klaus Thanks! We're back")
        parent = slack_posts_of(slack_emu, tweet_id)[0]
        link = f"https://x.com/Telekom_hilft/status/{auto['id']}"
        shown = bot_said(slack_emu, parent)
        assert [s for s in shown if "Auto-reply" in s] == [s for s in shown if f"Auto-reply tweeted: {link}" in s]
        assert len([s for s in shown if "Auto-reply tweeted" in s]) == 1
    finally:
        cluster.stop()


def test_a_worker_killed_after_tweeting_the_ask_for_a_dm_tweets_it_once(
    x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path
) -> None:
    settings = write_settings(tmp_path / "dms.toml", BASE_SETTINGS, "\n[dm]\nenabled = true\n")
    cluster = Cluster(x_emu, slack_emu, redis_url, settings, tmp_path, crash_at="x.after_tweet").start()
    try:
        tweet_id = x_emu.add_tweet("@Telekom_hilft my router is down", author="kunde_klaus")
        eventually(lambda: slack_posts_of(slack_emu, tweet_id), what="the case")
        parent = slack_posts_of(slack_emu, tweet_id)[0]
        cluster.act(slack_emu.add_reaction, ANNA, parent["channel"], parent["ts"], "envelope")
        eventually(lambda: pending(redis_url) == (0, 0) and x_emu.posted, what="the ask tweeted, nothing pending")
        assert sum(p.crashes for p in cluster.procs) == 1, "the crash point never fired"
        [ask] = x_emu.posted
        assert ask["in_reply_to_tweet_id"] == tweet_id and "send us a direct message" in ask["text"]
        link = f"https://x.com/Telekom_hilft/status/{ask['id']}"
        shown = bot_said(slack_emu, parent)
        asked = [s for s in shown if "to send a DM" in s]
        assert len(asked) == 1 and link in asked[0]
    finally:
        cluster.stop()


def test_a_worker_killed_after_a_dm_reply_was_recorded_sends_it_once(
    x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path
) -> None:
    settings = write_settings(tmp_path / "dms.toml", BASE_SETTINGS, "\n[dm]\nenabled = true\nmin_poll_interval = 0.2\n")
    cluster = Cluster(x_emu, slack_emu, redis_url, settings, tmp_path).start()
    try:
        dm_id = x_emu.dms.send("My router is dead since Monday", author="kunde_klaus")
        eventually(lambda: slack_posts_of(slack_emu, dm_id), what="the DM case")
        parent = slack_posts_of(slack_emu, dm_id)[0]
        cluster.act(slack_emu.add_reaction, ANNA, parent["channel"], parent["ts"], "eyes")
        eventually(lambda: f"<@{ANNA}>" in str(slack_emu.message(parent["channel"], parent["ts"])), what="claim")
        eventually(lambda: pending(redis_url) == (0, 0), what="outbox drained")
        # The idle worker is replaced by one that dies when it has recorded its next job's effect.
        [worker] = cluster.workers
        with cluster.lock:
            worker.popen.kill()
            worker.popen.wait()
            worker.start("job.before_complete")
        ts = cluster.act(slack_emu.post_user_message, ANNA, parent["channel"], "We reset your line.",
                         thread_ts=parent["ts"])
        eventually(lambda: "outbox_tray" in slack_emu.reactions(parent["channel"], ts), what="sent mark")
        eventually(lambda: pending(redis_url) == (0, 0), what="outbox drained, nothing dead")
        assert worker.crashes == 1, "the crash point never fired"
        died = worker.log_path.read_text().split("crash.point name=job.before_complete")[0]
        assert "reply.dm_sent" in died  # its first job (nothing else was queued) sent the DM, then it died
        assert [d["text"] for d in x_emu.dms.sent] == ["We reset your line. ^AN"] and x_emu.posted == []
        shown = bot_said(slack_emu, parent)
        assert len([s for s in shown if "Sent as a direct message" in s]) == 1
    finally:
        cluster.stop()
