"""The Web API methods the emulator answers, each ``(workspace, params) -> (body, events)``.

``params`` are the request's arguments as slack_sdk sends them (form fields are strings, JSON bodies keep
their types); ``events`` are the events Slack would send the app about the change (delivered only when
the emulator echoes the bot's own actions). Errors raise :class:`ApiError`. Argument and error names
are those of https://docs.slack.dev/reference/methods/ (and the 2021 OpenAPI spec in tests/reference/slack-specs).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable
from typing import Any

from bridge.sandbox.slack import events as events
from bridge.sandbox.slack.store import ApiError, Channel, Message, Workspace

Params = dict[str, Any]
Result = tuple[dict[str, Any], list[dict[str, Any]]]

MAX_TEXT = 40_000  # https://docs.slack.dev/reference/methods/chat.postMessage#truncating
MAX_BLOCKS = 50  # https://docs.slack.dev/reference/block-kit/blocks
MAX_SECTION_TEXT = 3000  # https://docs.slack.dev/reference/block-kit/blocks/section-block


def flag(params: Params, name: str) -> bool:
    value = params.get(name)
    return value is True or str(value).lower() in ("true", "1")


def _json_arg(params: Params, name: str, error: str) -> Any:
    """Form posts carry ``blocks``/``metadata`` as JSON strings, JSON posts as values."""
    value = params.get(name)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ApiError(error) from None
    return value


def _invalid_blocks(problem: str, pointer: str) -> ApiError:
    # Slack names the offending field by JSON pointer, in `errors` and in response_metadata.messages.
    text = f"{problem} [json-pointer:{pointer}]"
    return ApiError("invalid_blocks", errors=[text], response_metadata={"messages": [f"[ERROR] {text}"]})


def check_blocks(blocks: Any) -> list[dict[str, Any]] | None:
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    if len(blocks) > MAX_BLOCKS:
        raise _invalid_blocks(f"no more than {MAX_BLOCKS} items allowed", "/blocks")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _invalid_blocks("missing required field: type", f"/blocks/{i}")
        text = block.get("text")
        if block["type"] == "section":
            if not text and not block.get("fields"):
                raise _invalid_blocks("must provide either text or fields", f"/blocks/{i}")
            if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
                limit = MAX_SECTION_TEXT + 1
                raise _invalid_blocks(f"must be less than {limit} characters", f"/blocks/{i}/text/text")
        if block["type"] == "header" and isinstance(text, dict) and len(str(text.get("text", ""))) > 150:
            raise _invalid_blocks("must be less than 151 characters", f"/blocks/{i}/text/text")
    return blocks


def _metadata(params: Params) -> dict[str, Any] | None:
    # https://docs.slack.dev/messaging/message-metadata
    metadata = _json_arg(params, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        raise ApiError("invalid_metadata_format")
    if not isinstance(metadata.get("event_payload", {}), dict):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": metadata["event_type"], "event_payload": metadata.get("event_payload", {})}


def _content(params: Params) -> tuple[str, list[dict[str, Any]] | None]:
    text = str(params.get("text") or "")
    blocks = check_blocks(_json_arg(params, "blocks", "invalid_blocks_format"))
    if not text and not blocks and not params.get("attachments"):
        raise ApiError("no_text")
    if len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    return text, blocks


def _member_channel(ws: Workspace, params: Params) -> str:
    channel = ws.channel(params.get("channel"))
    if channel.archived:
        raise ApiError("is_archived")
    if not channel.bot_is_member:
        raise ApiError("not_in_channel")
    return channel.id


def _bot_message(ws: Workspace, channel: str, ts: str | None) -> Message:
    message = ws.find(channel, ts)
    if message.get("bot_id") != ws.bot_id:
        raise ApiError("cant_update_message")
    return message


def _without_metadata(messages: list[Message], keep: bool) -> list[Message]:
    shown = copy.deepcopy(messages)
    for message in shown:
        if not keep:
            message.pop("metadata", None)
        if message.get("reply_count"):
            # Thread parents as bot tokens see them in history and replies.
            message.setdefault("is_locked", False)
            message.setdefault("subscribed", False)
    return shown


def _page(params: Params, messages: list[Message], newest_first: bool) -> dict[str, Any]:
    """Slack's cursor paging: the cursor is base64("next_ts:<ts digits>") of the next page's first item."""
    oldest, latest = params.get("oldest"), params.get("latest")
    inclusive = flag(params, "inclusive")
    try:
        low = float(oldest) if oldest else None
        high = float(latest) if latest else None
    except ValueError:
        raise ApiError("invalid_ts_oldest" if oldest else "invalid_ts_latest") from None
    selected = [
        m
        for m in messages
        if (low is None or float(m["ts"]) > low or (inclusive and float(m["ts"]) == low))
        and (high is None or float(m["ts"]) < high or (inclusive and float(m["ts"]) == high))
    ]
    if newest_first:
        selected.reverse()
    if params.get("cursor"):
        try:
            start_digits = (
                base64.b64decode(str(params["cursor"]), validate=True).decode().removeprefix("next_ts:")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError("invalid_cursor") from None
        digits = [m["ts"].replace(".", "") for m in selected]
        if start_digits not in digits:
            raise ApiError("invalid_cursor")
        selected = selected[digits.index(start_digits) :]
    limit = max(1, min(int(params.get("limit") or 100), 999))
    page, rest = selected[:limit], selected[limit:]
    body: dict[str, Any] = {"messages": page, "has_more": bool(rest)}
    if rest:
        cursor = base64.b64encode(f"next_ts:{rest[0]['ts'].replace('.', '')}".encode()).decode()
        body["response_metadata"] = {"next_cursor": cursor}
    return body


# --- the methods ----------------------------------------------------------------------------------


def auth_test(ws: Workspace, params: Params) -> Result:
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_domain,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }, []


def chat_post_message(ws: Workspace, params: Params) -> Result:
    channel = _member_channel(ws, params)
    text, blocks = _content(params)
    metadata = _metadata(params)
    message: Message = {
        "user": ws.bot_user_id,
        "type": "message",
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "text": text,
        "team": ws.team_id,
        "bot_profile": ws.bot_profile(),
    }
    if blocks is not None:
        message["blocks"] = blocks
    if metadata is not None:
        message["metadata"] = metadata
    thread_ts = params.get("thread_ts") or None
    if thread_ts and flag(params, "reply_broadcast"):
        message["subtype"] = "thread_broadcast"
    if thread_ts and not re.fullmatch(r"\d+\.\d+", str(thread_ts)):
        raise ApiError("invalid_thread_ts")
    if thread_ts and thread_ts not in ws.messages[channel]:
        # Slack's answer when the parent is gone (https://github.com/slackapi/bolt-js/issues/2307).
        raise ApiError("thread_not_found")
    ws.add(channel, message, thread_ts)
    kind = ws.channels[channel].type
    return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}, [
        events.message_event(channel, kind, message)
    ]


def chat_update(ws: Workspace, params: Params) -> Result:
    channel = ws.channel(params.get("channel")).id
    message = _bot_message(ws, channel, params.get("ts"))
    text, blocks = _content(params)
    metadata = _metadata(params)
    previous = copy.deepcopy(message)
    message["text"] = text
    if blocks is not None:
        message["blocks"] = blocks
    else:
        message.pop("blocks", None)  # an update replaces the whole content
    if metadata is not None:
        message["metadata"] = metadata
    shown = {k: v for k, v in message.items() if k not in ("reactions", "reply_users", "metadata")}
    event = events.message_changed_event(channel, ws.channels[channel].type, previous, message, ws.next_ts())
    return {"channel": channel, "ts": message["ts"], "text": text, "message": copy.deepcopy(shown)}, [event]


def chat_delete(ws: Workspace, params: Params) -> Result:
    channel = ws.channel(params.get("channel")).id
    message = ws.find(channel, params.get("ts"))
    if message.get("bot_id") != ws.bot_id:
        raise ApiError("cant_delete_message")
    previous = ws.remove(channel, message["ts"])
    event = events.message_deleted_event(channel, ws.channels[channel].type, previous, ws.next_ts())
    return {"channel": channel, "ts": previous["ts"]}, [event]


def chat_post_ephemeral(ws: Workspace, params: Params) -> Result:
    channel = _member_channel(ws, params)
    user = params.get("user")
    if user not in ws.users:
        raise ApiError("user_not_in_channel")
    text, blocks = _content(params)
    ts = ws.next_ts()
    ws.ephemerals.append(
        {
            "channel": channel,
            "user": user,
            "text": text,
            "blocks": blocks,
            "thread_ts": params.get("thread_ts") or None,
            "message_ts": ts,
        }
    )
    return {"message_ts": ts}, []


def chat_get_permalink(ws: Workspace, params: Params) -> Result:
    channel = ws.channel(params.get("channel")).id
    message = ws.find(channel, params.get("message_ts"))
    return {"channel": channel, "permalink": ws.permalink(channel, message)}, []


def _reaction_args(ws: Workspace, params: Params) -> tuple[str, str, str]:
    if not params.get("channel") or not params.get("timestamp"):
        raise ApiError("no_item_specified")
    channel = ws.channel(params.get("channel")).id
    return channel, str(params["timestamp"]), str(params.get("name") or "")


def reactions_add(ws: Workspace, params: Params) -> Result:
    channel, ts, name = _reaction_args(ws, params)
    message = ws.react(channel, ts, ws.bot_user_id, name)
    return {}, [events.reaction_event("reaction_added", ws.bot_user_id, name, channel, message, ws.next_ts())]


def reactions_remove(ws: Workspace, params: Params) -> Result:
    channel, ts, name = _reaction_args(ws, params)
    message = ws.unreact(channel, ts, ws.bot_user_id, name)
    return {}, [
        events.reaction_event("reaction_removed", ws.bot_user_id, name, channel, message, ws.next_ts())
    ]


def reactions_get(ws: Workspace, params: Params) -> Result:
    channel, ts, _ = _reaction_args(ws, params)
    message = copy.deepcopy(ws.find(channel, ts))
    message.pop("metadata", None)
    message["permalink"] = ws.permalink(channel, message)
    return {"type": "message", "channel": channel, "message": message}, []


def _visible(ws: Workspace, params: Params) -> Channel:
    """A channel the bot may see: a private one only once it is a member, as in Slack."""
    channel = ws.channel(params.get("channel"))
    if channel.type == "group" and not channel.bot_is_member:
        raise ApiError("channel_not_found")
    return channel


def conversations_info(ws: Workspace, params: Params) -> Result:
    return {"channel": ws.conversation(_visible(ws, params))}, []


def conversations_join(ws: Workspace, params: Params) -> Result:
    """https://docs.slack.dev/reference/methods/conversations.join: public channels only."""
    channel = ws.channel(params.get("channel"))
    if channel.type == "group":
        raise ApiError("method_not_supported_for_channel_type")
    if channel.archived:
        raise ApiError("is_archived")
    body: dict[str, Any] = {}
    if channel.bot_is_member:
        body = {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}}
    channel.bot_is_member = True
    return {"channel": ws.conversation(channel), **body}, []


