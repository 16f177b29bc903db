"""reaction_added / reaction_removed on a case's parent: claim, release, resolve."""

from __future__ import annotations

import logging

from slack_bolt import App

from bridge.desk.desk import Desk


def _item(event: dict) -> tuple[str, str, str, str] | None:
    item = event.get("item") or {}
    fields = (event.get("user"), item.get("channel"), item.get("ts"), event.get("reaction"))
    if item.get("type") != "message" or not all(isinstance(f, str) and f for f in fields):
        return None
    return fields  # type: ignore[return-value]


def register(app: App, desk: Desk) -> None:
    @app.event("reaction_added")
    def reaction_added(event: dict, logger: logging.Logger) -> None:
        if (fields := _item(event)) is None:
            logger.info("slack.event_ignored type=reaction_added why=not_a_message_reaction_or_malformed")
            return
        desk.reaction_added(*fields)

    @app.event("reaction_removed")
    def reaction_removed(event: dict, logger: logging.Logger) -> None:
        if (fields := _item(event)) is None:
            logger.info("slack.event_ignored type=reaction_removed why=not_a_message_reaction_or_malformed")
            return
        desk.reaction_removed(*fields)
