"""The /xdesk slash command: a dispatcher to the core, one subcommand per feature."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import Ack, App

from bridge.desk.desk import Desk
from handlers.saved_replies import catalogue

HELP = """*xdesk* puts the brand's X mentions in Slack.
• React :eyes: on a case to claim it; remove the reaction to release it.
• Reply in the case's thread: your message is tweeted as the brand, signed.
• Start a message with `note:` or `//` to keep it internal.
• React :white_check_mark: on the case to resolve it.
• React :envelope: on a public case to ask the customer for a DM (when the desk reads DMs).
• The case's buttons: *Hand over…* (claimer or admin), *Take over* (admin), *Move…* to another topic.
• Edit a tweeted reply: you're offered to delete the tweet and send the new text. Delete it: the tweet goes too.
• *Saved reply* (a message shortcut, in the `⋮` menu of any message in a case's thread): pick a saved \
reply, edit it, send it.
Commands: `/xdesk help` (this text), `/xdesk saved` (list saved replies; admins: `/xdesk saved add <name> \
<text>`, `/xdesk saved remove <name>`)."""


def register(app: App, desk: Desk) -> None:
    # Each takes (user, the rest of the text) and answers with what the user is shown.
    subcommands: dict[str, Callable[[str, str], str]] = {
        "saved": catalogue(desk).command,
    }

    @app.command("/xdesk")
    def xdesk(ack: Ack, command: dict) -> None:
        text = (command.get("text") or "").strip()
        verb, _, rest = text.partition(" ")
        if text in ("", "help"):
            ack(HELP)
        elif verb in subcommands:
            ack(subcommands[verb](command["user_id"], rest))
        else:
            ack(f"Unknown subcommand `{text[:40]}`.\n{HELP}")
