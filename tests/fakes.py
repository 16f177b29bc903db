"""In-memory X and Slack behind the bridge's ports (``bridge/x/port.py``, ``bridge/slack/port.py``).

The second tier of tests (``tests/fast/``, whose ``kit.py`` wires a desk to these): the rules of
claims, edits, DMs, hand-over and moves run in milliseconds, with no HTTP in between. What the wire
looks like is the emulators' tier (``tests/x_emulator/``, ``tests/test_slack_emulator_*.py``,
``tests/harness.py``). Each fake keeps what a test asserts on (posts, ephemerals, tweets, DMs) and
fails on demand (``fail``), as the real service would.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.core.models import Author, Tweet, TweetId, UserId
from bridge.slack.client import SlackError
from bridge.x.client import Fetch, RateBudget
from bridge.x.direct import DmPage
from bridge.x.errors import TweetGone, XError, XUnavailable
from bridge.x.wire import comparable

BRAND = Author(UserId("9000"), "Telekom_hilft", "Telekom hilft", 250_000)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict] | None = None
    thread_ts: str | None = None
    metadata: dict | None = None
    user: str | None = None  # who wrote it; None: the bot


@dataclass
class FakeSlack:
    """A workspace's channels as lists of the bot's messages (:class:`bridge.slack.port.SlackPort`)."""

    admins: set[str] = field(default_factory=set)
    groups: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    messages: dict[str, list[Message]] = field(default_factory=lambda: defaultdict(list))
    ephemerals: list[dict[str, Any]] = field(default_factory=list)  # channel, user, text, thread_ts, blocks
    reactions: set[tuple[str, str, str]] = field(default_factory=set)
    views: dict[str, dict] = field(default_factory=dict)
    homes: dict[str, dict] = field(default_factory=dict)  # user -> their App Home
    uploads: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)  # channel, name, bytes, thread
    failures: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (Slack's name: ``chat.postMessage``) fail with ``error``."""
        self.failures[method].extend([error] * times)

    def _call(self, method: str) -> None:
        if self.failures[method]:
            raise SlackError(method, self.failures[method].popleft())

    def post(self, channel: str, text: str, blocks: list[dict] | None = None, thread_ts: str | None = None,
             metadata: dict | None = None) -> str:
        self._call("chat.postMessage")
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        self.messages[channel].append(Message(channel, ts, text, blocks, thread_ts, metadata))
        return ts

    def update(self, channel: str, ts: str, text: str, blocks: list[dict], metadata: dict | None = None) -> None:
        self._call("chat.update")
        message = self.message(channel, ts)
        message.text, message.blocks = text, blocks
        if metadata is not None:
            message.metadata = metadata

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None,
                  blocks: list[dict] | None = None) -> None:
        self._call("chat.postEphemeral")
        self.ephemerals.append({"channel": channel, "user": user, "text": text, "thread_ts": thread_ts,
                                "blocks": blocks or []})

    def react(self, channel: str, ts: str, name: str) -> None:
        self._call("reactions.add")
        self.reactions.add((channel, ts, name))

    def open_view(self, trigger_id: str, view: dict) -> str:
        self._call("views.open")
        view_id = f"V{len(self.views) + 1:08d}"
        self.views[view_id] = view
        return view_id

    def update_view(self, view_id: str, view: dict, hash: str | None = None) -> None:
        self._call("views.update")
        self.views[view_id] = view

    def permalink(self, channel: str, ts: str) -> str:
        return f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"

    def join(self, channel: str) -> None:
        self._call("conversations.join")

    def is_workspace_admin(self, user: str) -> bool:
        return user in self.admins

    def group_members(self, group: str) -> list[str]:
        self._call("usergroups.users.list")
        return list(self.groups.get(group, []))

    def find_posted(self, channel: str, job_id: str, since: float, thread_ts: str | None = None) -> str | None:
        return next((m.ts for m in self.messages[channel]
                     if ((m.metadata or {}).get("event_payload") or {}).get("job") == job_id), None)

    def case_of_message(self, channel: str, ts: str) -> str | None:
        metadata = self.message(channel, ts).metadata or {}
        return (metadata.get("event_payload") or {}).get("case_id") if metadata.get("event_type") == "xdesk_case" \
            else None

    def history(self, channel: str, oldest: float) -> list[dict[str, Any]]:
        return [{"ts": m.ts, "text": m.text, "blocks": m.blocks, "metadata": m.metadata,
                 **({"user": m.user} if m.user else {"bot_id": "B0XDESK"})}
                for m in self.messages[channel] if m.thread_ts is None and float(m.ts) >= oldest]

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        thread = [m for m in self.messages[channel] if m.ts == ts or m.thread_ts == ts]
        return [{"ts": m.ts, "text": m.text, "blocks": m.blocks, "thread_ts": m.thread_ts, "metadata": m.metadata,
                 **({"user": m.user} if m.user else {"bot_id": "B0XDESK"})} for m in thread]

    def user_name(self, user: str) -> str:
        return self.names.get(user, user)

    def ensure_member(self, channel: str) -> str | None:
        try:
            self._call("conversations.join")
        except SlackError as exc:
            return f"{channel}: {exc.error}"
        return None

    def upload(self, channel: str, filename: str, content: bytes, title: str, thread_ts: str | None = None) -> None:
        self._call("files.completeUploadExternal")
        self.uploads.append((channel, filename, content, thread_ts))

    def publish_home(self, user: str, view: dict) -> None:
        self._call("views.publish")
        self.homes[user] = view

    def channel_problem(self, channel: str) -> str | None:
        return None

    # -- what people do in Slack --

    def say(self, user: str, channel: str, text: str, thread_ts: str) -> str:
        """``user`` writes in a thread; the message's ts (the event the desk then hears is the test's)."""
        ts = f"{1_700_000_000 + next(self._ts)}.000200"
        self.messages[channel].append(Message(channel, ts, text, thread_ts=thread_ts, user=user))
        return ts

    # -- what tests read --

    def message(self, channel: str, ts: str) -> Message:
        found = next((m for m in self.messages[channel] if m.ts == ts), None)
        if found is None:
            raise SlackError("chat.update", "message_not_found")
        return found

    def parents(self, channel: str) -> list[Message]:
        return [m for m in self.messages[channel] if m.thread_ts is None]

    def thread(self, channel: str, ts: str) -> list[str]:
        """The texts of the bot's messages in the thread of ``ts``, oldest first."""
        return [m.text for m in self.messages[channel] if m.thread_ts == ts and m.user is None]

    def told(self, user: str) -> list[str]:
        """What only ``user`` was shown, oldest first."""
        return [e["text"] for e in self.ephemerals if e["user"] == user]

    def last_view(self) -> tuple[str, dict]:
        view_id = max(self.views)
        return view_id, self.views[view_id]


