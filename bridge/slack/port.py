"""What the rest of the bridge needs from Slack, as a typed port; :class:`bridge.slack.client.SlackSide`
fills it through the Web API.

Code above the adapter names :class:`SlackPort`, never ``SlackSide`` or slack_sdk, so the desk's rules
can be run against an in-memory Slack in tests. Every method raises
:class:`bridge.slack.client.SlackError` when Slack refuses or cannot be reached.
"""

from __future__ import annotations

from typing import Any, Protocol


class SlackPort(Protocol):
    def post(self, channel: str, text: str, blocks: list[dict] | None = None, thread_ts: str | None = None,
             metadata: dict | None = None) -> str:
        """``chat.postMessage``; the new message's ts."""
        ...

    def update(self, channel: str, ts: str, text: str, blocks: list[dict], metadata: dict | None = None) -> None:
        ...

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None,
                  blocks: list[dict] | None = None) -> None:
        """A message only ``user`` sees."""
        ...

    def react(self, channel: str, ts: str, name: str) -> None:
        """Add the reaction; one already there counts as added."""
        ...

    def open_view(self, trigger_id: str, view: dict) -> str:
        """Open a modal; its view id."""
        ...

    def update_view(self, view_id: str, view: dict, hash: str | None = None) -> None:
        ...

    def permalink(self, channel: str, ts: str) -> str:
        ...

    def join(self, channel: str) -> None:
        ...

    def is_workspace_admin(self, user: str) -> bool:
        ...

    def group_members(self, group: str) -> list[str]:
        ...

    def find_posted(self, channel: str, job_id: str, since: float, thread_ts: str | None = None) -> str | None:
        """The ts of the bridge's message carrying ``job_id`` in its metadata, posted after ``since``."""
        ...

    def case_of_message(self, channel: str, ts: str) -> str | None:
        """The case id the bridge's parent message at ``ts`` carries, if it is one."""
        ...

    def history(self, channel: str, oldest: float) -> list[dict[str, Any]]:
        """The channel's top-level messages since ``oldest``, with their metadata."""
        ...

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Every message of the thread of ``ts``, the parent first, with their metadata."""
        ...

    def user_name(self, user: str) -> str:
        ...

    def ensure_member(self, channel: str) -> str | None:
        """Make the bot a member of ``channel`` (joining a public one); None when it is, else what is
        wrong and how to fix it, in words."""
        ...

    def upload(self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None = None) -> None:
        """Share a file in ``channel`` (in the thread of ``thread_ts``)."""
        ...

    def publish_home(self, user: str, view: dict) -> None:
        """``views.publish``: ``user``'s App Home tab."""
        ...

    def channel_problem(self, channel: str) -> str | None:
        """None when the bot can post in ``channel``, else what is wrong, in words."""
        ...
