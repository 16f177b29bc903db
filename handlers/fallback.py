"""Acknowledge everything else the app is sent.

Bolt answers a request no listener matches with 404, and Slack retries a non-2xx delivery
(https://api.slack.com/apis/connections/events-api#retries), so every event and action the app
does not act on is still acknowledged here.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App

ANY = re.compile(".*")


def register(app: App) -> None:
    @app.event(ANY)
    def other_event(event: dict, logger: logging.Logger) -> None:
        logger.debug("slack.event_ignored type=%s", event.get("type"))

    @app.action(ANY)
    def other_action(ack: Ack) -> None:
        ack()

    @app.shortcut(ANY)
    def other_shortcut(ack: Ack) -> None:
        ack()
