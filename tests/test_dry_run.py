"""Dry run: the whole desk works, X is only read, and each thread shows what would have been tweeted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.core.models import TweetId
from bridge.core.settings import Environment
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.connection import stop_embedded
from bridge.x.client import XClient
from bridge.x.errors import DryRunRefused
from tests.harness import ANNA, BASE_SETTINGS, Desk, claimed_case, closed_today_env, drained, environment, notices
from tests.test_sandbox_and_check import ROOT, bridge

DRY = BASE_SETTINGS.replace("min_poll_interval = 0.2", "min_poll_interval = 0.2\ndry_run = true")


def _writes(x: XEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in x.requests if r.method != "GET" and r.path.startswith("/2/")]


def test_a_reply_in_dry_run_is_shown_in_the_thread_and_not_posted(make_desk) -> None:
    desk: Desk = make_desk(text=DRY)
    tweet_id, parent = claimed_case(desk)
    ts = desk.reply(ANNA, parent, "Please restart the router &amp; wait *two* minutes.")
    desk.wait_for(lambda: bool(notices(desk, parent, "Dry run")))
    [shown] = notices(desk, parent, "Dry run")
    assert f"in reply to https://x.com/kunde_klaus/status/{tweet_id}" in shown
    assert ">Please restart the router &amp; wait two minutes. ^AN" in shown  # quoted, as Slack text
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))

    long = "Please restart the router, wait two minutes, then check the DSL light. " * 5
    desk.reply(ANNA, parent, long.strip())
    desk.wait_for(lambda: bool(notices(desk, parent, "chain of 2 tweets")))
    [chain] = notices(desk, parent, "chain of 2 tweets")
    assert "1/2 ^AN" in chain and "2/2 ^AN" in chain
    drained(desk)
    assert desk.x.posted == []
    assert _writes(desk.x) == []
    assert any(r.path.endswith("/mentions") for r in desk.x.requests)  # reads go on as live


def test_what_would_have_been_tweeted_is_inert_text(make_desk) -> None:
    desk: Desk = make_desk(text=DRY)
    _, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "Ask for &lt;!channel&gt; at :shop: `now`")
    desk.wait_for(lambda: bool(notices(desk, parent, "Dry run")))
    [shown] = notices(desk, parent, "Dry run")
    assert "<!channel>" not in shown and ":shop:" not in shown and "`now`" not in shown
    assert "&lt;!channel&gt;" in shown


def test_the_x_client_refuses_every_write_in_dry_run(x_emu: XEmulator, slack_emu: SlackEmulator,
                                                     redis_url: str) -> None:
    env = Environment.from_environ(environment(x_emu, slack_emu, redis_url))
    tweet = x_emu.add_tweet("@Telekom_hilft hello", author="kunde_klaus")
    x = XClient(env, dry_run=True)
    x.me()  # reads work
    with pytest.raises(DryRunRefused) as refused:
        x.post_reply("hello", TweetId(tweet))
    assert "dry run" in refused.value.reason and not refused.value.retryable
    with pytest.raises(DryRunRefused):
        x.delete_tweet(TweetId(tweet))
    assert _writes(x_emu) == [] and x_emu.posted == []
    XClient(env).post_reply("hello", TweetId(tweet))  # live, the same call goes out
    assert [p["text"] for p in x_emu.posted] == ["hello"]


@pytest.mark.parametrize("closed", [False, True], ids=["as shipped", "desk closed"])
def test_check_and_the_sandbox_say_dry_run_is_on(x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str,
                                                 tmp_path: Path, closed: bool) -> None:
    env = {**environment(x_emu, slack_emu, redis_url), "BRIDGE_SETTINGS": str(ROOT / "settings.toml"),
           "BRIDGE_X__DRY_RUN": "true"}
    checked = bridge("check", env=env, timeout=60)
    assert checked.returncode == 0, checked.stdout
    assert "dry run is on" in checked.stdout

    try:
        hours = closed_today_env() if closed else {}  # after hours, an auto-reply notice comes first
        played = bridge("sandbox", env={"BRIDGE_DATA_DIR": str(tmp_path / "var"), "BRIDGE_X__DRY_RUN": "true",
                                        **hours})
    finally:
        stop_embedded(tmp_path / "var" / "sandbox")
    assert played.returncode == 0, played.stderr
    assert "Dry run is on" in played.stdout and "Would have tweeted as @Telekom_hilft" in played.stdout
