"""``python -m bridge sandbox``: the real bridge between built-in emulators of X and Slack.

No credentials and nothing running needed: an embedded Redis under ``BRIDGE_DATA_DIR/sandbox``, an
emulated X and an emulated Slack on localhost, and the same web and worker code that runs in
production between them. It plays one case through and prints each step; with ``--keep`` it stays
up so that you can send more tweets to the emulated X and watch them arrive.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.app.runtime import Runtime, start_all
from bridge.core import log as logsetup
from bridge.core.settings import Environment, Settings, SettingsError, load
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.connection import connect, stop_embedded

AGENT, AGENT_NAME = "U0ANNA0001", "Anna Neumann"
if TYPE_CHECKING:
    from bridge.app.bolt import Listeners

CUSTOMER = "kunde_klaus"
STEP_TIMEOUT = 30.0


def _say(step: str) -> None:
    print(step, flush=True)


def _settings() -> Settings:
    settings = load()
    # The sandbox speaks HTTP to its own emulated Slack and polls its emulated X briskly.
    slack = settings.slack.model_copy(update={"mode": "http"})
    x = settings.x.model_copy(update={"min_poll_interval": 0.5})
    return settings.model_copy(update={"slack": slack, "x": x})


def run_sandbox(keep: bool = False, listeners: Listeners | None = None) -> int:
    try:
        settings = _settings()
    except SettingsError as exc:
        print(f"xdesk sandbox: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(os.environ.get("BRIDGE_DATA_DIR", "var")) / "sandbox"
    channels = sorted({settings.slack.default_channel, *(t.channel for t in settings.topics)})
    signature = settings.signature_of(AGENT) or "^AN"
    x = XEmulator(brand_username="Telekom_hilft", window_seconds=60).start()
    slack = SlackEmulator(channels=tuple(channels), users={AGENT: {"name": "anna", "real_name": AGENT_NAME}})
    slack.start()
    env = Environment(
        slack_bot_token=slack.bot_token, slack_signing_secret=slack.signing_secret,
        x_api_key=x.consumer_key, x_api_secret=x.consumer_secret,
        x_access_token=x.access_token, x_access_token_secret=x.access_token_secret,
        redis_url="", bridge_data_dir=data_dir, slack_api_url=slack.url, x_api_url=x.url,
    )  # fmt: skip
    logsetup.setup(env.secrets(), os.environ.get("LOG_LEVEL", "WARNING").upper())
    connect(env).flushdb()  # a fresh desk each time
    rt = Runtime(env, settings, listeners=listeners)
    stop = threading.Event()
    port, threads = start_all(rt, stop)
    slack.events_url = f"http://127.0.0.1:{port}/slack/events"
    if settings.x.dry_run:
        _say("Dry run is on ([x] dry_run = true): nothing is posted to X, threads show what would have been.")
    _say(f"xdesk sandbox: emulated X at {x.url}, emulated Slack at {slack.url}, bridge at http://127.0.0.1:{port}")
    try:
        _play(x, slack, settings, signature, channels)
        if keep:
            _say(f"\nStill running. Tweet at the brand with:\n  curl -s -X POST {x.url}/_emulator/tweets "
                 "-H 'content-type: application/json' "
                 "-d '{\"text\": \"@Telekom_hilft hello\", \"author\": \"someone\"}'\nCtrl-C to stop.")
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    except TimeoutError as exc:
        print(f"xdesk sandbox: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        slack.stop()
        x.stop()
        stop_embedded(data_dir)  # the sandbox's own Redis; a real one is left running
    return 0


def _wait(slack: SlackEmulator, what: str, predicate: Callable[[], bool]) -> None:
    if not slack.wait_for(predicate, timeout=STEP_TIMEOUT):
        raise TimeoutError(f"gave up waiting for: {what}")


def _play(x: XEmulator, slack: SlackEmulator, settings: Settings, signature: str, channels: list[str]) -> None:
    text = "@Telekom_hilft my router has dropped the internet three times tonight, what's going on?"
    tweet_id = x.add_tweet(text, author=CUSTOMER)
    _say(f"1. @{CUSTOMER} tweets: {text!r}")

    parent: dict = {}

    def posted() -> bool:
        for channel in channels:
            for message in slack.messages(channel):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("tweet_id") == tweet_id:
                    parent.update(message, channel=channel)
                    return True
        return False

    _wait(slack, "the case in Slack", posted)
    _say(f"2. The worker read the mention and opened a case in Slack channel {parent['channel']} "
         f"(thread {parent['ts']})")

    claim = settings.emoji.claim
    slack.add_reaction(AGENT, parent["channel"], parent["ts"], claim)
    _wait(slack, "the claim", lambda: f"<@{AGENT}>" in str(slack.message(parent["channel"], parent["ts"])))
    _say(f"3. {AGENT_NAME} reacted :{claim}: and the case shows her as its claimer")

    answer = "Sorry about that! We see a fault in your area; a technician is on it, fixed by 22:00."
    reply_ts = slack.post_user_message(AGENT, parent["channel"], answer, thread_ts=parent["ts"])
    _say(f"4. {AGENT_NAME} answers in the thread: {answer!r}")

    if settings.x.dry_run:
        _dry_run_shown(slack, parent, reply_ts, settings.replies.sent_emoji, answer)
        return
    # Outside the service hours the brand's auto-reply went out first: wait for Anna's own tweet.
    tweet = x.wait_for(lambda: next((p for p in x.posted if p["text"].startswith(answer)), None),
                       timeout=STEP_TIMEOUT)
    _say(f"5. The bridge tweeted as @Telekom_hilft in reply to {tweet['in_reply_to_tweet_id']}: {tweet['text']!r}")
    sent = settings.replies.sent_emoji
    _wait(slack, "the sent mark", lambda: sent in slack.reactions(parent["channel"], reply_ts))
    _say(f"6. Her message got :{sent}: and the thread links the tweet. Done: one case, one answer.")
    if not tweet["text"].endswith(signature):
        raise TimeoutError("the tweet lacks the agent's signature")


def _dry_run_shown(slack: SlackEmulator, parent: dict, reply_ts: str, sent: str, answer: str) -> None:
    def notice() -> str:
        said = [m.get("text", "") for m in slack.thread(parent["channel"], parent["ts"]) if m.get("bot_id")]
        # The answer's own notice (after hours, an auto-reply's comes first).
        return next((t for t in said if t.startswith("Dry run") and answer.split(";")[0] in t), "")

    _wait(slack, "the dry-run notice", lambda: bool(notice()) and sent in slack.reactions(parent["channel"], reply_ts))
    _say(f"5. Dry run: nothing was tweeted; the thread says what would have been:\n{notice()}")
    _say(f"6. Her message got :{sent}: as it would live. Done: one case, one answer, nothing posted to X.")
