"""The normalised model at the core's boundary.

Raw X and Slack payloads are converted into these at the edge (``bridge/x/client.py`` and the Slack
handlers) and never travel further in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

TweetId = NewType("TweetId", str)
UserId = NewType("UserId", str)  # an X user id
SlackUserId = NewType("SlackUserId", str)
ChannelId = NewType("ChannelId", str)
SlackTs = NewType("SlackTs", str)
CaseId = NewType("CaseId", str)


@dataclass(frozen=True)
class Media:
    """A photo, video or GIF attached to a tweet."""

    key: str
    type: str  # "photo", "video", "animated_gif"
    url: str | None = None  # photos: the image itself; videos: a preview image
    alt_text: str | None = None


@dataclass(frozen=True)
class Author:
    id: UserId
    username: str
    name: str
    followers: int = 0
    profile_image_url: str | None = None


@dataclass(frozen=True)
class Tweet:
    """A tweet as the core sees it, whatever the X API called its fields."""

    id: TweetId
    text: str
    author: Author
    conversation_id: TweetId | None = None
    replied_to: TweetId | None = None
    quoted: TweetId | None = None
    retweeted: TweetId | None = None
    lang: str | None = None
    created_at: str | None = None
    media: tuple[Media, ...] = ()
    mentions: tuple[str, ...] = ()  # usernames mentioned, lower case, without "@"
    # A private direct message (its id a DM event id), not a public post: it has no link on X.
    direct: bool = False
    # Deleted on X (or no longer visible to the brand): its text and media are gone from the desk too.
    gone: bool = False

    @property
    def referenced(self) -> tuple[TweetId, ...]:
        """Tweets this one points at, in the order that decides which case it joins."""
        return tuple(t for t in (self.replied_to, self.quoted) if t)

    def url(self) -> str:
        return tweet_url(self.author.username, self.id)


def tweet_url(username: str, tweet_id: str) -> str:
    """A post's address on X; ``i`` stands for any account (https://x.com/i/status/<id> resolves)."""
    return f"https://x.com/{username}/status/{tweet_id}"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


@dataclass
class Case:
    """One customer conversation on X = one Slack thread."""

    id: CaseId
    channel: ChannelId
    topic: str | None
    first_tweet: TweetId
    latest_customer_tweet: TweetId
    customer: Author
    status: CaseStatus = CaseStatus.OPEN
    claimer: SlackUserId | None = None
    resolved_by: SlackUserId | None = None
    parent_ts: SlackTs | None = None
    # False for a search hit that does not mention the brand: X refuses an app's public reply to it.
    answerable: bool = True
    tweet_count: int = 1
    after_hours: bool = False  # came in while the desk was closed
    extra: dict[str, str] = field(default_factory=dict)
