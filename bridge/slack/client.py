"""The Slack Web API as the core needs it: post, update, react, answer ephemerally, look up users.

Built on slack-sdk's ``WebClient`` pointed at ``SLACK_API_URL``. Slack's 429s are retried after their
``Retry-After`` by the SDK (https://api.slack.com/apis/rate-limits): a 429 means nothing happened.
A 5xx or a timeout may come after Slack did post, so those are not retried blindly here: they reach
the caller as :class:`SlackError`, and the outbox job looks in Slack for its message before it tries
again (``find_posted``).
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bridge.core.log import kv
from bridge.core.settings import Environment

log = logging.getLogger(__name__)

# Errors after which the same call will not succeed by trying again.
PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks",
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope",
    "message_not_found", "cant_update_message", "user_not_in_channel", "restricted_action",
}  # fmt: skip
# Of those, the ones an operator fixes (the bot's token or its scopes): a job waits for them, parked.
OPERATOR = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope"}


class SlackError(Exception):
    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error

    @property
    def permanent(self) -> bool:
        return self.error in PERMANENT

    @property
    def fix(self) -> str | None:
        """What an operator must do before any retry can succeed, if that is what is wrong."""
        if self.error not in OPERATOR:
            return None
        if self.error == "missing_scope":
            return "give the Slack app the scopes of slack-manifest.yml and reinstall it"
        return "set a working SLACK_BOT_TOKEN (python -m bridge check tells) and restart the processes"

    @property
    def answered(self) -> bool:
        """Slack answered with its own error (ok: false): the call did nothing."""
        return not self.error.startswith(("http_", "connection failed"))


def web_client(env: Environment, timeout: int = 15) -> WebClient:
    return WebClient(
        token=env.slack_bot_token or None,
        base_url=env.slack_api_url,
        timeout=timeout,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)],
    )


class SlackSide:
    """What the core may do in Slack."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            # The SDK's typed method knows whether Slack wants JSON or form fields for it.
            response = getattr(self.client, method.replace(".", "_"))(**params)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error") if exc.response is not None else "unknown"
            if exc.response is not None and exc.response.status_code >= 500:
                error = f"http_{exc.response.status_code}"
            raise SlackError(method, str(error)) from None
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:  # timeouts, resets
            raise SlackError(method, f"connection failed ({type(exc).__name__})") from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict] | None = None,
        thread_ts: str | None = None,
        metadata: dict | None = None,
    ) -> str:
        params: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
        if blocks is not None:
            params["blocks"] = blocks
        if thread_ts:
            params["thread_ts"] = thread_ts
        if metadata:
            params["metadata"] = metadata
        return str(self._call("chat.postMessage", **params)["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict], metadata: dict | None = None) -> None:
        self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks,
                   **({"metadata": metadata} if metadata is not None else {}))

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None,
                  blocks: list[dict] | None = None) -> None:
        params: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            params["blocks"] = blocks
        if thread_ts:
            params["thread_ts"] = thread_ts
        self._call("chat.postEphemeral", **params)

    def react(self, channel: str, ts: str, name: str) -> None:
        try:
            self._call("reactions.add", channel=channel, timestamp=ts, name=name)
        except SlackError as exc:
            if exc.error != "already_reacted":  # done before: the effect we want is there
                raise

    def open_view(self, trigger_id: str, view: dict) -> str:
        return str(self._call("views.open", trigger_id=trigger_id, view=view)["view"]["id"])

    def update_view(self, view_id: str, view: dict, hash: str | None = None) -> None:
        # hash: Slack refuses the update (hash_conflict) if the view changed since we read it.
        self._call("views.update", view_id=view_id, view=view, **({"hash": hash} if hash else {}))

    def upload(self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None = None) -> None:
        """Share a file in ``channel`` by Slack's current flow (files.getUploadURLExternal, the bytes, then
        files.completeUploadExternal; files.upload is retired): slack-sdk's files_upload_v2 does the three."""
        self._call("files.upload_v2", channel=channel, filename=filename, content=content, title=title,
                   **({"thread_ts": thread_ts} if thread_ts else {}))

    def publish_home(self, user: str, view: dict) -> None:
        self._call("views.publish", user_id=user, view=view)

    def permalink(self, channel: str, ts: str) -> str:
        return str(self._call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])

    def join(self, channel: str) -> None:
        self._call("conversations.join", channel=channel)

    def is_workspace_admin(self, user: str) -> bool:
        info = self._call("users.info", user=user).get("user", {})
        return bool(info.get("is_admin") or info.get("is_owner"))

    def group_members(self, group: str) -> list[str]:
        return list(self._call("usergroups.users.list", usergroup=group).get("users", []))

    def auth_test(self) -> dict[str, Any]:
        return self._call("auth.test")

    def installation(self) -> tuple[str | None, str | None]:
        """(team_id, app_id) of the installation this token belongs to, for checking who sends a request."""
        me = self.auth_test()
        app = None
        if me.get("bot_id"):
            try:
                app = (self._call("bots.info", bot=me["bot_id"]).get("bot") or {}).get("app_id")
            except SlackError as exc:  # then only the team is compared
                log.warning(kv("slack.bots_info_failed", error=exc.error))
        return me.get("team_id"), app

    def find_posted(self, channel: str, job_id: str, since: float, thread_ts: str | None = None) -> str | None:
        """The ts of our message carrying ``job_id`` in its metadata, posted after ``since``, if any.

        https://api.slack.com/metadata/using: message metadata comes back with include_all_metadata.
        """
        method = "conversations.replies" if thread_ts else "conversations.history"
        params: dict[str, Any] = {"channel": channel, "oldest": f"{since:.6f}", "limit": 200,
                                  "include_all_metadata": True}
        if thread_ts:
            params["ts"] = thread_ts
        cursor = None
        for _ in range(50):  # at most 10,000 messages since the attempt
            page = self._call(method, **params, **({"cursor": cursor} if cursor else {}))
            for message in page.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("job") == job_id:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def case_of_message(self, channel: str, ts: str) -> str | None:
        """The case id our parent message at ``ts`` carries in its metadata, if it is one."""
        page = self._call("conversations.history", channel=channel, latest=ts, inclusive=True, limit=1,
                          include_all_metadata=True)
        for message in page.get("messages", []):
            metadata = message.get("metadata") or {}
            if message.get("ts") == ts and metadata.get("event_type") == "xdesk_case":
                case_id = (metadata.get("event_payload") or {}).get("case_id")
                return str(case_id) if case_id else None
        return None

    # -- moving a case (bridge/effects/moves.py) --

    def history(self, channel: str, oldest: float) -> list[dict[str, Any]]:
        """The channel's top-level messages since ``oldest``, with their metadata (at most 10,000)."""
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(50):
            page = self._call("conversations.history", channel=channel, oldest=f"{oldest:.6f}", limit=200,
                              include_all_metadata=True, **({"cursor": cursor} if cursor else {}))
            messages += page.get("messages", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return messages

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Every message of the thread of ``ts``, the parent first, with their metadata."""
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(50):  # at most 10,000 messages
            page = self._call("conversations.replies", channel=channel, ts=ts, limit=200, include_all_metadata=True,
                              **({"cursor": cursor} if cursor else {}))
            # Slack repeats the parent at the top of every page.
            messages += [m for m in page.get("messages", []) if not messages or m.get("ts") != ts]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return messages

    def user_name(self, user: str) -> str:
        info = self._call("users.info", user=user).get("user", {})
        profile = info.get("profile") or {}
        return str(profile.get("display_name") or info.get("real_name") or info.get("name") or user)

    def ensure_member(self, channel: str) -> str | None:
        """Make the bot a member of ``channel`` (it joins a public one itself): None when it is one, else
        what stands in the way and how to fix it, in words.

        Slack sends channel messages and reactions only to members, so a claim or reply in a channel
        the bot has not joined is never heard (https://docs.slack.dev/reference/events/message.channels).
        """
        try:
            info = self._call("conversations.info", channel=channel).get("channel", {})
            if info.get("is_archived"):
                return membership_problem(channel, "is_archived")
            if not info.get("is_member"):
                self._call("conversations.join", channel=channel)
                log.info(kv("slack.channel_joined", channel=channel))
        except SlackError as exc:
            return membership_problem(channel, exc.error)
        return None

    def channel_problem(self, channel: str) -> str | None:
        """None when the bot can post in ``channel``, else what is wrong, in words."""
        try:
            info = self._call("conversations.info", channel=channel).get("channel", {})
        except SlackError as exc:
            return exc.error
        if info.get("is_archived"):
            return "archived"
        if not info.get("is_member", True):
            log.info(kv("slack.channel_not_member", channel=channel))
            return "the bot is not a member (invite it with /invite @xdesk)"
        return None


def membership_problem(channel: str, error: str) -> str:
    """What Slack's ``error`` about ``channel`` means for the desk, and what to do about it."""
    if error in ("method_not_supported_for_channel_type", "not_in_channel"):
        return (f"<#{channel}> is private and the bot is not in it: invite it there with `/invite @xdesk`, "
                "then try again")
    if error == "channel_not_found":
        return (f"Slack finds no channel {channel} the bot can see: check the ID, or if the channel is private, "
                "invite the bot there with `/invite @xdesk` first")
    if error == "is_archived":
        return f"<#{channel}> is archived: unarchive it or choose another channel"
    return f"Slack refused the bot in {channel} ({error})"
