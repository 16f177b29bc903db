"""The real XClient (real tweepy, real OAuth 1.0a) against the running X emulator, plus its pure rules."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from bridge.core.models import Media, TweetId, UserId
from bridge.core.settings import Environment
from bridge.sandbox.x.server import XEmulator
from bridge.sandbox.x.wire import invalid_request
from bridge.x.client import (
    RateBudget,
    RateLimited,
    ReplyNotAllowed,
    TweetGone,
    XAuthError,
    XClient,
    XError,
    XRefused,
    XUnavailable,
    backoff,
    next_poll_delay,
    retry_delay,
)

KEYS = {"consumer_key": "xk-consumer-3nVuSoBZnx6U4vzUxf5w", "consumer_secret": "xs-consumer-Bcs59EFbbsdF6S",
        "access_token": "1000000001-xat-0U2L7Z9lAmYfNPp8WhQ", "access_token_secret": "xats-gtHh7bE9kZ0WyXq4"}
SECRETS = (KEYS["consumer_secret"], KEYS["access_token_secret"])
BRAND = UserId("1000000001")


@pytest.fixture
def emu() -> Iterator[XEmulator]:
    with XEmulator(window_seconds=60, **KEYS) as x:
        yield x


@pytest.fixture
def make_client(emu: XEmulator) -> Callable[..., XClient]:
    def make(secret: str = KEYS["access_token_secret"], url: str | None = None, **kwargs: object) -> XClient:
        env = Environment(x_api_key=KEYS["consumer_key"], x_api_secret=KEYS["consumer_secret"],
                          x_access_token=KEYS["access_token"], x_access_token_secret=secret,
                          x_api_url=url or emu.url)
        return XClient(env, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: Callable[..., XClient]) -> XClient:
    return make_client()


def test_the_client_signs_for_the_host_it_sends_to(make_client: Callable[..., XClient], emu: XEmulator) -> None:
    # X verifies OAuth 1.0a against the URL it received: signing for api.twitter.com and sending to
    # another host (X_API_URL=https://api.x.com, a proxy) is refused. Here the other host is "localhost".
    other_host = emu.url.replace("127.0.0.1", "localhost")
    client = make_client(url=other_host)
    assert client.me().username == "Telekom_hilft"
    customer = emu.add_tweet("@Telekom_hilft help", "kunde_klaus")
    reply = client.post_reply("On it ^AN", TweetId(customer))
    assert [(p["id"], p["text"]) for p in emu.posted] == [(reply, "On it ^AN")]
    assert client.find_reply(TweetId(customer), "On it ^AN") == reply


def test_me_is_the_brand_account(client: XClient, emu: XEmulator) -> None:
    me = client.me()
    assert (me.id, me.username, me.name) == (emu.brand_id, "Telekom_hilft", "Telekom hilft")
    assert me.followers == 12000
    assert client.brand_username == "Telekom_hilft"


def test_mentions_follow_every_page_oldest_first_above_since_id(client: XClient, emu: XEmulator) -> None:
    ids = [emu.add_tweet(f"@Telekom_hilft ticket {i}", f"kunde{i % 7}") for i in range(250)]
    first = client.mentions(BRAND, None)
    assert [t.id for t in first.tweets] == ids and not first.truncated
    pages = [r for r in emu.requests if r.path.endswith("/mentions")]
    assert len(pages) == 3 and all(r.query["max_results"] == "100" for r in pages)
    assert "pagination_token" in pages[1].query and "since_id" not in pages[0].query
    later = client.mentions(BRAND, TweetId(ids[99]))
    assert [t.id for t in later.tweets] == ids[100:]
    newest = emu.add_tweet("@Telekom_hilft one more", "kunde_klaus")
    assert [t.id for t in client.mentions(BRAND, TweetId(ids[-1])).tweets] == [newest]
    assert client.mentions(BRAND, TweetId(newest)).tweets == []


def test_page_bound_keeps_the_newest_and_says_so(make_client: Callable[..., XClient], emu: XEmulator,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    ids = [emu.add_tweet(f"@Telekom_hilft ticket {i}", "kunde_klaus") for i in range(250)]
    fetched = make_client(max_pages=2).mentions(BRAND, None)
    assert fetched.truncated and [t.id for t in fetched.tweets] == ids[50:]
    assert "x.pages_left_unread" in caplog.text


def test_tweets_are_converted_to_the_core_model(client: XClient, emu: XEmulator) -> None:
    emu.add_user("kunde_klaus", "Klaus Kunde", followers=321, profile_image_url="https://pbs.twimg.com/k.jpg")
    ours = emu.add_tweet("Tips for your router", "Telekom_hilft")
    root = emu.add_tweet("@Telekom_hilft router & modem <dead> @Nachbar", "kunde_klaus", lang="de",
                         media=[("photo", "https://pbs.twimg.com/r.jpg", "the router"),
                                ("video", "https://pbs.twimg.com/v_thumb.jpg")])
    reply = emu.add_tweet("still nothing", "kunde_klaus", in_reply_to=root, mentions=["Telekom_hilft"])
    deeper = emu.add_tweet("hello?", "kunde_klaus", in_reply_to=reply, mentions=["Telekom_hilft"])
    quote = emu.add_tweet("@Telekom_hilft this one", "anna", quote_of=ours)
    retweet = emu.add_tweet("RT @kunde_klaus: @Telekom_hilft router", "ben", retweet_of=root)
    tweets = {t.id: t for t in client.mentions(BRAND, None).tweets}

    first = tweets[root]
    assert first.text == "@Telekom_hilft router & modem <dead> @Nachbar"  # X's &amp; &lt; &gt; undone
    assert first.author.name == "Klaus Kunde" and first.author.username == "kunde_klaus"
    assert first.author.followers == 321 and first.author.profile_image_url == "https://pbs.twimg.com/k.jpg"
    assert first.conversation_id == root and first.referenced == () and first.lang == "de"
    assert first.created_at and first.created_at.endswith("Z")
    assert first.mentions == ("telekom_hilft", "nachbar")
    photo, video = first.media
    assert photo == Media(photo.key, "photo", "https://pbs.twimg.com/r.jpg", alt_text="the router")
    assert (video.type, video.url) == ("video", "https://pbs.twimg.com/v_thumb.jpg")
    assert (tweets[reply].replied_to, tweets[reply].conversation_id) == (root, root)
    assert (tweets[deeper].replied_to, tweets[deeper].conversation_id) == (reply, root)
    assert (tweets[quote].quoted, tweets[quote].replied_to) == (ours, None)
    assert tweets[retweet].retweeted == root and tweets[retweet].referenced == ()
    assert tweets[quote].url() == f"https://x.com/anna/status/{quote}"


def test_search_converts_the_same_way(client: XClient, emu: XEmulator) -> None:
    hit = emu.add_tweet('T-Online mail "down" again', "kunde_klaus", lang="de")
    emu.add_tweet("RT @kunde_klaus: T-Online mail down again", "ben", retweet_of=hit)
    emu.add_tweet("nothing to see", "kunde_klaus")
    found = client.search('"T-Online" -is:retweet', None)
    assert [(t.id, t.author.username, t.lang, t.text) for t in found.tweets] == [
        (hit, "kunde_klaus", "de", 'T-Online mail "down" again')]
    assert found.budget.limit == 300
    assert client.search('"T-Online" -is:retweet', TweetId(hit)).tweets == []


def test_rate_limit_headers_become_the_budget(client: XClient, emu: XEmulator) -> None:
    before = time.time()
    budgets = [client.mentions(BRAND, None).budget for _ in range(3)]
    assert [(b.limit, b.remaining) for b in budgets] == [(300, 299), (300, 298), (300, 297)]
    assert budgets[0].reset_at is not None and before < budgets[0].reset_at <= before + 61


@pytest.mark.parametrize("with_reset", [True, False])
def test_429_is_rate_limited_with_or_without_a_reset(client: XClient, emu: XEmulator,
                                                     with_reset: bool) -> None:
    emu.rate_limit_next("GET", r"/mentions$", with_reset=with_reset)
    with pytest.raises(RateLimited) as caught:
        client.mentions(BRAND, None)
    assert caught.value.retryable and not caught.value.daily
    if with_reset:
        assert caught.value.reset_at is not None and caught.value.reset_at > time.time()
        assert "UTC" in caught.value.reason
    else:
        assert caught.value.reset_at is None and "in a moment" in caught.value.reason


def test_a_spent_budget_is_rate_limited_until_the_reset(make_client: Callable[..., XClient]) -> None:
    with XEmulator(rate_limits={"GET /2/users/:id/mentions": 1}, **KEYS) as emu:
        client = make_client(url=emu.url)
        assert client.mentions(BRAND, None).budget.remaining == 0
        with pytest.raises(RateLimited) as caught:
            client.mentions(BRAND, None)
        assert caught.value.reset_at is not None and caught.value.reset_at > time.time()


def test_the_24_hour_posting_cap_is_daily(make_client: Callable[..., XClient]) -> None:
    with XEmulator(daily_post_limit=1, **KEYS) as emu:
        client = make_client(url=emu.url)
        client.post_reply("first", TweetId(emu.add_tweet("@Telekom_hilft a", "kunde_klaus")))
        with pytest.raises(RateLimited) as caught:
            client.post_reply("second", TweetId(emu.add_tweet("@Telekom_hilft b", "kunde_klaus")))
        assert caught.value.daily and "24-hour" in caught.value.reason
        assert caught.value.reset_at is not None and caught.value.reset_at > time.time() + 3600
        emu.daily_cap_next()
        with pytest.raises(RateLimited, match="24-hour"):
            client.post_reply("third", TweetId(emu.add_tweet("@Telekom_hilft c", "kunde_klaus")))


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "html", "truncated", "bad json", "json list"])
def test_server_trouble_is_x_unavailable(client: XClient, emu: XEmulator, fault: str) -> None:
    if fault.isdigit():
        emu.server_error_next("GET", r"/mentions$", status=int(fault))
    elif fault == "html":
        emu.non_json_next("GET", r"/mentions$")
    elif fault == "truncated":
        emu.truncated_next("GET", r"/mentions$")
    else:
        body = b'{"data": [{"id": "1' if fault == "bad json" else b"[]"
        emu.fail_next("GET", r"/mentions$", status=200, body=body)
    with pytest.raises(XUnavailable) as caught:
        client.mentions(BRAND, None)
    assert caught.value.retryable
    after = client.mentions(BRAND, None)  # the next poll works again
    assert after.tweets == [] and after.budget.remaining is not None


def test_a_slow_x_times_out_quickly(make_client: Callable[..., XClient], emu: XEmulator) -> None:
    client = make_client(timeout=(1.0, 0.2))
    emu.slow_next("GET", r"/mentions$", delay=30)
    started = time.monotonic()
    with pytest.raises(XUnavailable, match="in time"):
        client.mentions(BRAND, None)
    assert time.monotonic() - started < 2


def test_an_unreachable_x_is_unavailable(make_client: Callable[..., XClient]) -> None:
    gone = XEmulator(**KEYS).start()
    url = gone.url
    gone.stop()
    with pytest.raises(XUnavailable, match="could not be reached"):
        make_client(url=url, timeout=(0.5, 0.5)).me()


def test_replies_are_posted_in_reply_to_the_customer(client: XClient, emu: XEmulator) -> None:
    customer = emu.add_tweet("@Telekom_hilft help", "kunde_klaus")
    tweet_id = client.post_reply("We're on it! ^AN", TweetId(customer))
    assert emu.posted == [{"id": tweet_id, "text": "We're on it! ^AN", "in_reply_to_tweet_id": customer,
                           "media_ids": [], "author": "Telekom_hilft"}]
    client.delete_tweet(tweet_id)
    client.delete_tweet(tweet_id)  # already gone: fine
    assert emu.requests[-1].status == 404


@pytest.mark.parametrize("known_brand", [True, False])
def test_a_customer_who_did_not_summon_the_brand_cannot_be_answered(client: XClient, emu: XEmulator,
                                                                    known_brand: bool) -> None:
    if known_brand:
        client.me()
    silent = emu.add_tweet("Telekom is slow today", "kunde_klaus")
    with pytest.raises(ReplyNotAllowed) as caught:
        client.post_reply("Can we help?", TweetId(silent))
    brand = "@Telekom_hilft" if known_brand else "the brand"
    assert caught.value.reason == (f"X refused: the customer did not mention or quote {brand}, so the brand "
                                   "cannot reply publicly")
    assert not caught.value.retryable and emu.posted == []


def test_a_deleted_customer_tweet_is_gone(client: XClient, emu: XEmulator) -> None:
    customer = emu.add_tweet("@Telekom_hilft help", "kunde_klaus")
    emu.delete_tweet(customer)
    with pytest.raises(TweetGone, match="deleted"):
        client.post_reply("Hello?", TweetId(customer))


@pytest.mark.parametrize(("text", "words"), [("x" * 281, "longer than 280"), ("dup", "duplicate content")])
def test_other_refusals_carry_x_s_explanation(client: XClient, emu: XEmulator, text: str, words: str) -> None:
    customer = TweetId(emu.add_tweet("@Telekom_hilft help", "kunde_klaus"))
    if text == "dup":
        client.post_reply(text, customer)
    with pytest.raises(XRefused) as caught:
        client.post_reply(text, customer)
    assert words in caught.value.reason and caught.value.status == 403 and not caught.value.retryable


def test_a_wrong_secret_is_an_auth_error_that_names_no_secret(make_client: Callable[..., XClient],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(XAuthError) as caught:
        make_client(secret="not-the-secret").me()
    assert "401" in caught.value.reason and "X_ACCESS_TOKEN_SECRET" in caught.value.reason
    for text in (caught.value.reason, str(caught.value), repr(caught.value)):
        assert not any(secret in text for secret in (*SECRETS, "not-the-secret"))


def test_an_unknown_user_id_is_refused(client: XClient) -> None:
    with pytest.raises(XRefused, match="Could not find user"):
        client.mentions(UserId("999"), None)


def test_a_renamed_wire_format_is_one_clear_error(client: XClient, emu: XEmulator,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    post_style = {  # the same answer in OpenAPI 2.167's names
        "data": [{"id": "2000000000000000001", "text": "@Telekom_hilft hi", "author_id": "1000000002",
                  "conversation_id": "1999999999999999999", "created_at": "2026-08-01T10:00:00.000Z",
                  "edit_history_post_ids": ["2000000000000000001"],
                  "referenced_posts": [{"type": "replied_to", "id": "1999999999999999999"}]}],
        "includes": {"users": [{"id": "1000000002", "name": "K", "username": "k",
                                "public_metrics": {"followers_count": 1}}]},
        "meta": {"result_count": 1},
    }
    emu.fail_next("GET", r"/mentions$", status=200, body=post_style)
    with pytest.raises(XUnavailable, match="without fields the bridge needs"):
        client.mentions(BRAND, None)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert line.startswith("x.response_unusable") and "edit_history_tweet_ids" in line
    assert "referenced_posts" in line and "2.167" in line


def test_fields_x_no_longer_knows_are_one_clear_operator_error(client: XClient, emu: XEmulator,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    # OpenAPI 2.167 renamed Tweet to Post: its expansions know referenced_posts.id, not referenced_tweets.id.
    refused = invalid_request([("expansions", "referenced_tweets.id", "The `expansions` query parameter value "
                                "[referenced_tweets.id] is not one of [author_id,referenced_posts.id]")])
    emu.fail_next("GET", r"/mentions$", status=400, body=refused.body)
    with pytest.raises(XUnavailable) as caught:
        client.mentions(BRAND, None)
    assert "expansions=referenced_tweets.id" in caught.value.reason and "update the bridge" in caught.value.reason
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line.startswith("x.fields_refused") and "referenced_tweets.id" in line and "2.167" in line


def test_a_tweet_without_its_author_is_skipped_not_fatal(client: XClient, emu: XEmulator,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    tweet = {"text": "@Telekom_hilft hi", "conversation_id": "1", "created_at": "2026-08-01T10:00:00.000Z"}
    body = {
        "data": [{**tweet, "id": "3", "author_id": "1000000009", "edit_history_tweet_ids": ["3"]},
                 {**tweet, "id": "2", "author_id": "1000000002", "edit_history_tweet_ids": ["2"]}],
        "includes": {"users": [{"id": "1000000002", "name": "K", "username": "k",
                                "public_metrics": {"followers_count": 1}}]},
        "meta": {"result_count": 2, "newest_id": "3", "oldest_id": "2"},
    }
    emu.fail_next("GET", r"/mentions$", status=200, body=body)
    assert [t.id for t in client.mentions(BRAND, None).tweets] == ["2"]
    assert "x.tweet_skipped" in caplog.text and "tweet=3" in caplog.text


def test_a_page_with_one_incomplete_tweet_delivers_the_others_and_the_cursor_moves_on(
        client: XClient, emu: XEmulator, redis_url: str, tmp_path) -> None:
    import redis

    from bridge.intake.mentions import Poller
    from bridge.storage.store import Store
    from tests import harness

    user = {"id": "1000000002", "name": "K", "username": "kunde_k", "public_metrics": {"followers_count": 1}}
    body = {
        "data": [  # newest first, as X sends them; X's schema marks none of these fields required
            {"id": "40", "text": "@Telekom_hilft no conversation id", "author_id": "1000000002",
             "edit_history_tweet_ids": ["40"]},
            {"id": "30", "text": "@Telekom_hilft author gone", "author_id": "1000000077", "conversation_id": "30"},
            {"id": "20", "author_id": "1000000002", "conversation_id": "20"},  # no text
            {"id": "10", "text": "@Telekom_hilft my router", "author_id": "1000000002", "conversation_id": "10",
             "created_at": "2026-08-01T10:00:00.000Z", "edit_history_tweet_ids": ["10"]},
        ],
        "includes": {"users": [user]}, "meta": {"result_count": 4, "newest_id": "40", "oldest_id": "10"},
    }
    emu.fail_next("GET", r"/mentions$", status=200, body=body)
    store = Store(redis.Redis.from_url(redis_url, decode_responses=True))
    settings = harness.load_settings(harness.write_settings(tmp_path / "settings.toml"))
    brand = client.me()
    Poller("mentions", lambda since, until: client.mentions(brand.id, since, until), store, settings, brand,
           answerable_by_source=True).poll_now()
    assert [store.case_of_tweet(TweetId(i)) is not None for i in ("10", "20", "30", "40")] == [
        True, False, False, True]
    assert store.cursor("mentions") == "40"


# -- pure rules ---------------------------------------------------------------------------------------

NOW = 1_000_000.0


@pytest.mark.parametrize(("budget", "min_interval", "expected"), [
    (RateBudget(), 5, 5),  # no headers: as often as allowed
    (RateBudget(300, 300, NOW + 900), 5, 5),  # 3 s per call would do; the floor is 5
    (RateBudget(300, 90, NOW + 900), 5, 900 / 91),  # 90 calls, then the next window's first at the reset
    (RateBudget(300, 1, NOW + 120), 5, 60),  # the last call halfway, the next window's first at the reset
    (RateBudget(300, 0, NOW + 42), 5, 42),  # spent: until the reset
    (RateBudget(300, 0, NOW + 2), 5, 5),  # spent, resets sooner than the floor
    (RateBudget(300, 0, NOW - 10), 5, 5),  # the reset is past: a new window
    (RateBudget(300, 10, None), 1, 1),
    (RateBudget(None, None, NOW + 60), 3, 3),
])
def test_next_poll_delay(budget: RateBudget, min_interval: float, expected: float) -> None:
    assert next_poll_delay(budget, min_interval, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(("attempt", "expected"), [
    (0, 1), (1, 1), (2, 2), (3, 4), (6, 32), (10, 512), (11, 900), (50, 900)])
def test_backoff_doubles_up_to_one_window(attempt: int, expected: float) -> None:
    assert backoff(attempt) == expected


@pytest.mark.parametrize(("error", "attempt", "expected"), [
    (RateLimited(NOW + 300, daily=False), 1, 300),
    (RateLimited(NOW + 1, daily=False), 1, 5),
    (RateLimited(None, daily=False), 4, 8),
    (RateLimited(NOW + 86_000, daily=True), 1, 86_000),
    (XUnavailable("down"), 1, 5),
    (XUnavailable("down"), 5, 16),
])
def test_retry_delay_waits_for_the_reset_or_backs_off(error: XError, attempt: int, expected: float) -> None:
    assert retry_delay(error, attempt, 5, NOW) == pytest.approx(expected)
