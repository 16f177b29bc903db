"""Counting the soak's effects from the emulators' state, and the table it prints at the end.

For every effect: how many were expected (from the :class:`~bench.soak_people.Plan`), done, done
more than once and never done. Never counted from the bridge's own bookkeeping in Redis.
"""

from __future__ import annotations

import shlex
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from bench.soak_faults import FaultyX, Trace
from bench.soak_people import Plan
from bench.soak_world import AGENTS, BRAND, channel_ids, event_payload, is_case_parent
from bridge.sandbox.fixtures import block_text
from bridge.sandbox.slack.server import SlackEmulator
from bridge.storage.keys import Keys

SENT_EMOJI = "outbox_tray"


@dataclass
class Row:
    """One line of the table: an effect, and which keys of it were done twice or never."""

    effect: str
    expected: int
    done: int
    duplicated: int
    lost: int
    duplicated_keys: list[Any] = field(default_factory=list)
    lost_keys: list[Any] = field(default_factory=list)


@dataclass
class Census:
    """Every effect's row, the anomalies (each should be 0) and figures shown for information."""

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
            payload, job = event_payload(m), str(event_payload(m).get("job", ""))
            if is_case_parent(m):
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
            return f"parent:{r.hget(*Keys().tweet(key))}"
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
    p50, p95, p99 = (values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.95, 0.99))
    return f"p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {values[-1]:.1f}"


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


def table(result: Census, stats: dict[str, Any], argv: list[str]) -> str:
    """What the soak prints on stdout: the effects, then the run's figures and the command to repeat it."""
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
