"""The Slack emulator's workspace: channels, users, messages with their threads and reactions.

Plain data, no I/O and no locking: :class:`~bridge.sandbox.slack.server.SlackEmulator` holds one lock
around every use. Messages are stored the way ``conversations.history`` shows them (a parent carries
``thread_ts``, ``reply_count``, ``reply_users``, ``latest_reply``; a reply carries ``thread_ts`` and
``parent_user_id``), see https://docs.slack.dev/messaging/retrieving-messages and
https://docs.slack.dev/reference/objects/message-object.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.sandbox.slack.errors import ApiError

Message = dict[str, Any]


if TYPE_CHECKING:
    from bridge.sandbox.slack.views import Views


@dataclass
class Channel:
    id: str
    name: str
    created: int
    bot_is_member: bool = True
    archived: bool = False

    @property
    def type(self) -> str:
        # The event field `channel_type`: https://docs.slack.dev/reference/events/message.channels
        return {"G": "group", "D": "im"}.get(self.id[0], "channel")


class Workspace:
    """One team with one bot user; ``ts`` values are unique and increasing, as Slack's are per channel."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        bot_name: str,
        channels: dict[str, str],
        channels_without_bot: frozenset[str],
        users: dict[str, dict[str, Any]],
        usergroups: dict[str, list[str]],
    ) -> None:
        self.team_id, self.team_domain = team_id, team_domain
        self.bot_user_id, self.bot_id, self.app_id, self.bot_name = bot_user_id, bot_id, app_id, bot_name
        created = int(time.time()) - 86400
        self.channels = {
            cid: Channel(cid, name, created, cid not in channels_without_bot)
            for cid, name in channels.items()
        }
        self.users = {uid: dict(u) for uid, u in users.items()}
        self.usergroups = {gid: list(members) for gid, members in usergroups.items()}
        self.messages: dict[str, dict[str, Message]] = {cid: {} for cid in self.channels}
        self.ephemerals: list[dict[str, Any]] = []
        self._last_us = 0
        self.views: Views  # modals, set by the server: that module builds on this one

    def next_ts(self) -> str:
        """A new "1700000000.000100"-style ts: wall-clock microseconds, strictly increasing."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    # --- look-ups ------------------------------------------------------------------------------------

    def channel(self, ref: str | None) -> Channel:
        """By ID, or by name with or without "#", as chat.postMessage accepts."""
        if not ref:
            raise ApiError("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise ApiError("channel_not_found")

    def find(self, channel: str, ts: str | None) -> Message:
        message = self.messages[channel].get(ts or "")
        if message is None:
            raise ApiError("message_not_found")
        return message

    def thread_of(self, channel: str, ts: str) -> list[Message]:
        """The parent then its replies, oldest first; a lone message is a thread of one."""
        root = self.find(channel, ts).get("thread_ts", ts)
        parent = self.messages[channel].get(root)
        if parent is None:
            raise ApiError("thread_not_found")
        replies = [
            m for m in self.messages[channel].values() if m.get("thread_ts") == root and m["ts"] != root
        ]
        return [parent, *replies]

    def top_level(self, channel: str) -> list[Message]:
        """What the channel shows: parents, lone messages and replies also sent to the channel."""
        return [
            m
            for m in self.messages[channel].values()
            if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"
        ]

    def permalink(self, channel: str, message: Message) -> str:
        # Shape of https://docs.slack.dev/reference/methods/chat.getPermalink
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link

    # --- changes --------------------------------------------------------------------------------------

    def add(self, channel: str, message: Message, thread_ts: str | None = None) -> Message:
        """Store a new message (``ts`` assigned here); a reply also updates its parent's thread fields."""
        message["ts"] = self.next_ts()
        if thread_ts:
            parent = self.find(channel, thread_ts)
            root = parent.get("thread_ts", parent["ts"])  # a reply to a reply lands in the same thread
            parent = self.messages[channel][root]
            message["thread_ts"] = root
            message["parent_user_id"] = parent.get("user", "")
            users = parent.setdefault("reply_users", [])
            if message.get("user") and message["user"] not in users:
                users.append(message["user"])
            parent.update(
                thread_ts=root,
                reply_count=parent.get("reply_count", 0) + 1,
                reply_users_count=len(users),
                latest_reply=message["ts"],
            )
        self.messages[channel][message["ts"]] = message
        return message

    def remove(self, channel: str, ts: str) -> Message:
        """Delete a message. A parent with replies stays as a tombstone, as in Slack's clients."""
        message = self.find(channel, ts)
        previous = copy.deepcopy(message)
        if message.get("reply_count") and message.get("thread_ts") == ts:
            for key in (
                "text",
                "blocks",
                "bot_id",
                "app_id",
                "bot_profile",
                "metadata",
                "reactions",
                "files",
            ):
                message.pop(key, None)
            message.update(
                subtype="tombstone", text="This message was deleted.", user="USLACKBOT", hidden=True
            )
            return previous
        del self.messages[channel][ts]
        root = message.get("thread_ts")
        parent = self.messages[channel].get(root or "")
        if parent is not None and root != ts:
            replies = self.thread_of(channel, root or "")[1:]
            parent["reply_count"] = len(replies)
            if replies:
                parent["latest_reply"] = replies[-1]["ts"]
                parent["reply_users"] = list(dict.fromkeys(r["user"] for r in replies if r.get("user")))
                parent["reply_users_count"] = len(parent["reply_users"])
            else:
                for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply", "thread_ts"):
                    parent.pop(key, None)
        return previous

    def react(self, channel: str, ts: str, user: str, name: str) -> Message:
        if not name or any(c in name for c in " \t\n"):
            raise ApiError("invalid_name")
        message = self.find(channel, ts)
        reactions = message.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        if user in entry["users"]:
            raise ApiError("already_reacted")
        entry["users"].append(user)
        entry["count"] = len(entry["users"])
        return message

    def unreact(self, channel: str, ts: str, user: str, name: str) -> Message:
        message = self.find(channel, ts)
        reactions = message.get("reactions", [])
        entry = next((r for r in reactions if r["name"] == name and user in r["users"]), None)
        if entry is None:
            raise ApiError("no_reaction")
        entry["users"].remove(user)
        entry["count"] = len(entry["users"])
        message["reactions"] = [r for r in reactions if r["users"]]
        if not message["reactions"]:
            del message["reactions"]
        return message

    # --- objects as the Web API shows them ----------------------------------------------------------

    def bot_profile(self) -> dict[str, Any]:
        icon = "https://a.slack-edge.com/80588/img/plugins/app/bot_{}.png"
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.bot_name,
            "updated": 1700000000,
            "app_id": self.app_id,
            "icons": {f"image_{n}": icon.format(n) for n in (36, 48, 72)},
            "team_id": self.team_id,
        }

    def conversation(self, channel: Channel) -> dict[str, Any]:
        # https://docs.slack.dev/reference/objects/conversation-object (public channel)
        empty = {"value": "", "creator": "", "last_set": 0}
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": channel.type == "channel",
            "is_group": channel.type == "group",
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.type == "group",
            "created": channel.created,
            "creator": next(iter(self.users), self.bot_user_id),
            "is_archived": channel.archived,
            "is_general": channel.id == next(iter(self.channels)),
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "shared_team_ids": [self.team_id],
            "is_member": channel.bot_is_member,
            "topic": dict(empty),
            "purpose": dict(empty),
            "previous_names": [],
        }

    def user_object(self, user_id: str | None) -> dict[str, Any]:
        # https://docs.slack.dev/reference/objects/user-object
        if user_id == self.bot_user_id:
            spec: dict[str, Any] = {"name": self.bot_name, "real_name": self.bot_name, "is_bot": True}
        elif user_id in self.users:
            spec = self.users[user_id]
        else:
            raise ApiError("user_not_found")
        real_name = spec.get("real_name", spec.get("name", user_id))
        display_name = spec.get("display_name", spec.get("name", ""))
        profile = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
            "title": spec.get("title", ""),
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "fields": {},
            "avatar_hash": "g0000000000a",
            "team": self.team_id,
        }
        if spec.get("is_bot"):
            profile.update(bot_id=self.bot_id, api_app_id=self.app_id, always_active=True)
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": spec.get("name", user_id),
            "deleted": bool(spec.get("deleted", False)),
            "color": "9f69e7",
            "real_name": real_name,
            "tz": spec.get("tz", "Europe/Berlin"),
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": bool(spec.get("is_admin", False)),
            "is_owner": bool(spec.get("is_owner", False)),
            "is_primary_owner": bool(spec.get("is_primary_owner", False)),
            "is_restricted": bool(spec.get("is_restricted", False)),
            "is_ultra_restricted": False,
            "is_bot": bool(spec.get("is_bot", False)),
            "is_app_user": False,
            "updated": 1700000000,
        }
