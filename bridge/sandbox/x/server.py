"""An X API v2 emulator on localhost: a real HTTP server speaking X's wire format.

The bridge's real ``XClient`` (real tweepy, real OAuth 1.0a signatures) talks to it unchanged through
``X_API_URL``. It serves ``GET /2/users/me``, ``GET /2/users/:id/mentions``,
``GET /2/users/:id/tweets``, ``GET /2/tweets/search/recent``, ``POST /2/tweets``, ``DELETE /2/tweets/:id``,
``GET /2/tweets/:id``, ``GET /2/tweets?ids=``, media upload (``x_media.py``) and direct messages
(``x_dms.py``), keeps X's rate-limit budgets, and refuses what X refuses.
A tweet created with ``POST /2/tweets`` is stored as X stores it (NFC, trimmed, URLs wrapped in t.co
links); ``add_tweet`` takes its text as already stored. Shapes follow the OpenAPI document 2.162 in
tests/reference/; ``/_emulator/`` is not X: it lets a person or another process add tweets and
read what the brand posted.

    with XEmulator(brand_username="Telekom_hilft") as x:
        tweet_id = x.add_tweet("@Telekom_hilft my router is dead", author="kunde_klaus")
        x.rate_limit_next("GET", r"/mentions$", with_reset=False)
        [reply] = x.wait_for_posts(1)
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from twitter_text import parse_tweet

from bridge.sandbox.x import media as x_media
from bridge.sandbox.x import wire as wire
from bridge.sandbox.x.dms import DM_ROUTES, DmBox
from bridge.sandbox.x.faults import FaultControls
from bridge.sandbox.x.gate import Faults, HttpServer, OAuthVerifier, RateLimits
from bridge.sandbox.x.store import World, escape_text, stored_form
from bridge.sandbox.x.wire import Reply, XApiError, check_id, not_found, parse_query, problem

log = logging.getLogger(__name__)

Handler = Callable[["XEmulator", tuple[str, ...], dict[str, str], bytes], Reply]


class LoggedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    status: int


class XEmulator(FaultControls):
    """The emulated X API for one brand account. Thread-safe: one lock guards the world."""

    def __init__(
        self,
        brand_username: str = "Telekom_hilft",
        brand_name: str = "Telekom hilft",
        consumer_key: str = "emulator-consumer-key",
        consumer_secret: str = "emulator-consumer-secret",
        access_token: str = "1000000001-emulator-access-token",
        access_token_secret: str = "emulator-access-token-secret",
        window_seconds: float = 900,
        rate_limits: Mapping[str, int] | None = None,
        daily_post_limit: int = 2400,
        reply_restrictions: bool = True,
    ) -> None:
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.access_token, self.access_token_secret = access_token, access_token_secret
        self.window_seconds = window_seconds
        self.reply_restrictions = reply_restrictions  # False: an Enterprise app, which X lets reply anywhere
        limits = {**wire.RATE_LIMITS, **(rate_limits or {})}
        self.limits = RateLimits(limits, window_seconds, daily_post_limit)
        self.brand_username = brand_username
        self._oauth = OAuthVerifier((consumer_key, consumer_secret), (access_token, access_token_secret))
        self._faults = Faults()
        self._cond = threading.Condition(threading.RLock())
        self._world = World()
        self.media = x_media.MediaUploads(self._world.next_id)
        self._local = threading.local()  # the request's headers, for the media handlers
        self._posted: list[dict[str, Any]] = []
        self._requests: list[LoggedRequest] = []
        self._stopping = threading.Event()
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.brand_id = self.add_user(brand_username, brand_name, followers=12000)
        self.dms = DmBox(self)  # direct messages: x.dms.send(...), x.dms.sent

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> XEmulator:
        if self._server is None:
            self._stopping.clear()
            self._server = HttpServer(self, ("127.0.0.1", 0))
            # A short poll interval: stop() (socketserver's shutdown) waits up to one interval.
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                            name="x-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # cuts injected delays short
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> XEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the X emulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- the world ---------------------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, followers: int = 0,
                 profile_image_url: str | None = None) -> str:
        with self._cond:
            user_id = self._world.add_user(username, name, followers, profile_image_url)
            self._cond.notify_all()
            return user_id

    def user_id(self, username: str) -> str:
        """The X user id of ``username`` (created if unknown, as a tweet by them would)."""
        with self._cond:
            user = self._world.user_by_name(username)
        return user.id if user else self.add_user(username)

    def set_followers(self, count: int) -> None:
        """The brand account now has ``count`` followers (what ``GET /2/users/me`` says of it)."""
        with self._cond:
            self._world.users[self.brand_id].followers = count
            self._cond.notify_all()

    def add_tweet(self, text: str, author: str, *, in_reply_to: str | None = None,
                  quote_of: str | None = None, retweet_of: str | None = None, lang: str = "en",
                  media: Sequence[Sequence[str]] = (), conversation_id: str | None = None,
                  mentions: Iterable[str] | None = None, created_at: str | None = None,
                  as_created: bool = False) -> str:
        """Add a tweet by ``author`` (a username; unknown users are created) and return its id.

        ``conversation_id`` defaults to the root of the reply chain, as on X. The brand counts as
        mentioned when ``@brand`` is in ``text``; ``mentions`` usernames missing from ``text`` are put
        in front of it, the way X writes a reply's mentions into its text. ``media`` items are
        ``(type, url)`` or ``(type, url, alt_text)`` with type ``photo``, ``video`` or ``animated_gif``.
        ``as_created``: store ``text`` as ``POST /2/tweets`` does (NFC, trimmed, URLs as t.co links).
        """
        with self._cond:
            tweet_id = self._world.add_tweet(
                text, author, in_reply_to=in_reply_to, quote_of=quote_of, retweet_of=retweet_of, lang=lang,
                media=media, conversation_id=conversation_id, mentions=mentions, created_at=created_at,
                as_created=as_created)
            self._cond.notify_all()
            return tweet_id

    def delete_tweet(self, tweet_id: str) -> None:
        with self._cond:
            self._world.tweets[tweet_id].deleted = True
            self._cond.notify_all()

    def is_live(self, tweet_id: str) -> bool:
        """Whether X still shows the tweet (neither deleted by its author nor by the brand's app)."""
        with self._cond:
            return self._world.live(tweet_id) is not None

    @property
    def posted(self) -> list[dict[str, Any]]:
        """Tweets created with ``POST /2/tweets``, oldest first: id, text, in_reply_to_tweet_id,
        media_ids, author (the brand's username)."""
        with self._cond:
            return [dict(p) for p in self._posted]

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._cond:
            return list(self._requests)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Wait until ``predicate()`` is true, re-checked after every request and every change."""
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
        if not result:
            raise TimeoutError(f"X emulator: condition not met within {timeout} s")
        return result

    def wait_for_posts(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self._posted) >= n, timeout)
        return self.posted

    # -- requests ----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        split = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        fault = self._faults.take(method, split.path, body)
        if fault and fault.delay:
            self._stopping.wait(fault.delay)
        if fault and fault.status is not None:
            default = problem(fault.status).body
            reply = Reply(fault.status, default if fault.body is None else fault.body, dict(fault.headers))
        else:
            try:
                reply = self._route(method, raw_path, split.path, query, headers, body)
            except XApiError as exc:
                reply = Reply(exc.status, exc.body)
        reply.truncate = bool(fault and fault.truncate)
        with self._cond:
            self._requests.append(LoggedRequest(method, split.path, query, reply.status))
            self._cond.notify_all()
        return reply

    def _route(self, method: str, raw_path: str, path: str, query: dict[str, str],
               headers: Mapping[str, str], body: bytes) -> Reply:
        if path.startswith("/_emulator/"):
            return self._control(method, path, body)
        key, handler, args = _find_route(method, path)
        self._local.headers = headers
        if not self._oauth.verify(method, raw_path, headers):
            raise problem(401)
        allowed, rate_headers = self.limits.take(key, time.time())
        if not allowed:
            return Reply(429, problem(429).body, rate_headers)
        try:
            reply = handler(self, args, query, body)
        except XApiError as exc:
            reply = Reply(exc.status, exc.body)
        reply.headers = {**rate_headers, **reply.headers}
        return reply

    def _get_me(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        q = parse_query(query, ("expansions", "tweet.fields", "user.fields"), wire.USER_EXPANSIONS)
        with self._cond:
            return Reply(200, {"data": self._world.render_user(self._world.users[self.brand_id], q)})

    def _get_mentions(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        user_id = check_id("id", args[0])
        q = parse_query(query, (*wire.TIMELINE_PARAMS, "pagination_token"), wire.TWEET_EXPANSIONS, (5, 100))
        with self._cond:
            if user_id not in self._world.users:  # X answers 200 with only a partial error
                return Reply(200, {"errors": [not_found(user_id, "id", "user")]})
            return Reply(200, self._world.timeline(self._world.mentioning(user_id), q))

    def _get_user_tweets(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        """The user Posts timeline: https://docs.x.com/x-api/posts/timelines/integrate"""
        user_id = check_id("id", args[0])
        allowed = (*wire.TIMELINE_PARAMS, "pagination_token", "exclude")
        q = parse_query(query, allowed, wire.TWEET_EXPANSIONS, (5, 100))
        with self._cond:
            if user_id not in self._world.users:
                return Reply(200, {"errors": [not_found(user_id, "id", "user")]})
            return Reply(200, self._world.timeline(self._world.posts_by(user_id, q.exclude), q))

    def _get_search(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        allowed = (*wire.TIMELINE_PARAMS, "query", "next_token", "pagination_token", "sort_order")
        q = parse_query(query, allowed, wire.TWEET_EXPANSIONS, (10, 100))
        matches = wire.compile_search(query.get("query", ""))
        with self._cond:
            users = self._world.users
            found = [t for t in self._world.tweets.values() if matches(t, users[t.author_id].username)]
            return Reply(200, self._world.timeline(found, q))

    def _get_tweets(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        q = parse_query(query, ("ids", "expansions", *wire.EXPANDABLE), wire.TWEET_EXPANSIONS)
        ids = [check_id("ids", i) for i in query.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            message = "The `ids` query parameter value must list between 1 and 100 ids"
            raise wire.invalid_request([("ids", query.get("ids", ""), message)])
        with self._cond:
            found = [t for t in map(self._world.live, ids) if t is not None]
            answer = self._world.expand(found, q)
            missing = [not_found(i, "ids") for i in ids if self._world.live(i) is None]
            if missing:
                answer["errors"] = missing + answer.get("errors", [])
            return Reply(200, answer)

    def _get_tweet(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        tweet_id = check_id("id", args[0])
        q = parse_query(query, ("expansions", *wire.EXPANDABLE), wire.TWEET_EXPANSIONS)
        with self._cond:
            tweet = self._world.live(tweet_id)
            if tweet is None:  # a 200 with a partial error, as X answers a lookup
                return Reply(200, {"errors": [not_found(tweet_id, "id")]})
            answer = self._world.expand([tweet], q)
            return Reply(200, {**answer, "data": answer["data"][0]})

    def _post_tweet(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        text, parent_id, media_ids = wire.parse_create(body)
        # Weighted, NFC, URLs count 23: https://docs.x.com/fundamentals/counting-characters
        if parse_tweet(text).weightedLength > 280:
            raise problem(403, wire.TOO_LONG)
        with self._cond:
            parent = self._world.live(parent_id)
            if parent_id and parent is None:
                raise problem(403, wire.REPLY_TO_DELETED)
            if parent and self.reply_restrictions and not self._world.summoned(parent, self.brand_id):
                raise problem(403, wire.REPLY_NOT_ALLOWED)
            if any(t.author_id == self.brand_id and t.as_written() == stored_form(text)
                   for t in self._world.tweets.values() if not t.deleted):
                raise problem(403, wire.DUPLICATE)
            self.media.check_attachable(media_ids)
            tweet_id = self.add_tweet(text, self.brand_username, in_reply_to=parent_id, as_created=True)
            self.media.attach(self._world, self._world.tweets[tweet_id], media_ids, self.brand_username)
            self._posted.append({"id": tweet_id, "text": text, "in_reply_to_tweet_id": parent_id,
                                 "media_ids": media_ids, "author": self.brand_username})
            stored = self._world.tweets[tweet_id].text
        data = {"id": tweet_id, "text": escape_text(stored), "edit_history_tweet_ids": [tweet_id]}
        return Reply(201, {"data": data})

    def _delete_tweet(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        tweet_id = check_id("id", args[0])
        with self._cond:
            tweet = self._world.live(tweet_id)
            if tweet is None:
                raise XApiError(404, not_found(tweet_id, "id"))
            if tweet.author_id != self.brand_id:
                raise problem(403, "You are not allowed to delete this Tweet.")
            tweet.deleted = True
        return Reply(200, {"data": {"deleted": True}})

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        """``/_emulator/``: not X. Add users and tweets, delete tweets, read what the brand posted."""
        try:
            if method == "GET" and path == "/_emulator/posted":
                return Reply(200, {"posted": self.posted})
            if method == "POST" and path == "/_emulator/tweets":
                p = json.loads(body)
                tweet_id = self.add_tweet(
                    p["text"], p.get("author", "customer"), in_reply_to=p.get("in_reply_to"),
                    quote_of=p.get("quote_of"), retweet_of=p.get("retweet_of"), lang=p.get("lang", "en"),
                    media=[tuple(m) for m in p.get("media", ())], mentions=p.get("mentions"))
                return Reply(201, {"id": tweet_id})
            if path == "/_emulator/dms":
                return self.dms.control(method, body)
            if method == "POST" and path == "/_emulator/users":
                p = json.loads(body)
                user_id = self.add_user(p["username"], p.get("name"), p.get("followers", 0),
                                        p.get("profile_image_url"))
                return Reply(201, {"id": user_id})
            if method == "DELETE" and (m := re.fullmatch(r"/_emulator/tweets/(\d+)", path)):
                self.delete_tweet(m.group(1))
                return Reply(200, {"deleted": True})
        except (KeyError, TypeError, ValueError) as exc:
            raise problem(400, f"bad emulator request: {exc!r}") from None
        raise problem(404, "Sorry, that page does not exist")


_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    ("GET", re.compile(r"^/2/users/me$"), "GET /2/users/me", XEmulator._get_me),
    ("GET", re.compile(r"^/2/users/([^/]+)/mentions$"), "GET /2/users/:id/mentions", XEmulator._get_mentions),
    ("GET", re.compile(r"^/2/users/([^/]+)/tweets$"), "GET /2/users/:id/tweets", XEmulator._get_user_tweets),
    ("GET", re.compile(r"^/2/tweets/search/recent$"), "GET /2/tweets/search/recent", XEmulator._get_search),
    ("GET", re.compile(r"^/2/tweets$"), "GET /2/tweets", XEmulator._get_tweets),
    ("GET", re.compile(r"^/2/tweets/([^/]+)$"), "GET /2/tweets/:id", XEmulator._get_tweet),
    ("POST", re.compile(r"^/2/tweets$"), "POST /2/tweets", XEmulator._post_tweet),
    ("DELETE", re.compile(r"^/2/tweets/([^/]+)$"), "DELETE /2/tweets/:id", XEmulator._delete_tweet),
    *x_media.ROUTES,
    *DM_ROUTES,
]


def _find_route(method: str, path: str) -> tuple[str, Handler, tuple[str, ...]]:
    for route_method, pattern, key, handler in _ROUTES:
        if route_method == method and (match := pattern.match(path)):
            return key, handler, match.groups()
    raise problem(404, "Sorry, that page does not exist")
