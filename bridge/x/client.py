"""The X adapter: the one module that knows X's endpoints; :mod:`bridge.x.wire` reads its answers.

It reads the brand's mentions and recent-search hits, posts and deletes replies and finds one already
posted (X API v2, OAuth 1.0a user context, through tweepy), and hands the core
:class:`~bridge.core.models.Tweet` and :class:`~bridge.core.models.Author` values, :class:`RateBudget` and a small
:class:`XError` hierarchy whose ``reason`` an agent in Slack can read. Should X follow the Tweet -> Post
rename of its OpenAPI 2.167, :mod:`bridge.x.wire` says what changes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy

from bridge.core.log import kv
from bridge.core.models import Author, Tweet, TweetId, UserId
from bridge.core.settings import Environment
from bridge.x.errors import (  # noqa: F401 - the X adapter's public errors
    READ_METHODS,
    DryRunRefused,
    RateLimited,
    ReplyNotAllowed,
    TweetGone,
    XAuthError,
    XError,
    XRefused,
    XUnavailable,
    error_from,
)
from bridge.x.wire import (  # noqa: F401 - FIELDS is the adapter's public field list
    FIELDS,
    TWEEPY_FIELDS,
    author_of,
    check_users,
    comparable,
    int_or_none,
    json_body,
    tweets_of,
    unusable,
)

log = logging.getLogger(__name__)

X_HOST = "https://api.twitter.com"  # hard-coded in tweepy.client.BaseClient.request
DEFAULT_TIMEOUT = (5.0, 15.0)  # (connect, read) seconds

@dataclass(frozen=True)
class RateBudget:
    """The ``x-rate-limit-*`` headers of the last answer; None where X did not send them.

    https://docs.x.com/x-api/fundamentals/rate-limits
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateBudget:
        reset = int_or_none(headers.get("x-rate-limit-reset"))
        return cls(int_or_none(headers.get("x-rate-limit-limit")), int_or_none(headers.get("x-rate-limit-remaining")),
                   float(reset) if reset is not None else None)


@dataclass(frozen=True)
class Fetch:
    """New tweets, oldest first, and the budget left after reading them.

    ``truncated``: the page bound was reached, so tweets older than the oldest here (but newer than
    ``since_id``) were not read.
    """

    tweets: list[Tweet]
    budget: RateBudget
    truncated: bool = False


def next_poll_delay(budget: RateBudget, min_interval: float, now: float) -> float:
    """Seconds until the next poll: the calls left and the next window's first spread evenly until the
    reset (300 calls in 900 s: one every 3 s), never sooner than ``min_interval``; none left: until
    the reset. Spread over the calls left alone, the gaps came out 5 % longer than X allows."""
    if budget.remaining is None or budget.reset_at is None or budget.reset_at <= now:
        return min_interval
    return max((budget.reset_at - now) / (max(budget.remaining, 0) + 1), min_interval)


def backoff(attempt: int, base: float = 1.0, cap: float = 900.0) -> float:
    """Exponential: ``base`` for the first attempt, doubling, at most ``cap`` (one X window)."""
    return min(cap, base * 2 ** max(0, attempt - 1))


def retry_delay(error: XError, attempt: int, min_interval: float, now: float) -> float:
    """After a failed call: until X's reset when it gave one, else exponential backoff."""
    if isinstance(error, RateLimited) and error.reset_at is not None:
        return max(error.reset_at - now, min_interval)
    return max(backoff(attempt), min_interval)


class _XSession(requests.Session):
    """tweepy's session, sending to ``X_API_URL`` with a timeout on every request, and signing for it.

    tweepy builds every URL as ``"https://api.twitter.com" + route`` (``BaseClient.request``) and passes
    no timeout, with which requests would wait forever. The URL is rewritten here, before requests
    prepares the request and OAuth 1.0a signs it: X verifies the signature against the URL it
    received (https://docs.x.com/fundamentals/authentication/oauth-1-0a/creating-a-signature), so a
    request signed for one host and sent to another (``https://api.x.com``, a proxy) is refused.
    """

    def __init__(self, base_url: str, timeout: tuple[float, float], dry_run: bool = False) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.dry_run = dry_run

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = url.decode() if isinstance(url, bytes) else url
        method = method.decode() if isinstance(method, bytes) else method
        if self.dry_run and method.upper() not in READ_METHODS:
            # The last line of defence of [x] dry_run: whatever feature forgot to check, no write leaves.
            path = urlsplit(url).path
            log.error(kv("x.dry_run_refused", method=method, path=path))
            raise DryRunRefused(method, path)
        if url.startswith(X_HOST + "/"):
            url = self.base_url + url[len(X_HOST):]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().request(method, url, *args, **kwargs)


