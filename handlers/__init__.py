"""Slack's doorway: Bolt listeners that turn Slack payloads into calls on the core, and nothing more."""

from __future__ import annotations

from slack_bolt import App

from bridge.desk.desk import Desk
from bridge.desk.edits import Edits
from handlers import admin, case_actions, commands, edits, fallback, messages, reactions, saved_replies


def register_all(app: App, desk: Desk) -> None:
    reactions.register(app, desk)
    edits.register(app, Edits(desk))  # before messages: its listener takes every message event
    messages.register(app, desk)
    commands.register(app, desk)
    saved_replies.register(app, desk)
    case_actions.register(app, desk)
    admin.register(app, desk)
    fallback.register(app)  # last: it matches whatever the others did not
