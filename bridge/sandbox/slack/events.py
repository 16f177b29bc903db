"""Slack's side of the Events API for the emulator: event payloads, the wrapper, signing, HTTP POST.

Shapes follow Slack's docs and the AsyncAPI spec in tests/reference/slack-specs:
- wrapper: https://docs.slack.dev/apis/events-api/#callback-field (``authed_users`` is deprecated but
  still sent with a single entry, https://docs.slack.dev/changelog/2020-09-15-events-api-truncate-authed-users)
- signing: https://docs.slack.dev/authentication/verifying-requests-from-slack
- retries: https://docs.slack.dev/apis/events-api/#retries
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.sandbox.slack.store import Message

Signature = Literal["valid", "bad", "stale", "missing"]

# Slack's user agent for Events API requests.
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
NO_RESPONSE = 0  # status recorded when the app did not answer in time (or could not be reached)


@dataclass
class Delivery:
    """One thing Slack sent the app, and how each attempt (first try, then retries) was answered.

    ``statuses`` holds one HTTP status per attempt; over Socket Mode 200 means "acked in time" and
    :data:`NO_RESPONSE` means no ack arrived. An asynchronous delivery fills in while ``done`` is
    False: read it through ``SlackEmulator.deliveries`` / ``wait_for`` (copies taken under the lock).
    """

    kind: str  # "events_api", "slash_commands", "interactive" or "url_verification"
    body: dict[str, Any]
    transport: str  # "http" or "socket"
    event_id: str | None = None
    statuses: list[int] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def event(self) -> dict[str, Any]:
        return self.body.get("event", {})


def new_event_id() -> str:
    return "Ev" + "".join(secrets.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10))


def wrap(
    event: dict[str, Any],
    *,
    team_id: str,
    app_id: str,
    bot_user_id: str,
    verification_token: str,
    event_id: str,
) -> dict[str, Any]:
    """The ``event_callback`` envelope around one event."""
    # event_context is opaque to apps; Slack's is "4-" + base64 of a small JSON like this one.
    context = {"et": event.get("type"), "tid": team_id, "aid": app_id, "cid": event.get("channel")}
    encoded = base64.urlsafe_b64encode(json.dumps(context, separators=(",", ":")).encode()).decode()
    return {
        "token": verification_token,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("event_ts", time.time()))),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "authed_users": [bot_user_id],
        "is_ext_shared_channel": False,
        "event_context": "4-" + encoded.rstrip("="),
    }


# --- event payloads, as Slack sends them for what users do ---------------------------------------

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>|<(https?://[^>|]+)(?:\|([^>]*))?>")


def rich_text(text: str) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack's clients attach to a typed message (mentions and links kept)."""
    elements: list[dict[str, Any]] = []
    pos = 0
    for match in _MENTION.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        sigil, ref, _label, url, url_label = match.groups()
        if url:
            elements.append({"type": "link", "url": url, **({"text": url_label} if url_label else {})})
        elif sigil == "@":
            elements.append({"type": "user", "user_id": ref})
        elif sigil == "#":
            elements.append({"type": "channel", "channel_id": ref})
        else:
            elements.append({"type": "broadcast", "range": ref})
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    block_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
    return [
        {
            "type": "rich_text",
            "block_id": block_id,
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def _public(message: Message) -> Message:
    """A stored message as events show it: without what only grows later (thread and reaction state)."""
    shown = copy.deepcopy(message)
    for key in ("reactions", "reply_count", "reply_users", "reply_users_count", "latest_reply", "metadata"):
        shown.pop(key, None)
    return shown


def message_event(channel: str, channel_type: str, message: Message) -> dict[str, Any]:
    # https://docs.slack.dev/reference/events/message
    return {**_public(message), "channel": channel, "event_ts": message["ts"], "channel_type": channel_type}


def message_changed_event(
    channel: str, channel_type: str, previous: Message, current: Message, ts: str
) -> dict[str, Any]:
    # https://docs.slack.dev/reference/events/message/message_changed
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": _public(current),
        "previous_message": _public(previous),
        "channel": channel,
        "hidden": True,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type,
    }


def message_deleted_event(channel: str, channel_type: str, previous: Message, ts: str) -> dict[str, Any]:
    # https://docs.slack.dev/reference/events/message/message_deleted
    return {
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": _public(previous),
        "channel": channel,
        "hidden": True,
        "deleted_ts": previous["ts"],
        "event_ts": ts,
        "ts": ts,
        "channel_type": channel_type,
    }


def reaction_event(
    kind: Literal["reaction_added", "reaction_removed"],
    user: str,
    name: str,
    channel: str,
    message: Message,
    ts: str,
) -> dict[str, Any]:
    # https://docs.slack.dev/reference/events/reaction_added
    event: dict[str, Any] = {
        "type": kind,
        "user": user,
        "reaction": name,
        "item": {"type": "message", "channel": channel, "ts": message["ts"]},
        "event_ts": ts,
    }
    if message.get("user"):
        event["item_user"] = message["user"]
    return event


# --- signing and sending --------------------------------------------------------------------------


def signature_headers(secret: str, body: bytes, signature: Signature) -> dict[str, str]:
    """``X-Slack-Signature`` = v0=HMAC-SHA256(secret, "v0:{ts}:{body}"); "stale" is 6 minutes old."""
    if signature == "missing":
        return {}
    timestamp = int(time.time()) - (360 if signature == "stale" else 0)
    key = (secret + "-wrong" if signature == "bad" else secret).encode()
    digest = hmac.new(key, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    """POST and return (status, body); :data:`NO_RESPONSE` when the app timed out or was unreachable."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return NO_RESPONSE, ""