@dataclass
class FakeX:
    """The brand's account: customers' tweets in, the brand's replies out (:class:`bridge.x.port.XPort`)."""

    brand: Author = BRAND
    tweets: dict[TweetId, Tweet] = field(default_factory=dict)
    replies: list[tuple[TweetId, str, TweetId]] = field(default_factory=list)  # (id, text, in reply to)
    deleted: list[TweetId] = field(default_factory=list)
    failures: deque[XError] = field(default_factory=deque)
    lost_answers: int = 0  # the next writes land on X, but their answer never reaches the bridge
    while_posting: Callable[[str], None] | None = None  # runs while X holds a tweet's request, with its text
    calls: list[str] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1_800_000_000_000_000_001))

    @property
    def brand_username(self) -> str:
        return self.brand.username

    @property
    def brand_id(self) -> UserId:
        return self.brand.id

    def fail(self, error: XError, times: int = 1) -> None:
        """The next ``times`` writes to X fail with ``error``."""
        self.failures.extend([error] * times)

    def customer_tweets(self, text: str, author: str = "kunde_klaus", replied_to: TweetId | None = None) -> Tweet:
        tweet_id = TweetId(str(next(self._ids)))
        who = Author(UserId(str(abs(hash(author)) % 10**9)), author, author.title(), 42)
        mentions = tuple(w[1:].lower() for w in text.split() if w.startswith("@"))
        tweet = Tweet(tweet_id, text, who, replied_to or tweet_id, replied_to=replied_to, mentions=mentions)
        self.tweets[tweet_id] = tweet
        return tweet

    def me(self) -> Author:
        return self.brand

    def mentions(self, user_id: UserId, since_id: TweetId | None, until_id: TweetId | None = None) -> Fetch:
        self.calls.append("mentions")
        found = [t for t in self.tweets.values() if t.author.id != self.brand.id
                 and (since_id is None or int(t.id) > int(since_id))]
        return Fetch(sorted(found, key=lambda t: int(t.id)), RateBudget())

    def search(self, query: str, since_id: TweetId | None, until_id: TweetId | None = None) -> Fetch:
        return Fetch([], RateBudget())

    def post_reply(self, text: str, in_reply_to: TweetId, media_ids: list[str] | None = None) -> TweetId:
        self.calls.append("post_reply")
        if self.failures:
            raise self.failures.popleft()
        if in_reply_to not in self.tweets:
            raise TweetGone("the tweet this replies to was deleted")
        if self.while_posting:
            self.while_posting(text)
        tweet_id = TweetId(str(next(self._ids)))
        self.replies.append((tweet_id, text, in_reply_to))
        self.tweets[tweet_id] = Tweet(tweet_id, text, self.brand, replied_to=in_reply_to)
        if self.lost_answers:
            self.lost_answers -= 1
            raise XUnavailable("X did not answer POST /2/tweets in time; the bridge will retry")
        return tweet_id

    def find_reply(self, in_reply_to: TweetId, text: str) -> TweetId | None:
        self.calls.append("find_reply")
        return next((i for i, said, to in self.replies if to == in_reply_to and comparable(said) == comparable(text)),
                    None)

    def delete_tweet(self, tweet_id: TweetId) -> None:
        self.calls.append("delete_tweet")
        if self.failures:
            raise self.failures.popleft()
        if self.tweets.pop(tweet_id, None) is not None:
            self.deleted.append(tweet_id)
            self.replies = [r for r in self.replies if r[0] != tweet_id]

    def gone(self, ids: list[TweetId]) -> dict[TweetId, str]:
        return {i: "deleted" for i in ids if i not in self.tweets}

    def budget(self, endpoint: str) -> RateBudget:
        return RateBudget()  # X's headers are the emulators' part

    def said(self) -> list[str]:
        """The texts of the brand's replies on X now, oldest first."""
        return [text for _, text, _ in self.replies]


