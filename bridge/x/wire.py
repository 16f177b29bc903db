"""What X sends, read into the core's values: field lists, checks and parsers of X API v2 answers.

The half of the X adapter that knows X's JSON: :mod:`bridge.x.client` (tweets) and :mod:`bridge.x.direct`
(DMs) send the requests and hand the answers here. Should X follow the Tweet -> Post rename of its
OpenAPI 2.167 (``referenced_posts``, ``edit_history_post_ids``...), this file and the field lists are
what change; until then such an answer is logged as ``x.response_unusable`` and raised as
:class:`~bridge.x.errors.XUnavailable`.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, NoReturn

import requests
from twitter_text import extract_urls_with_indices

from bridge.core.log import kv
from bridge.core.models import Author, Media, Tweet, TweetId, UserId
from bridge.x.errors import XError, XRefused, XUnavailable

log = logging.getLogger(__name__)

# What the bridge asks X for, by query parameter: https://docs.x.com/x-api/fundamentals/fields
FIELDS: dict[str, tuple[str, ...]] = {
    "expansions": ("author_id", "referenced_tweets.id", "attachments.media_keys",
                   "entities.mentions.username"),
    "tweet.fields": ("conversation_id", "created_at", "lang", "referenced_tweets", "entities", "attachments",
                     "author_id"),
    "user.fields": ("name", "username", "public_metrics", "profile_image_url"),
    "media.fields": ("type", "url", "preview_image_url", "alt_text"),
}
TWEEPY_FIELDS = {name.replace(".", "_"): list(values) for name, values in FIELDS.items()}  # tweepy's spelling
# Present in every tweet X sends for the request above (edit_history_tweet_ids is a default field).
TWEET_KEYS = ("id", "text", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids")



def json_body(response: requests.Response, endpoint: str) -> dict[str, Any]:
    try:
        body = response.json()
    except requests.JSONDecodeError:
        kind = response.headers.get("content-type", "no content-type")
        raise XUnavailable(f"X answered {endpoint} with something that is not JSON ({kind}); "
                           "the bridge will retry", status=response.status_code) from None
    if not isinstance(body, dict):
        raise XUnavailable(f"X answered {endpoint} with unexpected JSON; the bridge will retry")
    return body


def tweets_of(endpoint: str, body: dict[str, Any]) -> list[Tweet]:
    """``data`` of a timeline answer as Tweets, authors and media taken from ``includes``.

    One tweet the bridge cannot show (no text, its author not included: X's schema requires neither)
    is skipped with a log line and the rest are kept, so that the cursor moves on: failing the page
    would read the same page again at every poll until the tweet aged out. Only signs that X changed
    its wire format (the Tweet -> Post rename) fail the whole answer.
    """
    data = body.get("data") or []
    if not data and body.get("errors") and "meta" not in body:  # e.g. an unknown user id
        raise error_from_partial(body["errors"])
    includes = body.get("includes") or {}
    # A key naming a post means X renamed Tweet to Post (OpenAPI 2.167): referenced_posts and so on.
    renamed = {f"data[].{k.replace('post', 'tweet')} (X sent {k})" for raw in data for k in raw if "post" in k}
    renamed |= {"includes.tweets (X sent includes.posts)"} if "posts" in includes else set()
    if renamed or "meta" not in body:
        missing = renamed | {f"data[].{k}" for raw in data for k in TWEET_KEYS if k not in raw}
        unusable(endpoint, missing | ({"meta"} if "meta" not in body else set()), data[0] if data else body)
    users = {u.get("id"): u for u in includes.get("users") or []}
    check_users(endpoint, list(users.values()))
    authors = {uid: author_of(u) for uid, u in users.items()}
    media = {m["media_key"]: media_of(m) for m in includes.get("media") or [] if "media_key" in m}
    tweets = []
    for raw in data:
        lacking = [k for k in ("id", "text", "author_id") if not isinstance(raw.get(k), str)]
        if not lacking and raw["author_id"] not in authors:
            lacking = ["its author in includes.users"]
        if lacking:
            log.warning(kv("x.tweet_skipped", endpoint=endpoint, tweet=raw.get("id", "?"),
                           reason="missing " + ", ".join(lacking)))
            continue
        tweets.append(tweet_of(raw, authors, media))
    return tweets


def tweet_of(raw: dict[str, Any], authors: Mapping[str, Author], media: Mapping[str, Media]) -> Tweet:
    refs = {r.get("type"): TweetId(r["id"]) for r in raw.get("referenced_tweets") or [] if "id" in r}
    keys = (raw.get("attachments") or {}).get("media_keys") or []
    mentions = (raw.get("entities") or {}).get("mentions") or []
    return Tweet(
        id=TweetId(raw["id"]),
        text=html.unescape(raw["text"]),  # X sends &, < and > as HTML entities
        author=authors[raw["author_id"]],
        # Without it (X's schema does not require it) the tweet is the root of its own conversation,
        # or of the one it replies to: a follow-up still joins its case through replied_to.
        conversation_id=TweetId(raw.get("conversation_id") or refs.get("replied_to") or raw["id"]),
        replied_to=refs.get("replied_to"),
        quoted=refs.get("quoted"),
        retweeted=refs.get("retweeted"),
        lang=raw.get("lang"),
        created_at=raw.get("created_at"),
        media=tuple(media[k] for k in keys if k in media),
        mentions=tuple(m["username"].lower() for m in mentions if "username" in m),
    )


_LEADING_HANDLES = re.compile(r"^(?:@\w{1,15} )+")


def comparable(text: str) -> str:
    """What X leaves of a tweet's text, for comparing what the bridge sent with what X sends back:
    NFC, each URL (X wraps them in t.co links) one placeholder, whitespace runs one space, and no
    leading @handles (X may write the replied-to user's handle in front of a reply). Callers undo
    X's HTML escaping first (:func:`tweet_of` does)."""
    text = unicodedata.normalize("NFC", text)
    for url in reversed(extract_urls_with_indices(text)):
        start, end = url["indices"]
        text = f"{text[:start]}\x00{text[end:]}"
    return _LEADING_HANDLES.sub("", " ".join(text.split()))


def check_users(endpoint: str, users: list[dict[str, Any]]) -> None:
    missing = {f"users[].{k}" for u in users for k in ("id", "username", "name") if k not in u}
    missing |= {"users[].public_metrics.followers_count" for u in users
                if "followers_count" not in (u.get("public_metrics") or {})}
    if missing:
        unusable(endpoint, missing, users[0] if users else {})


def author_of(user: dict[str, Any]) -> Author:
    return Author(id=UserId(user["id"]), username=user["username"], name=user["name"],
                  followers=int(user["public_metrics"]["followers_count"]),
                  profile_image_url=user.get("profile_image_url"))


def media_of(m: dict[str, Any]) -> Media:
    return Media(key=m["media_key"], type=m.get("type", "photo"),
                 url=m.get("url") or m.get("preview_image_url"), alt_text=m.get("alt_text"))


def error_from_partial(errors: list[Any]) -> XError:
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return XRefused(f"X refused: {first.get('detail') or first.get('title') or 'an error without detail'}")


def unusable(endpoint: str, missing: set[str], sample: Mapping[str, Any]) -> NoReturn:
    log.error(kv("x.response_unusable", endpoint=endpoint, missing=",".join(sorted(missing)),
                 keys=",".join(sorted(sample)), hint="X changed its wire format (a Tweet->Post rename as in "
                 "OpenAPI 2.167?); bridge/x/wire.py must follow"))
    fields = ", ".join(sorted(missing))
    raise XUnavailable(f"X answered {endpoint} without fields the bridge needs ({fields}); an operator "
                       "must update the bridge", fix="update xdesk to a version that reads X's current answers")


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
