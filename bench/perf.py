"""How fast and how cheap the bridge is, black-box: the Procfile's processes between the emulators.

    python -m bench.perf

X's mention budget is at its real ratio (one poll per 3 s: 300 calls per 15 minutes), Slack takes
one post a second per channel with bursts of 3, as Slack does. One run measures, in this order:
the processes at rest (CPU, RSS), single tweets to their Slack parents, agents' replies to their
tweets, one case's reply failing at X while ten others go out, a backlog of 120 tweets over three
channels, and the Redis memory the open cases take. Every figure is printed next to its goal.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
import redis

from bench.soak_world import RedisServer, event_payload, is_case_parent, say
from bridge.core.models import CaseId, SlackTs, SlackUserId, TweetId, UserId
from bridge.sandbox.cluster import Cluster
from bridge.sandbox.fixtures import ANNA, BOT_TOKEN, DSL, GENERAL, MOBILE, SIGNING_SECRET, X_KEYS
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.store import Store

CHANNELS = (GENERAL, DSL, MOBILE)
WINDOW = 60.0  # X's 15-minute window, scaled down; its limits are scaled with it
MENTION_POLLS = int(WINDOW / 3)  # X: 300 mention reads per 15 minutes, one per 3 s
SETTINGS = f"""
[slack]
mode = "http"
default_channel = "{GENERAL}"
agents = []

[x]
min_poll_interval = 0.5

[agents.{ANNA}]
signature = "^AN"

[[topics]]
name = "DSL"
channel = "{DSL}"
keywords = ["dsl", "router"]

[[topics]]
name = "Mobile"
channel = "{MOBILE}"
keywords = ["5g", "roaming"]
"""


class TimedX(XEmulator):
    """The X emulator, noting when each reply tweet was created (for reply -> tweet latency)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tweeted_at: dict[str, float] = {}  # the tweet it replies to -> when
        self.polled_at: list[float] = []  # each read of the mentions timeline

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> Any:
        started = time.time()
        reply = super().handle(method, raw_path, headers, body)
        if method == "GET" and "/mentions" in raw_path:
            self.polled_at.append(started)
        if method == "POST" and raw_path.startswith("/2/tweets") and reply.status == 201:
            to = (json.loads(body).get("reply") or {}).get("in_reply_to_tweet_id")
            self.tweeted_at.setdefault(str(to), time.time())
        return reply


