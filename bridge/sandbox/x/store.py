"""The X emulator's world: users, tweets and media, and how X renders them on the wire.

Plain data, no I/O and no locking: :class:`~bridge.sandbox.x.server.XEmulator` holds one lock around
every use. Rendering returns only the requested fields (plus X's defaults ``id``, ``text``,
``edit_history_tweet_ids`` for tweets and ``id``, ``name``, ``username`` for users), see
https://docs.x.com/x-api/fundamentals/fields and https://docs.x.com/x-api/fundamentals/expansions.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twitter_text import extract_urls_with_indices

from bridge.sandbox.x.wire import Query, not_found, pagination_token

_TWITTER_EPOCH_MS = 1288834974657  # snowflake epoch: https://github.com/twitter-archive/snowflake
_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_MEDIA_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}  # X's media_key prefixes
_DEFAULT_AVATAR = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# How far back a user's Posts timeline reaches: https://docs.x.com/x-api/posts/timelines/integrate
POSTS_REACH, POSTS_REACH_WITHOUT_REPLIES = 3200, 800


@dataclass
class StoredUser:
    id: str
    username: str
    name: str
    followers: int = 0
    profile_image_url: str | None = None
    created_at: str = "2010-04-01T08:00:00.000Z"


@dataclass
class StoredMedia:
    key: str
    type: str
    url: str  # photos: the image; videos and GIFs: their preview image
    alt_text: str | None = None


@dataclass
class StoredTweet:
    id: str
    text: str
    author_id: str
    created_at: str
    conversation_id: str
    lang: str = "en"
    in_reply_to: str | None = None
    in_reply_to_user_id: str | None = None
    quote_of: str | None = None
    retweet_of: str | None = None
    media_keys: list[str] = field(default_factory=list)
    mentions: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, username)
    hashtags: list[tuple[int, int, str]] = field(default_factory=list)
    urls: list[tuple[int, int, str, str]] = field(default_factory=list)  # (start, end, t.co link, as written)
    deleted: bool = False

    def references(self) -> list[dict[str, str]]:
        pairs = (("retweeted", self.retweet_of), ("quoted", self.quote_of), ("replied_to", self.in_reply_to))
        return [{"type": kind, "id": ref} for kind, ref in pairs if ref]

    def as_written(self) -> str:
        """The text with every t.co link back as its author wrote it."""
        text = self.text
        for start, end, _, written in reversed(self.urls):
            text = text[:start] + written + text[end:]
        return text


def now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class World:
    def __init__(self) -> None:
        self.users: dict[str, StoredUser] = {}
        self.tweets: dict[str, StoredTweet] = {}
        self.media: dict[str, StoredMedia] = {}
        self._last_id = 0

    def next_id(self) -> str:
        """A snowflake-like id: increasing, so ``since_id`` works numerically as on X."""
        self._last_id = max((int(time.time() * 1000) - _TWITTER_EPOCH_MS) << 22, self._last_id + 1)
        return str(self._last_id)

    def user_by_name(self, username: str) -> StoredUser | None:
        wanted = username.lstrip("@").lower()
        return next((u for u in self.users.values() if u.username.lower() == wanted), None)

    def add_user(self, username: str, name: str | None, followers: int, profile_image_url: str | None) -> str:
        user = self.user_by_name(username)
        if user is None:
            user = StoredUser(str(1_000_000_001 + len(self.users)), username, name or username)
            self.users[user.id] = user
        user.name, user.followers = name or user.name, followers
        user.profile_image_url = profile_image_url or user.profile_image_url
        return user.id

    def add_tweet(self, text: str, author: str, *, in_reply_to: str | None, quote_of: str | None,
                  retweet_of: str | None, lang: str, media: Sequence[Sequence[str]],
                  conversation_id: str | None, mentions: Iterable[str] | None, created_at: str | None,
                  as_created: bool = False) -> str:
        """``as_created``: store ``text`` the way X stores a tweet created with ``POST /2/tweets``
        (:func:`wrap_urls`); otherwise it is taken as X already stored it."""
        user = self.user_by_name(author) or self.users[self.add_user(author, None, 0, None)]
        missing = [m for m in mentions or () if not re.search(rf"@{re.escape(m)}\b", text, re.IGNORECASE)]
        text = "".join(f"@{m} " for m in missing) + text
        parent = self.tweets.get(in_reply_to or "")
        keys = []
        for kind, url, *alt in media:
            keys.append(f"{_MEDIA_PREFIX[kind]}_{self.next_id()}")
            self.media[keys[-1]] = StoredMedia(keys[-1], kind, url, alt[0] if alt else None)
        tweet_id = self.next_id()
        text, urls = wrap_urls(text, tweet_id) if as_created else (text, [])
        self.tweets[tweet_id] = StoredTweet(
            id=tweet_id, text=text, author_id=user.id, created_at=created_at or now_iso(),
            # the tweet that started the reply chain: https://docs.x.com/x-api/fundamentals/conversation-id
            conversation_id=conversation_id or (parent and parent.conversation_id) or in_reply_to or tweet_id,
            lang=lang, in_reply_to=in_reply_to, in_reply_to_user_id=parent.author_id if parent else None,
            quote_of=quote_of, retweet_of=retweet_of, media_keys=keys,
            mentions=[(m.start(), m.end(), m.group(1)) for m in _MENTION.finditer(text)],
            hashtags=[(m.start(), m.end(), m.group(1)) for m in _HASHTAG.finditer(text)], urls=urls,
        )
        return tweet_id

    def live(self, tweet_id: str | None) -> StoredTweet | None:
        tweet = self.tweets.get(tweet_id or "")
        return None if tweet is None or tweet.deleted else tweet

    def mentioning(self, user_id: str) -> list[StoredTweet]:
        name = self.users[user_id].username.lower()
        return [t for t in self.tweets.values() if any(m[2].lower() == name for m in t.mentions)]

    def posts_by(self, user_id: str, exclude: set[str]) -> list[StoredTweet]:
        """The user's live tweets within the timeline's reach, less ``exclude`` (replies, retweets)."""
        mine = sorted((t for t in self.tweets.values() if t.author_id == user_id and not t.deleted),
                      key=lambda t: int(t.id), reverse=True)
        mine = mine[: POSTS_REACH_WITHOUT_REPLIES if "replies" in exclude else POSTS_REACH]
        return [t for t in mine if not ("replies" in exclude and t.in_reply_to)
                and not ("retweets" in exclude and t.retweet_of)]

    def summoned(self, parent: StoredTweet, brand_id: str) -> bool:
        """Whether the author of ``parent`` mentioned or quoted the brand (or is the brand)."""
        brand = self.users[brand_id].username.lower()
        quoted = self.tweets.get(parent.quote_of or "")
        return (parent.author_id == brand_id or any(m[2].lower() == brand for m in parent.mentions)
                or (quoted is not None and quoted.author_id == brand_id))

    # -- rendering ---------------------------------------------------------------------------

    def timeline(self, tweets: Iterable[StoredTweet], q: Query) -> dict[str, Any]:
        """One page, newest first, ``since_id`` < id < ``until_id``/cursor, with X's ``meta``."""
        upper = min((b for b in (q.until_id, q.cursor) if b is not None), default=math.inf)
        found = sorted((t for t in tweets if not t.deleted and q.since_id < int(t.id) < upper),
                       key=lambda t: int(t.id), reverse=True)
        page = found[: q.max_results]
        body = self.expand(page, q)
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
        if len(found) > len(page):
            meta["next_token"] = pagination_token(page[-1].id)
        body["meta"] = meta
        return body

    def expand(self, tweets: list[StoredTweet], q: Query) -> dict[str, Any]:
        """``data`` plus ``includes`` for the requested expansions, and partial ``errors``."""
        exp = q.expansions
        users: dict[str, StoredUser] = {}
        refs: dict[str, StoredTweet] = {}
        media: dict[str, StoredMedia] = {}
        errors: list[dict[str, Any]] = []

        def add_user(user_id: str | None) -> None:
            if user_id in self.users:
                users.setdefault(user_id, self.users[user_id])

        for t in tweets:
            add_user(t.author_id if "author_id" in exp else None)
            add_user(t.in_reply_to_user_id if "in_reply_to_user_id" in exp else None)
            for *_, name in t.mentions if "entities.mentions.username" in exp else ():
                add_user(getattr(self.user_by_name(name), "id", None))
            if "attachments.media_keys" in exp:
                media.update((k, self.media[k]) for k in t.media_keys)
            for ref in t.references() if "referenced_tweets.id" in exp else ():
                target = self.live(ref["id"])
                if target is None:  # X leaves it out of includes and says so in errors
                    errors.append(not_found(ref["id"], "referenced_tweets.id"))
                else:
                    refs.setdefault(target.id, target)
        for r in refs.values():
            add_user(r.author_id if "referenced_tweets.id.author_id" in exp else None)
            if "referenced_tweets.id.attachments.media_keys" in exp:
                media.update((k, self.media[k]) for k in r.media_keys)
        body: dict[str, Any] = {}
        if tweets:
            body["data"] = [self.render_tweet(t, q) for t in tweets]
        includes = {"users": [self.render_user(u, q) for u in users.values()],
                    "tweets": [self.render_tweet(t, q) for t in refs.values()],
                    "media": [render_media(m, q.media_fields) for m in media.values()]}
        if any(includes.values()):  # X leaves out empty arrays (minItems 1)
            body["includes"] = {k: v for k, v in includes.items() if v}
        if errors:
            body["errors"] = errors
        return body

    def render_tweet(self, t: StoredTweet, q: Query) -> dict[str, Any]:
        f = q.tweet_fields
        out: dict[str, Any] = {"id": t.id, "text": escape_text(t.text), "edit_history_tweet_ids": [t.id]}
        optional = {
            "author_id": t.author_id, "conversation_id": t.conversation_id, "created_at": t.created_at,
            "lang": t.lang, "in_reply_to_user_id": t.in_reply_to_user_id, "reply_settings": "everyone",
            "possibly_sensitive": False, "referenced_tweets": t.references() or None,
            "attachments": {"media_keys": t.media_keys} if t.media_keys else None,
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0,
                               "bookmark_count": 0, "impression_count": 0},
        }
        out.update((k, v) for k, v in optional.items() if k in f and v is not None)
        entities: dict[str, Any] = {}
        if t.mentions:
            entities["mentions"] = [{"start": s, "end": e, "username": name}
                                    | ({"id": u.id} if (u := self.user_by_name(name)) else {})
                                    for s, e, name in t.mentions]
        if t.hashtags:
            entities["hashtags"] = [{"start": s, "end": e, "tag": tag} for s, e, tag in t.hashtags]
        if t.urls:
            entities["urls"] = [{"start": s, "end": e, "url": tco, "expanded_url": _expanded(written),
                                 "display_url": _display(written)} for s, e, tco, written in t.urls]
        if "entities" in f and entities:
            out["entities"] = entities
        return out

    def render_user(self, u: StoredUser, q: Query) -> dict[str, Any]:
        tweets = sum(1 for t in self.tweets.values() if t.author_id == u.id and not t.deleted)
        optional = {
            "created_at": u.created_at, "description": "", "protected": False, "verified": False, "url": "",
            "profile_image_url": u.profile_image_url or _DEFAULT_AVATAR,
            "public_metrics": {"followers_count": u.followers, "following_count": 0, "tweet_count": tweets,
                               "listed_count": 0, "like_count": 0},
        }
        picked = {k: v for k, v in optional.items() if k in q.user_fields}
        return {"id": u.id, "name": u.name, "username": u.username, **picked}


