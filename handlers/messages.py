"""Messages in a case's thread: an agent's reply to tweet, a note, or a hint to claim first."""

from __future__ import annotations

import logging

from slack_bolt import App

from bridge.slack_to_x import Desk


def register(app: App, desk: Desk) -> None:
    @app.event("message")
    def message(event: dict, logger: logging.Logger) -> None:
        # Edits, deletions, broadcasts, bot posts (ours included) and joins are not replies.
        # https://api.slack.com/events/message#subtypes
        if event.get("subtype") or event.get("bot_id"):
            logger.debug("slack.event_ignored type=message subtype=%s", event.get("subtype"))
            return
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        thread_ts, text = event.get("thread_ts"), event.get("text")
        if not (user and channel and ts and thread_ts) or thread_ts == ts or not isinstance(text, str):
            return  # not a reply in a thread
        desk.message(user, channel, ts, thread_ts, text)