@dataclass
class Figures:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, measured: str, goal: str) -> None:
        self.rows.append((name, measured, goal))
        say(f"{name}: {measured} (goal {goal})")

    def table(self) -> str:
        width = max(len(r[0]) for r in self.rows) + 2
        second = max(len(r[1]) for r in self.rows) + 2
        lines = [f"{'figure':<{width}}{'measured':<{second}}goal"]
        lines += [f"{name:<{width}}{measured:<{second}}{goal}" for name, measured, goal in self.rows]
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Processes:
    """CPU time and memory of the bridge's processes (web, worker), whatever restarts them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _procs(self) -> list[psutil.Process]:
        return [psutil.Process(p.popen.pid) for p in self.cluster.procs if p.popen is not None and p.alive]

    def cpu(self) -> float:
        return sum(self.cpu_by_kind().values())

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU seconds so far of each kind of process (web, worker)."""
        used: dict[str, float] = {}
        for proc in self.cluster.procs:
            if proc.popen is not None and proc.alive:
                used[proc.kind] = used.get(proc.kind, 0.0) + sum(psutil.Process(proc.popen.pid).cpu_times()[:2])
        return used

    def profile(self, path: Path, seconds: int) -> list[subprocess.Popen]:
        """py-spy sampling each process for ``seconds`` into ``<path>.<kind>`` (pip install py-spy)."""
        # --gil: samples of the thread holding the GIL, i.e. Python at work, not threads waiting on
        # sockets; --rate 1000: a backlog costs well under a second of CPU, too little at the default 100.
        return [subprocess.Popen(["py-spy", "record", "--pid", str(proc.popen.pid), "--duration", str(seconds),
                                  "--format", "raw", "--output", f"{path}.{proc.kind}", "--nonblocking",
                                  "--gil", "--rate", "1000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for proc in self.cluster.procs if proc.popen is not None]

    def rss(self) -> list[float]:
        return [p.memory_info().rss / 2**20 for p in self._procs()]


def parent_of(slack: SlackEmulator, tweet_id: str) -> dict | None:
    for channel in CHANNELS:
        for message in slack.messages(channel):
            if is_case_parent(message) and event_payload(message).get("tweet_id") == tweet_id:
                return {**message, "channel": channel}
    return None


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.02)  # the emulators' state, read from outside: nothing to block on


def run(workdir: Path, seed: int, profile: Path | None = None) -> Figures:
    rng = random.Random(seed)
    figures = Figures()
    redis_server = RedisServer(workdir / "redis")
    limits = {"GET /2/users/:id/mentions": MENTION_POLLS}
    x = TimedX(window_seconds=WINDOW, rate_limits=limits, **X_KEYS)
    slack = SlackEmulator(channels=CHANNELS, post_rate_per_channel=1.0, post_burst=3, bot_token=BOT_TOKEN,
                          signing_secret=SIGNING_SECRET, users={ANNA: {"name": "anna"}})
    settings = workdir / "settings.toml"
    settings.write_text(SETTINGS)
    with x, slack:
        cluster = Cluster(x, slack, redis_server.url, settings, workdir).start()
        procs = Processes(cluster)
        try:
            idle_rate = at_rest(procs, figures)
            tweets = latency_to_slack(x, slack, rng, figures)
            parents = latency_to_x(x, slack, cluster, tweets, figures)
            stuck_case(x, slack, cluster, parents, figures)
            backlog(x, slack, procs, idle_rate, figures, profile)
            redis_per_case(redis_server, figures)
            redis_at_scale(redis_server, figures)
            figures.add("RSS per process", " / ".join(f"{mb:.0f} MB" for mb in procs.rss()), "<= 150 MB")
        finally:
            cluster.stop()
            redis_server.stop()
    return figures


def at_rest(procs: Processes, figures: Figures, seconds: float = 30.0) -> float:
    time.sleep(5)  # past start-up
    before, started = procs.cpu(), time.monotonic()
    time.sleep(seconds)
    rate = (procs.cpu() - before) / (time.monotonic() - started)
    figures.add("idle CPU (web + worker)", f"{100 * rate:.2f} % of one core", "<= 1 %")
    return rate


def latency_to_slack(x: TimedX, slack: SlackEmulator, rng: random.Random, figures: Figures,
                     n: int = 100) -> list[str]:
    tweeted: dict[str, float] = {}
    for i in range(n):
        # Customers tweet when they like, not in step with the polls: random gaps of 0.4 to 1.6 s.
        time.sleep(rng.uniform(0.4, 1.6))
        topic = ("router", "5G", "bill")[i % 3]  # over three channels: Slack's pace is not what is measured
        tweeted[x.add_tweet(f"@Telekom_hilft my {topic} {i} is down", author=f"kunde_{i}")] = time.time()
    tweets = list(tweeted)
    wait(lambda: all(parent_of(slack, t) is not None for t in tweets), 60, "every parent")
    took = [float(parent_of(slack, t)["ts"]) - at for t, at in tweeted.items()]  # type: ignore[index]
    # Of that, the wait for X's next poll (the budget's) and what the bridge took from the poll on.
    polls = sorted(x.polled_at)
    waited = [next(p for p in polls if p >= at) - at for at in tweeted.values()]
    bridge = [t - w for t, w in zip(took, waited, strict=True)]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    figures.add("tweet -> Slack parent p50 / p99", f"{statistics.median(took):.2f} s / {percentile(took, .99):.2f} s",
                "<= 1.5 s / <= 3 s at a 3 s poll budget")
    figures.add("  of which the bridge, p50 / p99", f"{statistics.median(bridge):.3f} s / "
                f"{percentile(bridge, .99):.3f} s", "next to nothing")
    say(f"mention polls every {statistics.median(gaps):.2f} s (median), max {max(gaps):.2f} s; the wait for the "
        f"next poll p50 {statistics.median(waited):.2f} s")
    return tweets


def claim_and_reply(cluster: Cluster, slack: SlackEmulator, parent: dict, text: str) -> float:
    cluster.act(slack.add_reaction, ANNA, parent["channel"], parent["ts"], "eyes")
    wait(lambda: f"<@{ANNA}>" in str(slack.message(parent["channel"], parent["ts"])), 15, "the claim")
    sent = time.time()
    cluster.act(slack.post_user_message, ANNA, parent["channel"], text, thread_ts=parent["ts"])
    return sent


def latency_to_x(x: TimedX, slack: SlackEmulator, cluster: Cluster, tweets: list[str], figures: Figures,
                 n: int = 30) -> list[dict]:
    parents = [parent_of(slack, t) for t in tweets]
    took = []
    for i, parent in enumerate(parents[:n]):
        assert parent is not None
        tweet_id = event_payload(parent)["tweet_id"]
        sent = claim_and_reply(cluster, slack, parent, f"Reset done for line {i}.")
        wait(lambda t=tweet_id: t in x.tweeted_at, 15, f"the reply to {tweet_id}")
        took.append(x.tweeted_at[tweet_id] - sent)
    figures.add("Slack reply -> tweet p50 / p99", f"{statistics.median(took):.2f} s / {percentile(took, .99):.2f} s",
                "keep (0.03 s / 0.05 s)")
    return [p for p in parents[n:] if p is not None]


def stuck_case(x: TimedX, slack: SlackEmulator, cluster: Cluster, parents: list[dict], figures: Figures) -> None:
    stuck, others = parents[0], parents[1:11]
    stuck_tweet = event_payload(stuck)["tweet_id"]
    x.fail_next("POST", r"^/2/tweets$", status=503, times=10**6, body_regex=f'"{stuck_tweet}"')
    claim_and_reply(cluster, slack, stuck, "We are looking into it.")
    took = []
    for i, parent in enumerate(others):
        tweet_id = event_payload(parent)["tweet_id"]
        sent = claim_and_reply(cluster, slack, parent, f"Fixed line {i} meanwhile.")
        wait(lambda t=tweet_id: t in x.tweeted_at, 30, f"the reply to {tweet_id}")
        took.append(x.tweeted_at[tweet_id] - sent)
    held = stuck_tweet not in x.tweeted_at
    time.sleep(10)  # X keeps failing a while longer
    x.clear_faults()
    wait(lambda: stuck_tweet in x.tweeted_at, 60, "the stuck reply once X answers")
    once = sum(p["in_reply_to_tweet_id"] == stuck_tweet for p in x.posted) == 1
    figures.add("others' replies while one case's X call fails", f"max {max(took):.2f} s, stuck one "
                f"{'held' if held else 'NOT held'}, sent {'once' if once else 'NOT once'}", "within 2 s; once later")


def backlog(x: XEmulator, slack: SlackEmulator, procs: Processes, idle_rate: float, figures: Figures,
            profile: Path | None = None, per_channel: int = 40) -> None:
    words = {GENERAL: "bill", DSL: "router", MOBILE: "5G"}
    before = {c: len([m for m in slack.messages(c) if is_case_parent(m)]) for c in CHANNELS}
    spies = procs.profile(profile, seconds=45) if profile else []
    cpu, started = procs.cpu_by_kind(), time.monotonic()
    for i in range(per_channel):
        for channel in CHANNELS:
            x.add_tweet(f"@Telekom_hilft my {words[channel]} backlog {i}", author=f"backlog_{channel}_{i}")
    wait(lambda: all(len([m for m in slack.messages(c) if is_case_parent(m)]) >= before[c] + per_channel
                     for c in CHANNELS), 300, "the backlog in Slack")
    elapsed = time.monotonic() - started
    now = procs.cpu_by_kind()
    by_kind = {kind: now.get(kind, 0.0) - cpu.get(kind, 0.0) for kind in now}
    used = sum(by_kind.values()) - idle_rate * elapsed
    for spy in spies:
        spy.wait()
    if spies:
        say(f"the processes' profiles of the backlog (py-spy, collapsed stacks): {profile}.web, {profile}.worker")
    ratios = []
    for channel in CHANNELS:
        times = sorted(float(m["ts"]) for m in slack.messages(channel) if is_case_parent(m))[-per_channel:]
        ideal = (per_channel - 3) / 1.0  # Slack's ceiling: three at once, then one a second
        ratios.append(ideal / (times[-1] - times[0]))
    figures.add("backlog of 120 over 3 channels", f"{min(ratios):.2f} of Slack's ceiling", ">= 0.95")
    tweets = per_channel * len(CHANNELS)
    raw = ", ".join(f"{kind} {1000 * seconds / tweets:.1f}" for kind, seconds in sorted(by_kind.items()))
    figures.add("CPU per handled tweet", f"{1000 * used / tweets:.1f} ms over idle ({raw} ms raw)",
                "<= 2 ms over idle")


def sizes_by_family(r: redis.Redis) -> tuple[dict[str, int], int]:
    """Bytes of every key family, and of what stays past a day (done-marks and answered attempts
    expire sooner: bridge/storage)."""
    sizes: dict[str, int] = {}
    kept = 0
    for key in r.scan_iter(count=1000):
        family = key.split(":")[1] if key.count(":") else key
        size = int(r.memory_usage(key) or 0)
        sizes[family] = sizes.get(family, 0) + size
        ttl = r.ttl(key)
        kept += size if ttl < 0 or ttl > 25 * 3600 else 0
    return sizes, kept


def top_families(sizes: dict[str, int], cases: int) -> str:
    return ", ".join(f"{name} {size // max(1, cases)}" for name, size in sorted(sizes.items(), key=lambda i: -i[1])[:6])


def redis_per_case(redis_server: RedisServer, figures: Figures) -> None:
    r = redis_server.client
    cases = int(r.get("xdesk:seq:case") or 0)
    sizes, kept = sizes_by_family(r)
    figures.add("Redis per open case", f"{sum(sizes.values()) // max(1, cases)} bytes now, "
                f"{kept // max(1, cases)} after a day", "<= 1 KB in steady state")
    say(f"bytes per case by key family: {top_families(sizes, cases)}")


def redis_at_scale(redis_server: RedisServer, figures: Figures, cases: int = 20_000) -> None:
    """A desk's steady state: ``cases`` cases stored by the bridge's own Store, each like the run's
    first (its tweet, customer and case fields), posted to Slack, claimed, answered once and resolved. The lookups are
    fields of hashes bucketed 1,000 ways (bridge/storage/keys.py): a few hundred cases, as in the
    run, leave most buckets holding one field, which costs what a key of its own did."""
    first = Store(redis_server.client)
    case = first.case(CaseId("1"))
    assert case is not None
    sample = first.tweet(case.first_tweet)
    assert sample is not None
    r = redis.Redis(unix_socket_path=str(redis_server.socket), db=1, decode_responses=True)
    r.flushdb()
    store = Store(r)
    base, ts = 1_860_000_000_000_000_000, 1_764_000_000.0
    for i in range(cases):
        tweet_id, reply_id = TweetId(str(base + i * 7_919_000_123)), TweetId(str(base + i * 7_919_000_123 + 1))
        author = replace(sample.author, id=UserId(str(10_000_000 + i * 7_919)), username=f"kunde_{i}")
        ingested = store.ingest(replace(sample, id=tweet_id, conversation_id=tweet_id, author=author),
                                case.channel, case.topic, True)
        store.set_parent(ingested.case_id, case.channel, SlackTs(f"{ts + i * 1.731137:.6f}"))
        store.claim(ingested.case_id, SlackUserId(ANNA))
        store.link_brand_tweet(ingested.case_id, reply_id)
        store.resolve(ingested.case_id, SlackUserId(ANNA))
    for key in r.scan_iter(match="xdesk:lane:*"):
        r.delete(key)  # the jobs that would post them: gone once done
    r.delete("xdesk:lanes", "xdesk:wake")
    sizes, kept = sizes_by_family(r)
    figures.add(f"Redis per open case at {cases:,} cases", f"{kept // cases} bytes (stored cases, as the bridge "
                "keeps them past a day)", "<= 1 KB in steady state")
    say(f"bytes per case at {cases:,} cases by key family: {top_families(sizes, cases)}")
    r.flushdb()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, Redis)")
    parser.add_argument("--profile", type=Path,
                        help="write py-spy's samples of each process during the backlog to FILE.web and FILE.worker")
    opts = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="xdesk-perf-"))
    figures = run(workdir, opts.seed, opts.profile)
    print(figures.table(), flush=True)
    if opts.keep:
        say(f"logs and Redis data kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
