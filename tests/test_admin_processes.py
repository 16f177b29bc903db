"""A change made in Slack reaches every running process within 2 seconds, and outlives a restart:
the Procfile's processes as real subprocesses (one ``web``, two ``worker``) on one Redis."""

from __future__ import annotations

import time
from pathlib import Path

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from tests.cluster import Cluster
from tests.harness import ADMIN, GENERAL, eventually, write_settings

BILLING = "C0BILLING1"


def parent_channel(slack: SlackEmulator, tweet_id: str) -> str | None:
    for channel in (GENERAL, BILLING):
        for message in slack.messages(channel):
            if (message.get("metadata") or {}).get("event_payload", {}).get("tweet_id") == tweet_id:
                return channel
    return None


def version_taken(proc, version: int) -> bool:
    return f"config.version version={version} " in proc.log_path.read_text()


def test_every_process_takes_a_change_within_two_seconds_and_keeps_it_over_a_restart(
        x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path) -> None:
    slack_emu.add_channel(BILLING, "billing")
    settings = write_settings(tmp_path / "settings.toml")
    cluster = Cluster(x_emu, slack_emu, redis_url, settings, tmp_path, webs=1, workers=2).start()
    try:
        for worker in cluster.workers:  # both running, on the file's settings
            eventually(lambda w=worker: "worker.started" in w.log_path.read_text(), timeout=60)
        status, answer = slack_emu.command(ADMIN, GENERAL, f"topic add Billing <#{BILLING}|billing> keywords=invoice")
        answered = time.monotonic()
        assert status == 200 and "Added topic *Billing*" in answer, answer
        # The web that answered, and both workers, which never saw the request, within 2 s of the answer.
        eventually(lambda: all(version_taken(p, 1) for p in cluster.procs), timeout=2,
                   what="every process to take the change")
        assert time.monotonic() - answered <= 2.0
        # The next tweet is routed by the new rule, by whichever worker reads it; then by the second alone.
        tweet = x_emu.add_tweet("@Telekom_hilft my invoice is wrong", author="kunde_klaus")
        eventually(lambda: parent_channel(slack_emu, tweet) is not None, what="the case's parent")
        assert parent_channel(slack_emu, tweet) == BILLING
        cluster.retire(cluster.workers[0])
        tweet = x_emu.add_tweet("@Telekom_hilft the invoice again", author="kunde_karla")
        eventually(lambda: parent_channel(slack_emu, tweet) is not None, what="the second case's parent")
        assert parent_channel(slack_emu, tweet) == BILLING
    finally:
        cluster.stop()

    # Every process stopped and started again: the change is kept in Redis, over settings.toml.
    (tmp_path / "again").mkdir()
    restarted = Cluster(x_emu, slack_emu, redis_url, settings, tmp_path / "again", webs=1, workers=1).start()
    try:
        tweet = x_emu.add_tweet("@Telekom_hilft invoice number three", author="kunde_kurt")
        eventually(lambda: parent_channel(slack_emu, tweet) is not None, timeout=60, what="the parent after restart")
        assert parent_channel(slack_emu, tweet) == BILLING
        _, listing = slack_emu.command(ADMIN, GENERAL, "topics")
        assert "3. *Billing* → <#C0BILLING1>" in listing, listing
    finally:
        restarted.stop()
