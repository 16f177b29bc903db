"""The soak's people: customers tweeting at the brand on X, agents claiming and answering in Slack.

What they did is written down in a :class:`Plan`: everything that should now be visible exactly once.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from dataclasses import dataclass, field

from bench.soak_world import AGENTS, BRAND, channel_ids, event_payload, is_case_parent, say
from bridge.core.tweet_text import plan_reply, slack_to_plain
from bridge.sandbox.cluster import Cluster
from bridge.sandbox.x.server import XEmulator


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
                        if event_payload(message).get("tweet_id") == tweet and is_case_parent(message):
                            return channel, message["ts"]
            time.sleep(0.25)  # the worker posts on its own schedule: look again shortly
        return None
