"""Messages in a case's thread: an agent's reply to tweet, a note, or a hint to claim first."""

from __future__ import annotations

import logging

from slack_bolt import App

from bridge.desk.desk import Desk

# Replies of these kinds are not tweeted; the claimer is told why instead of hearing nothing.
UNTWEETED = {
    "thread_broadcast": "replies also sent to the channel aren't tweeted. Write it in the thread only.",
}
FILE_SHARE = "file_share"  # a message with files: tweeted with them as media (bridge/core/media.py)


def register(app: App, desk: Desk) -> None:
    @app.event("message")
    def message(event: dict, logger: logging.Logger) -> None:
        # Edits, deletions, bot posts (ours included) and joins are not replies.
        # https://api.slack.com/events/message#subtypes
        subtype = event.get("subtype")
        if event.get("bot_id") or subtype not in (None, FILE_SHARE, *UNTWEETED):
            logger.debug("slack.event_ignored type=message subtype=%s", subtype)
            return
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        thread_ts, text = event.get("thread_ts"), event.get("text")
        if not (user and channel and ts and thread_ts) or thread_ts == ts or not isinstance(text, str):
            return  # not a reply in a thread
        if subtype in UNTWEETED:
            desk.untweetable(user, channel, ts, thread_ts, UNTWEETED[subtype])
        else:
            files = (event.get("files") or []) if subtype == FILE_SHARE else None
            desk.message(user, channel, ts, thread_ts, text, files)
