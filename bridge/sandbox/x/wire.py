"""The X emulator's vocabulary: field names, problem bodies, query parameters and search syntax.

Names and shapes follow the X API v2 OpenAPI document 2.162 (``tests/reference/``) and
https://docs.x.com/x-api/fundamentals/response-codes-and-errors. Plain functions, no state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.sandbox.x.store import StoredTweet

PROBLEMS = "https://api.twitter.com/2/problems/"

# Per-user budgets per 15 minutes: https://docs.x.com/x-api/fundamentals/rate-limits
RATE_LIMITS: dict[str, int] = {
    "GET /2/users/me": 75,
    "GET /2/users/:id/mentions": 300,
    "GET /2/users/:id/tweets": 900,
    "GET /2/tweets/search/recent": 300,
    "GET /2/tweets": 5000,
    "GET /2/tweets/:id": 900,
    "POST /2/tweets": 100,
    "DELETE /2/tweets/:id": 50,
    "POST /2/media/upload": 500,
    "GET /2/media/upload": 1000,
    "POST /2/media/upload/initialize": 1875,
    "POST /2/media/upload/:id/append": 1875,
    "POST /2/media/upload/:id/finalize": 1875,
    "GET /2/dm_events": 15,
    "GET /2/dm_conversations/with/:participant_id/dm_events": 15,
    "POST /2/dm_conversations/with/:participant_id/messages": 15,
}

# The names X accepts (OpenAPI 2.162 parameter enums); any other value is a 400.
TWEET_FIELDS = frozenset((
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids",
    "entities", "geo", "id", "in_reply_to_user_id", "lang", "matched_media_notes", "media_metadata",
    "non_public_metrics", "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics",
    "public_metrics", "referenced_tweets", "reply_settings", "scopes", "source", "suggested_source_links",
    "suggested_source_links_with_counts", "text", "withheld",
))
USER_FIELDS = frozenset((
    "affiliation", "confirmed_email", "connection_status", "created_at", "description", "entities", "id",
    "is_identity_verified", "location", "most_recent_tweet_id", "name", "parody", "pinned_tweet_id",
    "profile_banner_url", "profile_image_url", "protected", "public_metrics", "receives_your_dm",
    "subscription", "subscription_type", "url", "username", "verified", "verified_followers_count",
    "verified_type", "withheld",
))
MEDIA_FIELDS = frozenset((
    "alt_text", "duration_ms", "height", "media_key", "non_public_metrics", "organic_metrics",
    "preview_image_url", "promoted_metrics", "public_metrics", "type", "url", "variants", "width",
))
TWEET_EXPANSIONS = frozenset((
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id", "edit_history_tweet_ids",
    "entities.mentions.username", "geo.place_id", "in_reply_to_user_id", "entities.note.mentions.username",
    "referenced_tweets.id", "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
))
USER_EXPANSIONS = frozenset(("affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"))
EXCLUDE = frozenset(("replies", "retweets"))  # of a user's Posts timeline
FIELD_LISTS = {"tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS, "media.fields": MEDIA_FIELDS}
EXPANDABLE = ("tweet.fields", "user.fields", "media.fields", "poll.fields", "place.fields")
TIMELINE_PARAMS = ("since_id", "until_id", "max_results", "start_time", "end_time", "expansions", *EXPANDABLE)

# X's wording as the live API sends it; the docs only say such a reply "will be rejected":
# https://docs.x.com/x-api/posts/manage-tweets/integrate#post-creation-restrictions-self-serve
REPLY_NOT_ALLOWED = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise "
    "engaged by the author of the post you are replying to."
)
REPLY_TO_DELETED = "You attempted to reply to a Tweet that is deleted or not visible to you."
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
TOO_LONG = "Tweet needs to be a bit shorter."
ID = re.compile(r"^[0-9]{1,19}$")


class XApiError(Exception):
    """Raised inside a handler to answer ``status`` with an X problem body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail"))
        self.status = status
        self.body = body


@dataclass
class Reply:
    """One HTTP answer of the emulator."""

    status: int
    body: dict[str, Any] | bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # send half the body, then close: a connection cut mid-response

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def problem(status: int, detail: str | None = None) -> XApiError:
    """X's generic problem (``type: about:blank``): 401, 403 refusals, 429, 5xx."""
    title = HTTPStatus(status).phrase
    body = {"detail": detail or title, "type": "about:blank", "title": title, "status": status}
    return XApiError(status, body)


def invalid_request(errors: list[tuple[str, str, str]]) -> XApiError:
    """X's 400 for bad parameters: one ``errors`` entry per (parameter, value, message)."""
    return XApiError(400, {
        "errors": [{"parameters": {p: [v]}, "message": m} for p, v, m in errors],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    })


def not_found(resource_id: str, parameter: str, resource_type: str = "tweet") -> dict[str, Any]:
    """X's resource-not-found problem: a partial error in a 200, or the body of a 404."""
    return {
        "value": resource_id,
        "detail": f"Could not find {resource_type} with {parameter}: [{resource_id}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": resource_id,
        "type": PROBLEMS + "resource-not-found",
    }


@dataclass
class Query:
    """The validated query parameters of a lookup or timeline request."""

    tweet_fields: set[str]
    user_fields: set[str]
    media_fields: set[str]
    expansions: set[str]
    since_id: int = 0
    until_id: int | None = None
    cursor: int | None = None  # from pagination_token / next_token: ids below it
    max_results: int = 10
    exclude: set[str] = field(default_factory=set)


