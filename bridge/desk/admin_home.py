"""The App Home, and the modals in which admins change the desk by clicking.

Each modal's submission becomes the same change as its ``/xdesk`` command and goes through
:meth:`bridge.desk.admin.DeskAdmin.command`: the same rules, the same answer, the same audit entry.
A refused change stays in the modal with the reason; a change made shows what changed.
https://docs.slack.dev/surfaces/app-home, https://docs.slack.dev/surfaces/modals
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from bridge.core.desk_config import DAYS
from bridge.core.log import kv
from bridge.desk.admin import DeskAdmin
from bridge.desk.glance import Glance
from bridge.desk.roles import Roles
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.lanes import Done

log = logging.getLogger(__name__)

CALLBACK = "xdesk_admin_change"
TOPIC, AGENT, HOURS = "xdesk_admin_topic", "xdesk_admin_agent", "xdesk_admin_hours"
ACTIONS = (TOPIC, AGENT, HOURS)
LIST_HINT = "Comma-separated. When changing a topic: empty leaves it as it is, `-` empties it."


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _select(block_id: str, label: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    choices = [{"text": _text(shown), "value": value} for value, shown in options]
    return {"type": "input", "block_id": block_id, "label": _text(label),
            "element": {"type": "static_select", "action_id": "value", "options": choices,
                        "initial_option": choices[0]}}


def _input(block_id: str, label: str, hint: str = "", optional: bool = True) -> dict[str, Any]:
    block = {"type": "input", "block_id": block_id, "label": _text(label), "optional": optional,
             "element": {"type": "plain_text_input", "action_id": "value"}}
    return {**block, "hint": _text(hint)} if hint else block


def _picker(block_id: str, label: str, kind: str, optional: bool = True) -> dict[str, Any]:
    element: dict[str, Any] = {"type": kind, "action_id": "value"}
    if kind == "conversations_select":
        element["filter"] = {"include": ["public", "private"], "exclude_bot_users": True}
    return {"type": "input", "block_id": block_id, "label": _text(label), "optional": optional, "element": element}


MODALS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    TOPIC: ("Topic", [
        _select("action", "What to do", [("add", "Add a topic (checked last)"), ("set", "Change a topic"),
                                          ("remove", "Remove a topic"), ("order", "Move a topic in the order")]),
        _input("name", "Topic name", optional=False),
        _picker("channel", "Channel", "conversations_select"),
        _input("keywords", "Keywords", LIST_HINT),
        _input("hashtags", "Hashtags", LIST_HINT),
        _input("languages", "Languages (X codes, e.g. de, en)", LIST_HINT),
        _input("place", "Place in the order (1 is checked first)", "Only to move a topic."),
    ]),
    AGENT: ("Agent", [
        _select("action", "What to do", [("add", "Add an agent, or change a signature"),
                                          ("remove", "Remove an agent")]),
        _picker("user", "Person", "users_select", optional=False),
        _input("signature", "Signature (e.g. ^AN)", "Appended to every tweet they send; needed to add."),
    ]),
    HOURS: ("Service hours", [
        _select("day", "Day", [(day, day.capitalize()) for day in DAYS]
                + [("holiday add", "Add a holiday"), ("holiday remove", "Remove a holiday")]),
        _input("value", "Hours, or the holiday's date", "08:00-20:00, several as 08:00-12:00,13:00-20:00, or "
               "closed; a holiday as 2026-12-24", optional=False),
    ]),
}


def _values(view: dict[str, Any]) -> dict[str, str]:
    """What the admin entered, block by block, as text."""
    out = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        state = actions.get("value") or {}
        value = (state.get("value") or state.get("selected_conversation") or state.get("selected_user")
                 or (state.get("selected_option") or {}).get("value") or "")
        out[block_id] = str(value).strip()
    return out


def command_of(kind: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The ``/xdesk`` command (verb and words) that a modal's values stand for."""
    if kind == TOPIC:
        action, args = values.get("action", "add"), [values.get("name", "")]
        if action == "order":
            return "topic", ["order", *args, values.get("place", "")]
        if action in ("add", "set") and values.get("channel"):
            args.append(values["channel"])
        for field in ("keywords", "hashtags", "languages"):
            if value := values.get(field):
                args.append(f"{field}=" + ("" if value == "-" else value.replace(" ", "")))
        return "topic", [action, *args]
    if kind == AGENT:
        action = values.get("action", "add")
        signature = [values["signature"]] if action == "add" and values.get("signature") else []
        return "agent", [action, values.get("user", ""), *signature]
    day = values.get("day", "monday")
    if day.startswith("holiday"):
        return "holiday", [day.split()[1], values.get("value", "")]
    return "hours", [day, *values.get("value", "").split()]


