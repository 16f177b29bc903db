"""Edits and deletions of thread messages, and the button that replaces a tweeted reply.

Registered before handlers/messages.py, whose listener takes every ``message`` event: Bolt runs the
first listener that matches. Payloads: https://api.slack.com/events/message/message_changed,
https://api.slack.com/events/message/message_deleted, and for the button
https://api.slack.com/reference/interaction-payloads/block-actions
"""

from __future__ import annotations

from slack_bolt import Ack, App

from bridge.desk.edits import RESEND_ACTION, Edits


def _thread_reply(message: dict) -> tuple[str, str, str] | None:
    """(author, ts, thread_ts) of a person's reply in a thread, else None."""
    user, ts, thread_ts = message.get("user"), message.get("ts"), message.get("thread_ts")
    if message.get("bot_id") or not (isinstance(user, str) and isinstance(ts, str) and isinstance(thread_ts, str)):
        return None
    return (user, ts, thread_ts) if ts != thread_ts else None


def register(app: App, edits: Edits) -> None:
    @app.event({"type": "message", "subtype": "message_changed"})
    def message_changed(event: dict) -> None:
        message, before = event.get("message") or {}, event.get("previous_message") or {}
        reply, channel = _thread_reply(message), event.get("channel")
        if reply is None or not isinstance(channel, str):
            return
        user, ts, thread_ts = reply
        edit_ts = str((message.get("edited") or {}).get("ts") or event.get("event_ts") or "")
        edits.changed(user, channel, ts, thread_ts, str(before.get("text") or ""), str(message.get("text") or ""),
                      edit_ts, message.get("files") or None)

    @app.event({"type": "message", "subtype": "message_deleted"})
    def message_deleted(event: dict) -> None:
        reply, channel = _thread_reply(event.get("previous_message") or {}), event.get("channel")
        if reply is None or not isinstance(channel, str):
            return
        edits.deleted(reply[0], channel, reply[1], reply[2])

    @app.action(RESEND_ACTION)
    def resend(ack: Ack, body: dict) -> None:
        ack()
        action = next(iter(body.get("actions") or []), {})
        user = (body.get("user") or {}).get("id")
        if isinstance(user, str) and isinstance(action.get("value"), str):
            edits.resend(user, action["value"])
