"""The fault soak: the Procfile's processes under random faults and kill -9, then every effect counted.

    python -m bench.soak --tweets 2000 --replies 500 --fault-rate 0.05 --kills

Customers tweet at the brand on the X emulator; agents claim cases and answer in their threads on the
Slack emulator; ``web`` and ``worker`` processes (bridge/sandbox/cluster.py) run against an own Redis
(append-only, fsync on every write). Each request to either emulator fails with probability
``--fault-rate``, and with ``--kills`` a seeded killer SIGKILLs a random process every few seconds while
a supervisor restarts it. When the outbox is drained, the effects are counted from what the emulators
hold (Slack messages and their metadata, reactions, the tweets X received), never from the bridge's own
bookkeeping, and printed as a table. The exit status is 1 when anything was duplicated or lost.

This module runs it; the parts are ``soak_faults`` (what goes wrong), ``soak_world`` (Redis, channels,
settings), ``soak_people`` (customers and agents) and ``soak_counting`` (the census and the table).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.soak_counting import Census, census, explain, table
from bench.soak_faults import SLACK_FAULTS, X_FAULTS, Dice, FaultySlack, FaultyX, SoakCluster, Trace
from bench.soak_people import Agents, Customers, Plan
from bench.soak_world import BRAND, RedisServer, channel_ids, say, settings_text
from bridge.effects.slack_posts import SLACK_PACE
from bridge.sandbox.cluster import Cluster
from bridge.sandbox.fixtures import ADMIN, ANNA, APP_TOKEN, BEN, BOT_TOKEN, SIGNING_SECRET, X_KEYS


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
        # the cluster counts every death by SIGKILL as a crash, ours included
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
