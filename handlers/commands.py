"""The /xdesk slash command: a dispatcher to the core, one subcommand per feature."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from slack_bolt import Ack, App

from bridge.desk.admin import HELP as ADMIN_HELP
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
Commands: `/xdesk help` (this text), `/xdesk stats [today|week|month]` (the desk's figures), `/xdesk saved` \
(list saved replies; admins: `/xdesk saved add <name> <text>`, `/xdesk saved remove <name>`).
""" + ADMIN_HELP


def register(app: App, desk: Desk) -> None:
    admin = desk.admin
    # Each takes (user, the words after the subcommand) and answers with what the user is shown.
    readers: dict[str, Callable[[str, list[str]], str]] = {
        "topics": lambda user, args: admin.topics(),
        "agents": lambda user, args: admin.agents(),
        "audit": lambda user, args: admin.audit(user),
        "config": lambda user, args: admin.config_text(user),
    }
    changers = ("topic", "agent", "holiday")
    saved = catalogue(desk).command

    @app.command("/xdesk")
    def xdesk(ack: Ack, command: dict) -> None:
        text = (command.get("text") or "").strip()
        verb, _, rest = text.partition(" ")
        args = rest.split()
        user = command["user_id"]
        # Slack's trigger_id is new for each invocation: a second delivery of the same one is a repeat.
        command_id = command.get("trigger_id") or command.get("response_url") or uuid.uuid4().hex
        if text in ("", "help"):
            ack(HELP)
        elif verb == "saved":
            ack(saved(user, rest))
        elif verb in readers and not args:
            ack(readers[verb](user, args))
        elif verb == "hours" and not args:
            ack(admin.hours())
        elif verb == "erase":
            ack(**admin.erasures.prompt(user, rest))
        elif verb == "stats":
            ack(desk.glance.stats(user, args[0] if args else "today"))
        elif verb in changers or verb == "hours":
            ack(admin.command(user, verb, args, command_id).text)
        else:
            ack(f"Unknown subcommand `{text[:40]}`.\n{HELP}")