@dataclass
class FakeDirect:
    """The brand's direct messages (:class:`bridge.x.port.DirectPort`)."""

    brand: Author = BRAND
    inbox: list[Tweet] = field(default_factory=list)
    sent: list[tuple[TweetId, UserId, str, float]] = field(default_factory=list)  # (id, to, text, when)
    failures: deque[XError] = field(default_factory=deque)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(5_000_000_000_000_000_001))

    def fail(self, error: XError, times: int = 1) -> None:
        self.failures.extend([error] * times)

    def customer_writes(self, text: str, author: Author) -> Tweet:
        message = Tweet(TweetId(str(next(self._ids))), text, author, direct=True)
        self.inbox.append(message)
        return message

    def events(self, token: str | None = None, participant: UserId | None = None) -> DmPage:
        mine = [Tweet(i, text, self.brand, direct=True) for i, _, text, _ in self.sent]
        return DmPage(sorted(self.inbox + mine, key=lambda m: -int(m.id)), None, RateBudget())

    def send(self, participant: UserId, text: str) -> TweetId:
        if self.failures:
            raise self.failures.popleft()
        event_id = TweetId(str(next(self._ids)))
        self.sent.append((event_id, participant, text, time.time()))
        return event_id

    def budget(self, endpoint: str) -> RateBudget:
        return RateBudget()

    def find_sent(self, brand: UserId, participant: UserId, text: str, since: float) -> TweetId | None:
        return next((i for i, to, said, when in self.sent if to == participant and said == text and when >= since),
                    None)