def conversations_history(ws: Workspace, params: Params) -> Result:
    channel = ws.channel(params.get("channel")).id
    body = _page(params, ws.top_level(channel), newest_first=True)
    body["messages"] = _without_metadata(body["messages"], flag(params, "include_all_metadata"))
    # Always present in Slack's answer, even for apps that never pin.
    return {**body, "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}, []


def conversations_replies(ws: Workspace, params: Params) -> Result:
    channel = ws.channel(params.get("channel")).id
    if not params.get("ts") or params["ts"] not in ws.messages[channel]:
        raise ApiError("thread_not_found")
    parent, *replies = ws.thread_of(channel, params["ts"])
    body = _page(params, replies, newest_first=False)
    # Slack repeats the parent at the top of every page of replies.
    body["messages"] = _without_metadata([parent, *body["messages"]], flag(params, "include_all_metadata"))
    return body, []


def users_info(ws: Workspace, params: Params) -> Result:
    return {"user": ws.user_object(params.get("user"))}, []


def usergroups_users_list(ws: Workspace, params: Params) -> Result:
    group = params.get("usergroup")
    if group not in ws.usergroups:
        raise ApiError("no_such_subteam")
    return {"users": list(ws.usergroups[group])}, []


METHODS: dict[str, Callable[[Workspace, Params], Result]] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "reactions.get": reactions_get,
    "conversations.info": conversations_info,
    "conversations.join": conversations_join,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "users.info": users_info,
    "bots.info": lambda ws, params: ({"bot": {"id": ws.bot_id, "deleted": False, "name": ws.bot_name,
                                              "updated": 0, "app_id": ws.app_id, "user_id": ws.bot_user_id}}, []),
    "usergroups.users.list": usergroups_users_list,
    "views.open": lambda ws, params: ws.views.open(ws, params),
    "views.update": lambda ws, params: ws.views.update(ws, params),
    "views.publish": lambda ws, params: ws.views.publish(ws, params),
}
