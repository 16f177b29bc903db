"""``GET /metrics`` and ``GET /readyz`` of the Procfile's processes: counts equal to what happened,
whichever of two workers did it and though one was killed right after a tweet; readiness following
the workers (SPEC "Operating it")."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.keys import Keys
from tests.cluster import Cluster
from tests.harness import ANNA, DSL, GENERAL, MOBILE, eventually, write_settings

TOKEN = "metrics-token-for-the-test"


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus-client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def parent_of(slack: SlackEmulator, tweet_id: str) -> dict | None:
    for channel in (GENERAL, DSL, MOBILE):
        for message in slack.messages(channel):
            if (message.get("metadata") or {}).get("event_payload", {}).get("tweet_id") == tweet_id \
                    and message.get("thread_ts") in (None, message["ts"]):
                return {**message, "channel": channel}
    return None


def test_metrics_count_what_happened_across_two_workers_and_a_kill(
        x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path) -> None:
    settings = write_settings(tmp_path / "settings.toml")
    # Each worker dies right after X took its first tweet, before anything of it was recorded.
    cluster = Cluster(x_emu, slack_emu, redis_url, settings, tmp_path, webs=2, workers=2,
                      crash_at="x.after_tweet@1", extra_env={"METRICS_TOKEN": TOKEN}).start()
    base = f"http://127.0.0.1:{cluster.webs[0].port}"
    try:
        answered = ["my router is down", "dsl again", "5g roaming fails", "my invoice is wrong"]
        waiting = ["where is my parcel", "hello?"]
        tweets = [x_emu.add_tweet(f"@Telekom_hilft {text}", author=f"kunde_{i}")
                  for i, text in enumerate(answered + waiting)]
        for tweet_id in tweets:
            eventually(lambda t=tweet_id: parent_of(slack_emu, t), what=f"the case of {tweet_id}")
        for i, tweet_id in enumerate(tweets[:len(answered)]):
            parent = parent_of(slack_emu, tweet_id)
            assert parent is not None
            cluster.act(slack_emu.add_reaction, ANNA, parent["channel"], parent["ts"], "eyes")
            eventually(lambda p=parent: f"<@{ANNA}>" in str(slack_emu.message(p["channel"], p["ts"])), what="claim")
            ts = cluster.act(slack_emu.post_user_message, ANNA, parent["channel"], f"Answer {i}",
                             thread_ts=parent["ts"])
            # 60 s: the killed worker's reply is looked for on X once its 25 s in-flight grace is over.
            eventually(lambda p=parent, t=ts: "outbox_tray" in slack_emu.reactions(p["channel"], t), timeout=60,
                       what="sent")
        assert sum(p.crashes for p in cluster.workers) >= 1  # each worker dies after its first tweet
        assert len(x_emu.posted) == len(answered)

        assert get(f"{base}/metrics")[0] == 401
        assert get(f"{base}/metrics", "wrong")[0] == 401
        status, text = get(f"{base}/metrics", TOKEN)
        assert status == 200
        got = samples(text)
        assert got[("xdesk_cases_opened_total", (("topic", "DSL"),))] == 2
        assert got[("xdesk_cases_opened_total", (("topic", "Mobile"),))] == 1
        assert got[("xdesk_cases_opened_total", (("topic", ""),))] == 3
        assert got[("xdesk_replies_sent_total", (("kind", "tweet"),))] == len(answered)  # the killed one once
        assert got[("xdesk_replies_sent_total", (("kind", "dm"),))] == 0
        assert got[("xdesk_first_response_seconds_count", ())] == len(answered)
        assert got[("xdesk_first_response_seconds_bucket", (("le", "+Inf"),))] == len(answered)
        assert got[("xdesk_first_response_seconds_bucket", (("le", "300.0"),))] == len(answered)  # all quick
        assert got[("xdesk_unclaimed_cases", ())] == len(waiting)
        assert got[("xdesk_oldest_unclaimed_seconds", ())] > 0
        assert got[("xdesk_dead_letters", ())] == 0
        assert got[("xdesk_x_requests_total", (("endpoint", "POST /2/tweets"), ("status", "201")))] == len(answered)
        assert got[("xdesk_x_requests_total", (("endpoint", "GET /2/users/:id/mentions"), ("status", "200")))] >= 1
        assert ("xdesk_x_rate_limit_remaining", (("endpoint", "GET /2/users/:id/mentions"),)) in got
        # Six mentions read (the brand's own timeline, $0.001 each) and their six authors ($0.010 each), the
        # brand itself ($0.010), each billed once however often it was read; maybe the deletion watch's read
        # of the six tweets ($0.005 each) and, after the kill, of the brand's replies ($0.001 each).
        least = 6 * 0.001 + 6 * 0.010 + 0.010
        assert least - 1e-9 <= got[("xdesk_x_cost_usd_total", ())] <= least + 6 * 0.005 + 4 * 0.001 + 1e-9
        assert got[("xdesk_worker_heartbeat_age_seconds", ())] < 30
        # The other web answers the same counts: they are read from Redis. (X's polls go on meanwhile, and
        # the ages grow: those are left out.)
        other = samples(get(f"http://127.0.0.1:{cluster.webs[1].port}/metrics", TOKEN)[1])
        settled = ("xdesk_cases_opened", "xdesk_replies_sent", "xdesk_first_response", "xdesk_unclaimed_cases",
                   "xdesk_dead_letters")
        assert {k: v for k, v in other.items() if k[0].startswith(settled)} == \
            {k: v for k, v in got.items() if k[0].startswith(settled)}

        assert json.loads(get(f"{base}/readyz")[1]) == {"ready": True}
        for worker in cluster.workers:
            cluster.retire(worker)
        # Stands for 31 s passing without a worker (the wait itself is the supervisor's business).
        r = redis.Redis.from_url(redis_url, decode_responses=True)
        heartbeats = Keys().heartbeats
        for owner, at in r.zrange(heartbeats, 0, -1, withscores=True):
            r.zadd(heartbeats, {owner: at - 31})
        status, body = get(f"{base}/readyz")
        assert status == 503 and "worker" in json.loads(body)["not_ready"], body
        cluster.workers[0].retired = False  # the platform starts it again
        eventually(lambda: get(f"{base}/readyz")[0] == 200, timeout=60, what="ready again")
    finally:
        cluster.stop()
