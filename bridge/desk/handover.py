"""Hand-over, take-over and move of a case: the buttons on its parent and the modals they open.

Slack shows the buttons to everyone, so every click is authorised here: the claimer (or an admin)
may hand a case over or move it, an admin may take it over, anyone else is told so ephemerally.
Each change is one Lua script that checks the claim, changes the case and queues what Slack must show
(the parent's update, a thread notice) in the same step, under a key made from the interaction (the
modal's view id, the click's action_ts): a submission Slack delivers twice changes the case once.
Modals need the click's trigger_id within 3 seconds, so ``views.open`` is called here and not queued
(https://docs.slack.dev/surfaces/modals#opening_modals).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from bridge.core.log import kv
from bridge.core.models import Case, CaseId
from bridge.core.settings import Settings
from bridge.desk.roles import Roles
from bridge.effects.jobs import ephemeral_job
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.scripts import HANDOVER, MOVE
from bridge.storage.store import EVENT_TTL, Store

log = logging.getLogger(__name__)

VIEW_HANDOVER = "xdesk_handover"
VIEW_MOVE = "xdesk_move"
DEFAULT_TOPIC = "default"
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")  # the move modal's option for [slack] default_channel



def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


class CaseActions:
    """What the parent's buttons and their modals do. Called from ``handlers/case_actions.py``."""

    def __init__(self, store: Store, settings: Settings, roles: Roles, slack: SlackPort) -> None:
        self.store = store
        self.settings = settings
        self.roles = roles
        self.slack = slack
        self._handover = store.r.register_script(HANDOVER)
        self._move = store.r.register_script(MOVE)

    def _tell(self, channel: str, user: str, text: str) -> None:
        self.store.queue(ephemeral_job(channel, user, text))

    def _may_act(self, case: Case | None, user: str, channel: str, what: str) -> bool:
        if case is None:
            self._tell(channel, user, "This case is no longer known to xdesk, so nothing changed.")
            return False
        if user == case.claimer or self.roles.is_admin(user):
            return True
        holder = f"<@{case.claimer}> has it" if case.claimer else "nobody has claimed it yet"
        self._tell(channel, user, f"Only the agent who claimed this case, or an admin, can {what} ({holder}).")
        log.info(kv("case.action_refused", case=case.id, user=user, action=what))
        return False

    def _open(self, trigger_id: str, view: dict[str, Any], case: Case, user: str, channel: str) -> None:
        try:
            self.slack.open_view(trigger_id, view)
        except SlackError as exc:
            log.warning(kv("slack.views_open_failed", case=case.id, user=user, error=exc.error))
            self._tell(channel, user, "Slack didn't open the form in time. Please click the button again.")

    # -- hand-over and take-over ---------------------------------------------------------------

    def open_handover(self, user: str, channel: str, case_id: str, trigger_id: str) -> None:
        case = self.store.case(CaseId(case_id))
        if not self._may_act(case, user, channel, "hand this case over"):
            return
        assert case is not None
        view = {
            "type": "modal", "callback_id": VIEW_HANDOVER, "title": _plain("Hand over the case"),
            "submit": _plain("Hand over"), "close": _plain("Cancel"),
            "private_metadata": json.dumps({"case": case.id, "channel": channel}),
            "blocks": [{"type": "input", "block_id": "target", "label": _plain("Hand this case to"),
                        "element": {"type": "users_select", "action_id": "user",
                                    "placeholder": _plain("Choose an agent")}}],
        }
        self._open(trigger_id, view, case, user, channel)

    def submit_handover(self, user: str, view: dict[str, Any]) -> dict[str, str] | None:
        """Move the claim to the chosen agent; the modal's errors by block id, or None when done."""
        meta = json.loads(view.get("private_metadata") or "{}")
        state = view.get("state", {}).get("values", {})
        target = (state.get("target", {}).get("user") or {}).get("selected_user") or ""
        if not target:
            return {"target": "Choose the agent to hand this case to."}
        if not SLACK_USER.match(target) or not self.roles.is_agent(target):
            # Modal errors are plain text: no mention here.
            return {"target": "The person you chose isn't an agent here, so they can't take cases."}
        return self._change(user, meta, f"handover:{view['id']}", target, "hand over")

    def take_over(self, user: str, channel: str, case_id: str, action_ts: str) -> None:
        case = self.store.case(CaseId(case_id))
        if case is None or not self.roles.is_admin(user):
            self._tell(channel, user, "Only an admin can take over a case. Ask its claimer to hand it over.")
            log.info(kv("case.action_refused", case=case_id, user=user, action="take over"))
            return
        errors = self._change(user, {"case": case.id, "channel": channel}, f"takeover:{case.id}:{action_ts}", "",
                              "take over")
        if errors:
            self._tell(channel, user, next(iter(errors.values())))

    def _change(self, user: str, meta: dict, key: str, target: str, what: str) -> dict[str, str] | None:
        case_id, channel = str(meta.get("case", "")), str(meta.get("channel", ""))
        admin = self.roles.is_admin(user)
        outcome, holder = self._handover(
            keys=[self.store.keys.case(case_id), self.store.keys.key(key)],
            args=[self.store.p, case_id, user, target, "1" if admin else "0", EVENT_TTL])
        log.info(kv("case." + what.replace(" ", ""), case=case_id, user=user, to=target or user, outcome=outcome,
                    previous=holder))
        if outcome in ("ok", "done", "same"):
            return None
        if outcome == "not_yours":
            return {"target": "This case isn't yours any more, so nothing changed."}
        self._tell(channel, user, "This case is no longer known to xdesk, so nothing changed.")
        return None

    # -- move ----------------------------------------------------------------------------------

    def _destinations(self) -> list[tuple[str, str, str]]:
        """(option value, label, channel) for every topic and the default channel."""
        out = [(f"topic:{t.name}", t.name, t.channel) for t in self.settings.topics]
        out.append((DEFAULT_TOPIC, "No topic (the default channel)", self.settings.slack.default_channel))
        return out

    def open_move(self, user: str, channel: str, case_id: str, trigger_id: str) -> None:
        case = self.store.case(CaseId(case_id))
        if not self._may_act(case, user, channel, "move this case"):
            return
        assert case is not None
        options = [{"text": _plain(label[:75]), "value": value} for value, label, _ in self._destinations()
                   if value != f"topic:{case.topic}" and (case.topic or value != DEFAULT_TOPIC)]
        if not options:
            self._tell(channel, user, "There is no other topic to move this case to.")
            return
        view = {
            "type": "modal", "callback_id": VIEW_MOVE, "title": _plain("Move the case"),
            "submit": _plain("Move"), "close": _plain("Cancel"),
            "private_metadata": json.dumps({"case": case.id, "channel": channel}),
            "blocks": [{"type": "input", "block_id": "target", "label": _plain("Move this case to the topic"),
                        "element": {"type": "static_select", "action_id": "topic", "options": options[:100],
                                    "placeholder": _plain("Choose a topic")}}],
        }
        self._open(trigger_id, view, case, user, channel)

    def submit_move(self, user: str, view: dict[str, Any]) -> dict[str, str] | None:
        """Re-post the case in the chosen topic's channel; the modal's errors, or None when done."""
        meta = json.loads(view.get("private_metadata") or "{}")
        state = view.get("state", {}).get("values", {})
        value = ((state.get("target", {}).get("topic") or {}).get("selected_option") or {}).get("value")
        chosen = [(name, channel) for v, name, channel in self._destinations() if v == value]
        if not chosen:
            return {"target": "Choose one of the topics."}
        name, channel = chosen[0]
        topic = "" if value == DEFAULT_TOPIC else name
        case_id = str(meta.get("case", ""))
        admin = self.roles.is_admin(user)
        outcome, detail = self._move(
            keys=[self.store.keys.case(case_id), self.store.keys.move(view['id'])],
            args=[self.store.p, case_id, user, "1" if admin else "0", channel, topic, repr(time.time()), EVENT_TTL])
        log.info(kv("case.move", case=case_id, user=user, to=channel, outcome=outcome, detail=detail))
        if outcome in ("ok", "done"):
            return None
        return {"target": {
            "not_yours": "This case isn't yours any more, so it wasn't moved.",
            "same": "The case is in that channel already.",
            "not_posted": "The case is still being posted. Try again in a moment.",
            "busy": "Something for this case is still on its way to Slack or X. Try again in a moment.",
        }.get(outcome, "This case is no longer known to xdesk, so nothing changed.")}
