"""The /xdesk slash command."""

from __future__ import annotations

from slack_bolt import Ack, App

HELP = """*xdesk* puts the brand's X mentions in Slack.
• React :eyes: on a case to claim it; remove the reaction to release it.
• Reply in the case's thread: your message is tweeted as the brand, signed.
• Start a message with `note:` or `//` to keep it internal.
• React :white_check_mark: on the case to resolve it.
Commands: `/xdesk help` (this text)."""


def register(app: App) -> None:
    @app.command("/xdesk")
    def xdesk(ack: Ack, command: dict) -> None:
        text = (command.get("text") or "").strip()
        if text in ("", "help"):
            ack(HELP)
        else:
            ack(f"Unknown subcommand `{text[:40]}`.\n{HELP}")