class AdminHome:
    """Each user's App Home: the desk at a glance (bridge/desk/glance.py), and for admins the buttons that
    change the desk. Published when the user opens it and when their cases change (a ``home`` job)."""

    def __init__(self, admin: DeskAdmin, glance: Glance, roles: Roles, slack: SlackPort) -> None:
        self.admin = admin
        self.glance = glance
        self.roles = roles
        self.slack = slack

    def handlers(self) -> dict[str, Callable[[dict], Done]]:
        return {"home": self.refresh}

    def refresh(self, job: dict) -> Done:
        # The mark goes first: a change after this moment queues a refresh of its own.
        self.glance.store.r.delete(self.glance.store.keys.key("homequeued", job["user"]))
        self.opened(job["user"])
        return Done(True)

    def opened(self, user: str) -> None:
        """Publish ``user``'s App Home: the desk at a glance, and for admins the buttons that change it."""
        blocks: list[dict[str, Any]] = [{"type": "header", "text": _text("xdesk")}, *self.glance.home_blocks(user)]
        if self.roles.is_admin(user):
            blocks += [
                {"type": "section", "text": {"type": "mrkdwn", "text": self.admin.topics()[:3000]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Change the desk* (or use `/xdesk help`):"}},
                {"type": "actions", "block_id": "admin", "elements": [
                    {"type": "button", "action_id": TOPIC, "text": _text("Topics…")},
                    {"type": "button", "action_id": AGENT, "text": _text("Agents…")},
                    {"type": "button", "action_id": HOURS, "text": _text("Service hours…")},
                ]},
            ]
        try:
            self.slack.publish_home(user, {"type": "home", "blocks": blocks})
        except SlackError as exc:  # the Home shows what it showed before; the next opening tries again
            log.warning(kv("slack.home_not_published", user=user, error=exc.error))

    def open_modal(self, user: str, action_id: str, trigger_id: str) -> None:
        if action_id not in MODALS or not self.roles.is_admin(user):
            return  # only admins are shown the buttons; a stale Home of a former admin opens nothing
        title, blocks = MODALS[action_id]
        self.slack.open_view(trigger_id, {"type": "modal", "callback_id": CALLBACK, "private_metadata": action_id,
                                          "title": _text(title), "submit": _text("Change"),
                                          "close": _text("Cancel"), "blocks": blocks})

    def submitted(self, user: str, view: dict[str, Any]) -> dict[str, Any]:
        """The answer to the modal's submission: its errors, or the modal showing what changed."""
        kind, values = view.get("private_metadata", ""), _values(view)
        verb, args = command_of(kind, values)
        # The same view sent again (Slack's retry, a double click) is the same change; other values are another.
        command_id = "view:" + hashlib.sha256(json.dumps([view.get("id"), values], sort_keys=True).encode()).hexdigest()
        answer = self.admin.command(user, verb, args, command_id)
        if not answer.changed:
            first = next(iter(MODALS.get(kind, ("", [{"block_id": "action"}]))[1]))["block_id"]
            return {"response_action": "errors", "errors": {first: answer.text[:300]}}
        return {"response_action": "update", "view": {
            "type": "modal", "callback_id": CALLBACK, "title": _text("Changed"), "close": _text("Done"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": answer.text[:3000]}}]}}
