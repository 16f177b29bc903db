"""Slack's doorway: Bolt listeners that turn Slack payloads into calls on the core, and nothing more."""

from __future__ import annotations

from slack_bolt import App

from bridge.slack_to_x import Desk
from handlers import commands, fallback, messages, reactions


def register_all(app: App, desk: Desk) -> None:
    reactions.register(app, desk)
    messages.register(app, desk)
    commands.register(app)
    fallback.register(app)  # last: it matches whatever the others did not
