"""Saved replies: named reply templates from ``[saved_replies]`` and from admins in Slack.

``settings.toml`` holds the ones the team ships; admins add and remove more with ``/xdesk saved``
(kept in the Redis hash ``saved_replies``). A settings name cannot be replaced or removed from
Slack: the file stays the truth for what it defines. ``{name}`` and ``{handle}`` are filled in with
the case's customer when an agent picks one (see :mod:`bridge.desk.saved_reply_modal`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bridge.core.log import kv
from bridge.core.models import Author
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import Settings

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9_-]{1,40}$")  # the same rule as for [saved_replies] keys
MAX_TEXT = 2000  # as for [saved_replies] values
PREVIEW = 80

USAGE = ("`/xdesk saved` lists the saved replies; admins use `/xdesk saved add <name> <text>` and "
         "`/xdesk saved remove <name>`. Names are 1-40 of a-z, 0-9, - and _; `{name}` and `{handle}` "
         "in the text become the customer's name and @handle.")


@dataclass(frozen=True)
class SavedReply:
    name: str
    text: str
    source: str  # "settings" or "slack"
    added_by: str = ""


def fill(template: str, customer: Author) -> str:
    """The template with the customer's name and handle in place of ``{name}`` and ``{handle}``.

    Plain replacement, not ``str.format``: any other brace in a template stays as written.
    """
    return template.replace("{name}", customer.name).replace("{handle}", customer.username)


def _unescape(text: str) -> str:
    # Slack escapes &, < and > in a slash command's text as in messages:
    # https://docs.slack.dev/messaging/formatting-message-text#escaping
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class SavedReplies:
    """The catalogue: settings first, then Slack-added ones, each group by name."""

    def __init__(self, settings: Settings, r: redis.Redis, prefix: str, is_admin: Callable[[str], bool]) -> None:
        self.settings = settings
        self.r = r
        self.key = f"{prefix}saved_replies"
        self.is_admin = is_admin

    def all(self) -> list[SavedReply]:
        fixed = [SavedReply(n, t, "settings") for n, t in sorted(self.settings.saved_replies.items())]
        added = []
        for name, raw in sorted(self.r.hgetall(self.key).items()):
            if name in self.settings.saved_replies:
                continue  # added before the file defined the same name: the file wins
            entry = json.loads(raw)
            added.append(SavedReply(name, entry["text"], "slack", entry.get("by", "")))
        return fixed + added

    def get(self, name: str) -> SavedReply | None:
        return next((s for s in self.all() if s.name == name), None)

    # -- /xdesk saved ------------------------------------------------------------------------------

    def command(self, user: str, args: str) -> str:
        """The answer to ``/xdesk saved <args>``, shown to ``user`` only."""
        verb, _, rest = args.strip().partition(" ")
        if verb in ("", "list"):
            return self.listing()
        if verb == "add":
            name, _, text = rest.strip().partition(" ")
            return self.add(user, name, _unescape(text.strip()))
        if verb == "remove":
            return self.remove(user, rest.strip())
        return f"Unknown `saved` subcommand `{escape_mrkdwn(verb[:40])}`. {USAGE}"

    def listing(self) -> str:
        saved = self.all()
        if not saved:
            return f"No saved replies yet. {USAGE}"
        lines = ["*Saved replies* (use the *Saved reply* shortcut on a message in a case's thread):"]
        for s in saved:
            where = "settings.toml" if s.source == "settings" else f"added in Slack by <@{s.added_by}>"
            preview = s.text if len(s.text) <= PREVIEW else s.text[:PREVIEW - 1] + "…"
            lines.append(f"• `{s.name}` ({where}): {escape_mrkdwn(preview)}")
        return "\n".join(lines)

    def _refusal(self, user: str, name: str) -> str | None:
        if not self.is_admin(user):
            return "Only admins can add or remove saved replies, so nothing changed. Ask an admin."
        if not NAME.match(name):
            shown = escape_mrkdwn(name[:40]) or "(none)"
            return f"`{shown}` isn't a usable name: use 1-40 of a-z, 0-9, - and _. {USAGE}"
        if name in self.settings.saved_replies:
            return (f"`{name}` is defined in settings.toml, so it can't be changed or removed from Slack. "
                    "Change it there, or pick another name.")
        return None

    def add(self, user: str, name: str, text: str) -> str:
        if refusal := self._refusal(user, name):
            return refusal
        if not text:
            return f"A saved reply needs a text: `/xdesk saved add {name} <text>`."
        if len(text) > MAX_TEXT:
            return f"That text has {len(text)} characters; a saved reply may have up to {MAX_TEXT}."
        entry = json.dumps({"text": text, "by": user, "at": int(time.time())})
        replaced = not self.r.hset(self.key, name, entry)
        log.info(kv("saved_reply.added", name=name, user=user, replaced=replaced))
        return f"Saved reply `{name}` {'replaced' if replaced else 'added'}."

    def remove(self, user: str, name: str) -> str:
        if refusal := self._refusal(user, name):
            return refusal
        if not self.r.hdel(self.key, name):
            return f"There is no saved reply `{name}`. `/xdesk saved` lists them."
        log.info(kv("saved_reply.removed", name=name, user=user))
        return f"Saved reply `{name}` removed."