def stored_form(text: str) -> str:
    """What X keeps of a new tweet's text: NFC, without surrounding whitespace
    (https://docs.x.com/fundamentals/counting-characters)."""
    return unicodedata.normalize("NFC", text).strip()


def wrap_urls(text: str, seed: str) -> tuple[str, list[tuple[int, int, str, str]]]:
    """:func:`stored_form` with every URL that twitter-text finds replaced by a ``t.co`` link, as X
    does on creation; the link differs from tweet to tweet (``seed``)."""
    text, out, urls = stored_form(text), "", []
    done = 0
    for found in extract_urls_with_indices(text):
        start, end = found["indices"]
        digest = int.from_bytes(hashlib.sha256(f"{seed}:{start}:{found['url']}".encode()).digest()[:8])
        tco = "https://t.co/" + "".join(_BASE62[(digest >> (6 * i)) % 62] for i in range(10))
        out += text[done:start]
        urls.append((len(out), len(out) + len(tco), tco, found["url"]))
        out += tco
        done = end
    return out + text[done:], urls


def _expanded(written: str) -> str:
    return written if re.match(r"(?i)https?://", written) else "http://" + written


def _display(written: str) -> str:
    bare = re.sub(r"(?i)^https?://(www\.)?", "", written)
    return bare if len(bare) <= 26 else bare[:26] + "\u2026"


def escape_text(text: str) -> str:
    """X sends tweet text with ``&``, ``<`` and ``>`` as HTML entities (and only those)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_media(m: StoredMedia, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"media_key": m.key, "type": m.type}
    url_field = "url" if m.type == "photo" else "preview_image_url"
    optional = {url_field: m.url, "alt_text": m.alt_text, "width": 1200, "height": 675,
                "duration_ms": 30000 if m.type == "video" else None}
    out.update((k, v) for k, v in optional.items() if k in fields and v is not None)
    return out