class XClient:
    """The brand account on X. Thread-safe: tweepy's client keeps no state between calls.

    With ``dry_run`` every write is refused with :class:`~bridge.core.dry_run.DryRunRefused` before it is sent.
    """

    def __init__(self, env: Environment, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 max_pages: int = 10, brand_username: str | None = None, brand_id: UserId | None = None,
                 dry_run: bool = False) -> None:
        self._client = tweepy.Client(
            consumer_key=env.x_api_key, consumer_secret=env.x_api_secret, access_token=env.x_access_token,
            access_token_secret=env.x_access_token_secret, wait_on_rate_limit=False,
            return_type=requests.Response,  # raw answers, so the rate-limit headers can be read
        )
        self._client.session = _XSession(env.x_api_url, timeout, dry_run)
        self.max_pages = max_pages  # 10 x 100: more than the 800 mentions X keeps reachable
        self.brand_username = brand_username
        self.brand_id = brand_id  # whose timeline find_reply reads; me() sets it
        self._budgets: dict[str, RateBudget] = {}  # the last x-rate-limit-* headers, by endpoint
        # Told of every call: (endpoint, its answer's status or "timeout"/"unreachable"/"broken", the answer).
        self.observe: Callable[[str, str, requests.Response | None], None] | None = None

    def me(self) -> Author:
        response = self._call("GET /2/users/me", self._client.get_me, user_fields=TWEEPY_FIELDS["user_fields"])
        user = json_body(response, "GET /2/users/me").get("data") or {}
        check_users("GET /2/users/me", [user])
        author = author_of(user)
        self.brand_username, self.brand_id = author.username, author.id
        return author

    def mentions(self, user_id: UserId, since_id: TweetId | None, until_id: TweetId | None = None) -> Fetch:
        return self._timeline("GET /2/users/:id/mentions", lambda token: self._client.get_users_mentions(
            user_id, since_id=since_id, until_id=until_id, pagination_token=token, max_results=100,
            user_auth=True, **TWEEPY_FIELDS))

    def search(self, query: str, since_id: TweetId | None, until_id: TweetId | None = None) -> Fetch:
        return self._timeline("GET /2/tweets/search/recent", lambda token: self._client.search_recent_tweets(
            query, since_id=since_id, until_id=until_id, next_token=token, max_results=100, user_auth=True,
            **TWEEPY_FIELDS))

    def post_reply(self, text: str, in_reply_to: TweetId, media_ids: list[str] | None = None) -> TweetId:
        response = self._call("POST /2/tweets", self._client.create_tweet, text=text,
                              in_reply_to_tweet_id=in_reply_to, media_ids=media_ids or None, user_auth=True)
        data = json_body(response, "POST /2/tweets").get("data") or {}
        if not isinstance(data.get("id"), str):
            unusable("POST /2/tweets", {"data.id"}, data)
        return TweetId(data["id"])

    def find_reply(self, in_reply_to: TweetId, text: str) -> TweetId | None:
        """The brand's tweet replying to ``in_reply_to`` with ``text``, if X has one, else None.

        X takes no idempotency key, so before retrying a reply whose earlier attempt may have reached X
        the bridge looks here instead of tweeting blind. It reads the brand's Posts timeline, which is
        immediate (recent search is indexed late), back to ``in_reply_to``: a reply is always newer.
        RateLimited and XUnavailable propagate, so that the caller tries again later; past the page
        bound it cannot be sure and raises a (non-retryable) XError saying so.
        """
        if self.brand_id is None:
            self.me()
        fetch = self._timeline("GET /2/users/:id/tweets", lambda token: self._client.get_users_tweets(
            self.brand_id, since_id=in_reply_to, pagination_token=token, max_results=100,
            exclude=["retweets"], user_auth=True, **TWEEPY_FIELDS))
        # X appends the link of a tweet's media to its text: "^AN" comes back as "^AN https://t.co/...".
        wanted = {comparable(text), f"{comparable(text)} \x00".strip()}
        found = next((t.id for t in fetch.tweets
                      if t.replied_to == in_reply_to and comparable(t.text) in wanted), None)
        if found is None and fetch.truncated:
            raise XError(f"the bridge could not check on X whether this reply was already tweeted (the brand "
                         f"tweeted over {100 * self.max_pages} times since the customer's tweet); look at the "
                         "brand's replies on X before sending it again")
        log.info(kv("x.reply_lookup", in_reply_to=in_reply_to, found=found or "none", read=len(fetch.tweets)))
        return found

    def signed(self, endpoint: str, method: str, route: str, **kwargs: Any) -> requests.Response:
        """A user-context call tweepy has no method for (v2 media upload), through the same session
        (``X_API_URL``, timeouts) with the same errors; any 2xx is success. ``kwargs`` go to ``requests``."""
        c = self._client
        auth = tweepy.OAuth1UserHandler(c.consumer_key, c.consumer_secret, c.access_token,
                                        c.access_token_secret).apply_auth()

        def send() -> requests.Response:
            response = c.session.request(method, X_HOST + route, auth=auth, **kwargs)
            if not 200 <= response.status_code < 300:
                raise error_from(response, self.brand_username)
            return response

        return self._call(endpoint, send)

    def signed_json(self, endpoint: str, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`signed`, its answer's JSON body."""
        return json_body(self.signed(endpoint, method, route, **kwargs), endpoint)

    def delete_tweet(self, tweet_id: TweetId) -> None:
        with contextlib.suppress(TweetGone):  # already gone: what deleting wanted
            self._call("DELETE /2/tweets/:id", self._client.delete_tweet, tweet_id, user_auth=True)

    def gone(self, ids: list[TweetId]) -> dict[TweetId, str]:
        """Of ``ids`` (at most 100), those X no longer shows: id -> "deleted" or "not visible".

        X sends no event when a customer deletes a tweet; a lookup answers a missing id with a partial
        error in ``errors`` (resource-not-found, or not-authorized-for-resource for a protected one):
        https://docs.x.com/x-api/fundamentals/response-codes-and-errors#partial-errors
        """
        response = self._call("GET /2/tweets", self._client.get_tweets, ids, user_auth=True)
        body = json_body(response, "GET /2/tweets")
        found: dict[TweetId, str] = {}
        for error in body.get("errors") or []:
            kind = str(error.get("type", "")) if isinstance(error, dict) else ""
            tweet_id = error.get("resource_id") or error.get("value") if kind else None
            if tweet_id in ids and kind.endswith("/resource-not-found"):
                found[TweetId(tweet_id)] = "deleted"
            elif tweet_id in ids and kind.endswith("/not-authorized-for-resource"):
                found[TweetId(tweet_id)] = "not visible"
        return found

    def _timeline(self, endpoint: str, page: Callable[[str | None], requests.Response]) -> Fetch:
        """Every page newer than since_id (X sends newest first), at most ``max_pages`` of them."""
        found: dict[str, Tweet] = {}
        token: str | None = None
        budget = RateBudget()
        for _ in range(self.max_pages):
            response = self._call(endpoint, page, token)
            budget = RateBudget.from_headers(response.headers)
            body = json_body(response, endpoint)
            found.update((t.id, t) for t in tweets_of(endpoint, body))
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        if token:
            log.warning(kv("x.pages_left_unread", endpoint=endpoint, pages=self.max_pages, read=len(found)))
        return Fetch(sorted(found.values(), key=lambda t: int(t.id)), budget, truncated=bool(token))

    def budget(self, endpoint: str) -> RateBudget:
        """What X's headers said of ``endpoint``'s budget in its last answer (a new object per answer)."""
        return self._budgets.get(endpoint) or RateBudget()

    def call(self, endpoint: str, method: str, **kwargs: Any) -> requests.Response:
        """``tweepy.Client.<method>(**kwargs)`` through this client's session, its answer raw: for the
        adapter's other halves (:mod:`bridge.x.direct`), with the same errors as every call here."""
        return self._call(endpoint, getattr(self._client, method), **kwargs)

    def _call(self, endpoint: str, fn: Callable[..., requests.Response], *args: Any, **kwargs: Any,
              ) -> requests.Response:
        """One request; every failure becomes an :class:`XError`."""
        try:
            response = fn(*args, **kwargs)
        except tweepy.HTTPException as exc:
            self._budgets[endpoint] = RateBudget.from_headers(exc.response.headers)
            self._observed(endpoint, str(exc.response.status_code), exc.response)
            raise error_from(exc.response, self.brand_username) from None
        except requests.Timeout as exc:
            self._observed(endpoint, "timeout", None)
            raise XUnavailable(f"X did not answer {endpoint} in time; the bridge will retry") from exc
        except requests.ConnectionError as exc:
            self._observed(endpoint, "unreachable", None)
            raise XUnavailable(f"X could not be reached for {endpoint}; the bridge will retry") from exc
        except requests.RequestException as exc:  # e.g. ChunkedEncodingError: the answer was cut off
            self._observed(endpoint, "broken", None)
            raise XUnavailable(f"X's answer to {endpoint} broke off; the bridge will retry") from exc
        self._budgets[endpoint] = RateBudget.from_headers(response.headers)
        self._observed(endpoint, str(response.status_code), response)
        return response

    def _observed(self, endpoint: str, status: str, response: requests.Response | None) -> None:
        if self.observe is not None:
            self.observe(endpoint, status, response)