def check_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not ID.match(value):
        raise invalid_request([(name, str(value), f"The `{name}` query parameter value [{value}] does not "
                                                  f"match {ID.pattern}")])
    return value


def parse_query(query: dict[str, str], allowed: Iterable[str], expansions: frozenset[str],
                max_range: tuple[int, int] | None = None) -> Query:
    """Validate query parameters the way X does: every problem becomes one entry of a 400."""
    allowed = set(allowed)
    errors = [(n, v, f"The query parameter [{n}] is not one of [{','.join(sorted(allowed))}]")
              for n, v in query.items() if n not in allowed]
    lists: dict[str, set[str]] = {}
    for name, names in (*FIELD_LISTS.items(), ("expansions", expansions), ("exclude", EXCLUDE)):
        lists[name] = set(filter(None, query.get(name, "").split(",")))
        errors += [(name, v, f"The `{name}` query parameter value [{v}] is not one of "
                             f"[{','.join(sorted(names))}]") for v in sorted(lists[name] - names)]
    q = Query(lists["tweet.fields"], lists["user.fields"], lists["media.fields"], lists["expansions"],
              exclude=lists["exclude"])
    for name in ("since_id", "until_id"):
        if name not in query:
            continue
        if ID.match(query[name]):
            setattr(q, name, int(query[name]))
        else:
            errors.append((name, query[name], f"The `{name}` query parameter value [{query[name]}] does not "
                                              f"match {ID.pattern}"))
    token = query.get("pagination_token") or query.get("next_token")
    if token is not None:
        try:
            q.cursor = int(token, 36)
        except ValueError:
            errors.append(("pagination_token", token, f"The `pagination_token` query parameter value "
                                                      f"[{token}] is not valid"))
    if max_range and "max_results" in query:
        low, high = max_range
        value = query["max_results"]
        if value.isdigit() and low <= int(value) <= high:
            q.max_results = int(value)
        else:
            errors.append(("max_results", value, f"The `max_results` query parameter value [{value}] is not "
                                                 f"between {low} and {high}"))
    if errors:
        raise invalid_request(errors)
    return q


def parse_create(body: bytes) -> tuple[str, str | None, list[str]]:
    """``POST /2/tweets``: (text, in_reply_to_tweet_id, media_ids) of a valid body, else X's 400."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise invalid_request([("body", body[:80].decode(errors="replace"), "The body is not JSON")])
    text, reply_to = payload.get("text"), payload.get("reply") or {}
    media_ids = (payload.get("media") or {}).get("media_ids", [])
    parent_id = reply_to.get("in_reply_to_tweet_id") if isinstance(reply_to, dict) else None
    if not isinstance(text, str) or not (text or media_ids):
        raise invalid_request([("text", str(text), "The `text` field must be a non-empty string")])
    for name, value in [("reply.in_reply_to_tweet_id", parent_id), *(("media.media_ids", m) for m in media_ids)]:
        if value is not None:
            check_id(name, value)
    return text, parent_id, list(media_ids)


def pagination_token(oldest_id: str) -> str:
    """An opaque-looking base36 token (X's are base36 too) that resumes below ``oldest_id``."""
    n, out = int(oldest_id), ""
    while n:
        n, r = divmod(n, 36)
        out = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + out
    return out or "0"


Matcher = Callable[["StoredTweet", str], bool]  # (tweet, author username) -> matches
_QUERY_TOKEN = re.compile(r'(-?)(?:"([^"]+)"|(\S+))')


def compile_search(query: str) -> Matcher:
    """A subset of X's search syntax: words (AND), "phrases", -negation, from:, @user, #tag,
    is:retweet|reply|quote, lang:, conversation_id:. https://docs.x.com/x-api/posts/search/integrate/build-a-query
    """
    if not query.strip() or len(query) > 512:  # 512: recent search's query length limit
        raise invalid_request([("query", query, "The `query` query parameter must be 1 to 512 characters")])
    tests = [(neg == "-", _term(phrase, word, query)) for neg, phrase, word in _QUERY_TOKEN.findall(query)]
    return lambda tweet, author: all(test(tweet, author) != negated for negated, test in tests)


def _term(phrase: str, word: str, query: str) -> Matcher:
    op, colon, arg = word.partition(":")
    if phrase or word.startswith("#") or not colon:
        if word in ("OR", "AND") or (word and (word[0] in "()" or word[-1] in "()")):
            raise invalid_request([("query", query, f"The X emulator does not support `{word}` in queries")])
        if word.startswith("@"):
            return lambda t, author: word[1:].lower() in {m[2].lower() for m in t.mentions}
        needle = re.compile(rf"(?<!\w){re.escape(phrase or word)}(?!\w)", re.IGNORECASE)
        return lambda t, author: bool(needle.search(t.text))
    checks: dict[str, Matcher] = {
        "from": lambda t, author: author.lower() == arg.lstrip("@").lower(),
        "lang": lambda t, author: t.lang == arg,
        "conversation_id": lambda t, author: t.conversation_id == arg,
        "is": lambda t, author: bool({"retweet": t.retweet_of, "reply": t.in_reply_to,
                                      "quote": t.quote_of}.get(arg)),
    }
    if op not in checks or (op == "is" and arg not in ("retweet", "reply", "quote")):
        raise invalid_request([("query", query, f"There were errors processing your request: Reference to "
                                                f"invalid operator '{word}'")])
    return checks[op]
