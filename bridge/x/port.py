"""What the rest of the bridge needs from X, as typed ports; :mod:`bridge.x.client` and its halves fill them.

Intake reads through :class:`XPort` (mentions, search, lookups), effects write through it (replies,
deletes) and through :class:`DirectPort` (DMs) and :class:`MediaPort` (uploads). Code above the adapter
names these, never ``XClient``, so the rules of a case can be run against an in-memory X in tests.
Errors are those of :mod:`bridge.x.errors`, whichever implementation raises them.
"""

from __future__ import annotations

from typing import Protocol

from bridge.core.models import Author, TweetId, UserId
from bridge.x.client import Fetch, RateBudget
from bridge.x.direct import DmPage
from bridge.x.media import Uploaded


class XPort(Protocol):
    """The brand account's tweets."""

    brand_username: str | None
    brand_id: UserId | None

    def me(self) -> Author:
        """The brand account; sets ``brand_username`` and ``brand_id``."""
        ...

    def mentions(self, user_id: UserId, since_id: TweetId | None, until_id: TweetId | None = None) -> Fetch:
        """Tweets mentioning ``user_id`` newer than ``since_id`` (and older than ``until_id``), oldest first."""
        ...

    def search(self, query: str, since_id: TweetId | None, until_id: TweetId | None = None) -> Fetch:
        """Recent-search hits of ``query``, as :meth:`mentions`."""
        ...

    def post_reply(self, text: str, in_reply_to: TweetId, media_ids: list[str] | None = None) -> TweetId:
        """Tweet ``text`` as the brand in reply to ``in_reply_to``; the new tweet's id."""
        ...

    def find_reply(self, in_reply_to: TweetId, text: str) -> TweetId | None:
        """The brand's reply to ``in_reply_to`` with ``text`` if X has one: the check before a retry."""
        ...

    def delete_tweet(self, tweet_id: TweetId) -> None:
        """Delete the brand's tweet; one already gone counts as deleted."""
        ...

    def gone(self, ids: list[TweetId]) -> dict[TweetId, str]:
        """Of ``ids``, those X no longer shows: id -> "deleted" or "not visible"."""
        ...

    def budget(self, endpoint: str) -> RateBudget:
        """X's budget for ``endpoint`` as its last answer said (a new object for each answer)."""
        ...


class DirectPort(Protocol):
    """The brand account's direct messages."""

    def events(self, token: str | None = None, participant: UserId | None = None) -> DmPage:
        """One page of DMs, newest first (of the conversation with ``participant`` if given)."""
        ...

    def send(self, participant: UserId, text: str) -> TweetId:
        """Send ``text`` to ``participant``; the DM event's id."""
        ...

    def find_sent(self, brand: UserId, participant: UserId, text: str, since: float) -> TweetId | None:
        """The brand's DM with ``text`` to ``participant`` since ``since``, if any: the check before a retry."""
        ...

    def budget(self, endpoint: str) -> RateBudget:
        ...


class MediaPort(Protocol):
    """Uploads of the files agents attach to replies."""

    def upload(self, data: bytes, media_type: str, category: str) -> Uploaded:
        ...

    def status(self, media_id: str) -> Uploaded:
        ...
