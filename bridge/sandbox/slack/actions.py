"""What people do in Slack, as the emulator plays it: change the workspace, then tell the app.

Each user action changes the store exactly as Slack would and delivers the event Slack sends for it
(``message``, ``message_changed``, ``message_deleted``, ``reaction_added``, ``reaction_removed``), over
Socket Mode when a client is connected, else as a signed POST to ``events_url``. Slash commands and
interactivity payloads are delivered the same way. ``retries=N`` re-delivers the same event N more
times (as Slack does when the app was slow), ``deliver_async=True`` returns before the app answers.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from typing import Any

from bridge.sandbox.slack import events as ev
from bridge.sandbox.slack.delivery import Deliverer
from bridge.sandbox.slack.events import Delivery, Signature
from bridge.sandbox.slack.store import ApiError, Workspace


class UserActions:
    """Mixed into :class:`~bridge.sandbox.slack.server.SlackEmulator`, whose state it uses."""

    _cond: threading.Condition
    _ws: Workspace
    _deliverer: Deliverer
    verification_token: str
    base: str

    # --- raw deliveries -------------------------------------------------------------------------------

    def deliver(
        self,
        event: dict[str, Any],
        *,
        retries: int = 0,
        signature: Signature = "valid",
        event_id: str | None = None,
        retry_reason: str = "http_timeout",
        deliver_async: bool = False,
    ) -> list[int]:
        """Send ``event`` in an ``event_callback`` wrapper, then re-send it ``retries`` times (same
        ``event_id``, ``X-Slack-Retry-Num`` 1..N). Returns one status per attempt; [] if async."""
        delivery = self._send_event(
            event,
            retries=retries,
            signature=signature,
            event_id=event_id,
            retry_reason=retry_reason,
            deliver_async=deliver_async,
        )
        return [] if deliver_async else list(delivery.statuses)

    def _send_event(
        self,
        event: dict[str, Any],
        *,
        retries: int = 0,
        signature: Signature = "valid",
        event_id: str | None = None,
        retry_reason: str = "http_timeout",
        deliver_async: bool = False,
    ) -> Delivery:
        event = copy.deepcopy(event)
        with self._cond:
            event.setdefault("event_ts", self._ws.next_ts())
            wrapper = ev.wrap(
                event,
                team_id=self._ws.team_id,
                app_id=self._ws.app_id,
                bot_user_id=self._ws.bot_user_id,
                verification_token=self.verification_token,
                event_id=event_id or ev.new_event_id(),
            )
        return self._deliverer.event(
            wrapper,
            retries=retries,
            signature=signature,
            retry_reason=retry_reason,
            deliver_async=deliver_async,
        )

    def url_verification(
        self, challenge: str | None = None, *, signature: Signature = "valid"
    ) -> tuple[int, str]:
        """The ``url_verification`` request Slack sends when the Request URL is saved (HTTP only)."""
        body = {
            "token": self.verification_token,
            "challenge": challenge or uuid.uuid4().hex,
            "type": "url_verification",
        }
        delivery = self._deliverer.event(body, signature=signature)
        return delivery.statuses[0], delivery.responses[0]

    def command(
        self, user: str, channel: str, text: str, command: str = "/xdesk", *, signature: Signature = "valid",
        retries: int = 0,
    ) -> tuple[int, str]:
        """A slash command; returns the app's (status, body). Fields as in
        https://docs.slack.dev/interactivity/implementing-slash-commands#app_command_handling;
        ``retries`` sends the very same request again (a proxy's retry, a lost answer)."""
        with self._cond:
            known = self._ws.channels.get(channel)
            fields = {
                "token": self.verification_token,
                "team_id": self._ws.team_id,
                "team_domain": self._ws.team_domain,
                "channel_id": channel,
                "channel_name": known.name if known else channel.lower(),
                "user_id": user,
                "user_name": self._ws.users.get(user, {}).get("name", user),
                "command": command,
                "text": text,
                "api_app_id": self._ws.app_id,
                "is_enterprise_install": "false",
                "response_url": f"{self.base}/respond/commands/{self._ws.team_id}/{uuid.uuid4().hex}",
                "trigger_id": self._ws.views.issue_trigger(user),
            }
        delivery = self._deliverer.form("slash_commands", fields, dict(fields), signature=signature,
                                        retries=retries)
        return delivery.statuses[0], delivery.responses[0]

    def interact(self, payload: dict[str, Any], *, signature: Signature = "valid") -> tuple[int, str]:
        """An interactivity payload (``block_actions``, ``view_submission``...) as ``payload=<json>``."""
        payload = copy.deepcopy(payload)
        payload.setdefault("token", self.verification_token)
        payload.setdefault("api_app_id", self._ws.app_id)
        payload.setdefault("team", {"id": self._ws.team_id, "domain": self._ws.team_domain})
        with self._cond:  # good for one views.open within 3 s, as Slack's
            payload.setdefault("trigger_id", self._ws.views.issue_trigger(str(payload.get("user", {}).get("id"))))
        if payload.get("type") == "block_actions":
            payload.setdefault(
                "response_url", f"{self.base}/respond/actions/{self._ws.team_id}/{uuid.uuid4().hex}"
            )
        delivery = self._deliverer.form(
            "interactive", {"payload": json.dumps(payload)}, payload, signature=signature
        )
        return delivery.statuses[0], delivery.responses[0]

    def click(self, user: str, channel: str, message_ts: str, action_id: str) -> tuple[int, str]:
        """``user`` clicks the button ``action_id`` of a message or of an ephemeral shown to them.

        The ``block_actions`` payload as Slack sends it:
        https://docs.slack.dev/reference/interaction-payloads/block_actions-payload (an ephemeral
        message's payload has ``container.is_ephemeral`` and no ``message``).
        """
        with self._cond:
            target = self._ws.channel(channel)
            self._known_user(user)
            shown = [e for e in self._ws.ephemerals
                     if e["channel"] == target.id and e["message_ts"] == message_ts and e["user"] == user]
            message = None if shown else self._ws.find(target.id, message_ts)
            blocks = (shown[0]["blocks"] if shown else message.get("blocks")) or []  # type: ignore[union-attr]
            found = [(block.get("block_id", ""), element) for block in blocks if block.get("type") == "actions"
                     for element in block.get("elements", []) if element.get("action_id") == action_id]
            if not found:
                raise ApiError("action_not_found")  # the emulator's own: a test clicked what is not there
            block_id, element = found[0]
            container: dict[str, Any] = {"type": "message", "message_ts": message_ts, "channel_id": target.id,
                                         "is_ephemeral": bool(shown)}
            thread_ts = shown[0]["thread_ts"] if shown else message.get("thread_ts")  # type: ignore[union-attr]
            if thread_ts:
                container["thread_ts"] = thread_ts
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": {"id": user, "username": self._ws.users[user].get("name", user),
                         "name": self._ws.users[user].get("name", user), "team_id": self._ws.team_id},
                "container": container,
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": target.id, "name": target.name},
                "state": {"values": {}},
                "actions": [{"action_id": action_id, "block_id": block_id, "text": element.get("text"),
                             "value": element.get("value", ""), "type": element.get("type", "button"),
                             "action_ts": self._ws.next_ts(),
                             **({"style": element["style"]} if element.get("style") else {})}],
            }
            if message is not None:
                payload["message"] = copy.deepcopy(message)
        return self.interact(payload)

    # --- what users do ------------------------------------------------------------------------------

    def post_user_message(
        self,
        user: str,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        subtype: str | None = None,
        files: list[dict[str, Any]] | None = None,
        *,
        retries: int = 0,
        deliver_async: bool = False,
    ) -> str:
        """``user`` writes ``text`` (in the thread of ``thread_ts``); returns the new message's ts."""
        with self._cond:
            target = self._ws.channel(channel)
            self._known_user(user)
            message: dict[str, Any] = {
                "user": user,
                "type": "message",
                "text": text,
                "team": self._ws.team_id,
            }
            if subtype:
                message["subtype"] = subtype
            if subtype in (None, "file_share", "thread_broadcast"):
                message["client_msg_id"] = str(uuid.uuid4())
                message["blocks"] = ev.rich_text(text)
            if files:
                message.update(files=copy.deepcopy(files), upload=False)
            self._ws.add(target.id, message, thread_ts)
            event = ev.message_event(target.id, target.type, message)
            self._cond.notify_all()
        self._send_event(event, retries=retries, deliver_async=deliver_async)
        return str(message["ts"])

    def edit_message(
        self, user: str, channel: str, ts: str, text: str, *, retries: int = 0, deliver_async: bool = False
    ) -> Delivery:
        """``user`` edits their own message: Slack sends ``message`` / ``message_changed``."""
        with self._cond:
            target = self._ws.channel(channel)
            message = self._ws.find(target.id, ts)
            if message.get("user") != user or message.get("bot_id"):
                raise ApiError("cant_update_message")
            previous = copy.deepcopy(message)
            event_ts = self._ws.next_ts()
            message.update(text=text, blocks=ev.rich_text(text), edited={"user": user, "ts": event_ts})
            event = ev.message_changed_event(target.id, target.type, previous, message, event_ts)
            self._cond.notify_all()
        return self._send_event(event, retries=retries, deliver_async=deliver_async)

    def delete_message(
        self, channel: str, ts: str, *, retries: int = 0, deliver_async: bool = False
    ) -> Delivery:
        """A person deletes the message: Slack sends ``message`` / ``message_deleted``."""
        with self._cond:
            target = self._ws.channel(channel)
            previous = self._ws.remove(target.id, ts)
            event = ev.message_deleted_event(target.id, target.type, previous, self._ws.next_ts())
            self._cond.notify_all()
        return self._send_event(event, retries=retries, deliver_async=deliver_async)

    def add_reaction(
        self, user: str, channel: str, ts: str, name: str, *, retries: int = 0, deliver_async: bool = False
    ) -> Delivery:
        """``user`` reacts with ``:name:``: Slack sends ``reaction_added`` (raises if already reacted)."""
        return self._reaction("reaction_added", user, channel, ts, name, retries, deliver_async)

    def remove_reaction(
        self, user: str, channel: str, ts: str, name: str, *, retries: int = 0, deliver_async: bool = False
    ) -> Delivery:
        return self._reaction("reaction_removed", user, channel, ts, name, retries, deliver_async)

    def _reaction(
        self, kind: str, user: str, channel: str, ts: str, name: str, retries: int, deliver_async: bool
    ) -> Delivery:
        with self._cond:
            target = self._ws.channel(channel)
            self._known_user(user)
            change = self._ws.react if kind == "reaction_added" else self._ws.unreact
            message = change(target.id, ts, user, name)
            event = ev.reaction_event(
                "reaction_added" if kind == "reaction_added" else "reaction_removed",
                user,
                name,
                target.id,
                message,
                self._ws.next_ts(),
            )
            self._cond.notify_all()
        return self._send_event(event, retries=retries, deliver_async=deliver_async)

    def _known_user(self, user: str) -> None:
        if user not in self._ws.users:
            raise ApiError("user_not_found")
