"""``/xdesk erase HANDLE`` (SPEC "Personal data"): an admin asks, confirms with a button, and a worker
erases (bridge/effects/erase.py ``PrivacyJobs``): it takes many Slack calls, more than Slack's 3 seconds."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from bridge.core.log import kv
from bridge.core.mrkdwn import escape_mrkdwn, unescape
from bridge.desk.roles import Roles
from bridge.storage.outbox import slack_lane
from bridge.storage.store import Store

log = logging.getLogger(__name__)

ERASE_ACTION = "xdesk_erase_confirm"


class EraseRequests:
    def __init__(self, roles: Roles, store: Store, clock: Callable[[], float]) -> None:
        self.roles = roles
        self.store = store
        self.clock = clock

    def prompt(self, user: str, handle: str) -> dict[str, Any]:
        """The answer to ``/xdesk erase HANDLE``: a button to confirm, for admins."""
        handle = unescape(handle.strip())
        if not self.roles.is_admin(user):
            return {"text": "Only admins may erase a customer's data."}
        if not re.fullmatch(r"@?\w{1,15}|\d{1,20}", handle):
            return {"text": "Use `/xdesk erase HANDLE` with an X username (with or without @) or a numeric X user id."}
        shown = escape_mrkdwn(handle)
        text = (f"Erase everything stored about *{shown}*? Their cases and messages leave Redis, and every message "
                "the bot posted for them in Slack becomes \"Erased on request\". This cannot be undone.")
        return {"text": text, "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "elements": [{
                "type": "button", "action_id": ERASE_ACTION, "style": "danger", "value": handle,
                "text": {"type": "plain_text", "text": "Erase"},
                "confirm": {"title": {"type": "plain_text", "text": "Erase for good?"},
                            "text": {"type": "plain_text", "text": f"Everything of {handle} is erased."},
                            "confirm": {"type": "plain_text", "text": "Erase"},
                            "deny": {"type": "plain_text", "text": "Keep"}}}]}]}

    def confirmed(self, user: str, handle: str, channel: str) -> str:
        """The admin pressed Erase: the erasure is queued for a worker (it takes many Slack calls), once."""
        if not self.roles.is_admin(user):
            return "Only admins may erase a customer's data."
        store = self.store
        request = hashlib.sha256(f"{handle.casefold().removeprefix('@')}".encode()).hexdigest()[:24]
        job = {"id": f"erase:{request}:{int(self.clock())}", "kind": "erase", "request": request, "by": user,
               "channel": channel}
        queued = store.queue_once(store.keys.key("once", "erase", request), [(slack_lane("erase"), job)], ttl=600,
                                  also=lambda pipe: pipe.set(store.keys.key("eraserequest", request), handle,
                                                             ex=3600))
        log.info(kv("privacy.erase_requested", user=user, queued=queued))
        return ("Erasing: you'll be told here when it is done." if queued
                else "That erasure is under way already: you'll be told here when it is done.")
