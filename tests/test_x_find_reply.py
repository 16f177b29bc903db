"""XClient.find_reply, the check before re-trying a reply that may already be on X: the real XClient
(real tweepy, real OAuth 1.0a) against the X emulator's user Posts timeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bridge.core.models import TweetId, UserId
from bridge.core.settings import Environment
from bridge.sandbox.x.server import XEmulator
from bridge.x.client import RateLimited, XClient, XError, XRefused, XUnavailable

KEYS = {"consumer_key": "xk-consumer-9fJq2LmWc7", "consumer_secret": "xs-consumer-Vd81kQzPa0",
        "access_token": "1000000001-xat-Rb5nT3yHs2", "access_token_secret": "xats-Mz4pC6wXe1"}
TIMELINE = r"^/2/users/\d+/tweets$"


@pytest.fixture
def emu() -> Iterator[XEmulator]:
    with XEmulator(window_seconds=60, **KEYS) as x:
        yield x


@pytest.fixture
def make_client(emu: XEmulator) -> Callable[..., XClient]:
    def make(**kwargs: object) -> XClient:
        env = Environment(x_api_key=KEYS["consumer_key"], x_api_secret=KEYS["consumer_secret"],
                          x_access_token=KEYS["access_token"], x_access_token_secret=KEYS["access_token_secret"],
                          x_api_url=emu.url)
        return XClient(env, **{"brand_id": UserId(emu.brand_id), **kwargs})  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: Callable[..., XClient]) -> XClient:
    return make_client()


@pytest.fixture
def customer(emu: XEmulator) -> TweetId:
    return TweetId(emu.add_tweet("@Telekom_hilft my router is dead", "kunde_klaus"))


def timeline_requests(emu: XEmulator) -> list[dict[str, str]]:
    return [r.query for r in emu.requests if r.path.endswith("/tweets") and r.method == "GET"]


@pytest.mark.parametrize(("sent", "looked_for"), [
    ("On it! ^AN", None),
    # X wraps every URL in a t.co link, a new one per tweet; bare domains too
    ("See https://www.telekom.de/hilfe/stoerung?plz=53113&typ=dsl for outages ^AN", None),
    ("Status: telekom.de/stoerung. Back soon ^AN", None),
    ("Router & modem: unplug <30 s>, then replug &amp; wait ^AN", None),  # X sends &amp; &lt; &gt;
    ("We're sorry \U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f44d\U0001f3fd ^AN", None),
    ("Cafe\u0301 Ko\u0308ln is back ^AN", None),  # decomposed: X keeps the NFC form
    ("Done ^AN  \n", None),  # X trims
    ("Done ^AN", "Done ^AN\n"),
])
def test_a_posted_reply_is_found(client: XClient, emu: XEmulator, customer: TweetId, sent: str,
                                 looked_for: str | None) -> None:
    emu.add_tweet("Unrelated brand news", "Telekom_hilft")
    tweet_id = client.post_reply(sent, customer)
    emu.add_tweet("Later brand news", "Telekom_hilft")
    assert client.find_reply(customer, looked_for or sent) == tweet_id


def test_a_reply_x_prefixed_with_the_customer_s_handle_is_found(client: XClient, emu: XEmulator,
                                                               customer: TweetId) -> None:
    # A reply created with auto-populated reply metadata carries "@kunde_klaus " in front of its text.
    tweet_id = emu.add_tweet("Try https://telekom.de/neustart ^AN", "Telekom_hilft", in_reply_to=customer,
                             mentions=["kunde_klaus"], as_created=True)
    assert client.find_reply(customer, "Try https://telekom.de/neustart ^AN") == tweet_id


@pytest.mark.parametrize("looked_for", [
    "On it! ^BK",  # another signature
    "On it ^AN",
    "on it! ^AN",
    "On it! https://telekom.de ^AN",  # a URL more
    "",
])
def test_another_text_is_not_found(client: XClient, customer: TweetId, looked_for: str) -> None:
    client.post_reply("On it! ^AN", customer)
    assert client.find_reply(customer, looked_for) is None


def test_the_same_text_in_reply_to_another_tweet_is_not_found(client: XClient, emu: XEmulator,
                                                               customer: TweetId) -> None:
    other = TweetId(emu.add_tweet("@Telekom_hilft mine too", "anna"))
    client.post_reply("Please DM us your contract number ^AN", other)
    emu.add_tweet("Please DM us your contract number ^AN", "Telekom_hilft")  # not a reply at all
    assert client.find_reply(customer, "Please DM us your contract number ^AN") is None
    assert client.find_reply(other, "Please DM us your contract number ^AN") is not None


def test_a_deleted_reply_is_not_found(client: XClient, customer: TweetId) -> None:
    tweet_id = client.post_reply("Oops, wrong answer ^AN", customer)
    client.delete_tweet(tweet_id)
    assert client.find_reply(customer, "Oops, wrong answer ^AN") is None


def test_the_request_reads_the_brand_s_timeline_from_the_customer_s_tweet(client: XClient, emu: XEmulator,
                                                                           customer: TweetId) -> None:
    client.find_reply(customer, "anything")
    [query] = timeline_requests(emu)
    assert [r.path for r in emu.requests] == [f"/2/users/{emu.brand_id}/tweets"]
    assert query["since_id"] == customer and query["max_results"] == "100" and query["exclude"] == "retweets"
    assert "referenced_tweets" in query["tweet.fields"].split(",")


def test_without_a_brand_id_the_client_asks_x_once(make_client: Callable[..., XClient], emu: XEmulator,
                                                    customer: TweetId) -> None:
    client = make_client(brand_id=None)
    tweet_id = client.post_reply("On it! ^AN", customer)
    assert client.find_reply(customer, "On it! ^AN") == tweet_id
    assert client.find_reply(customer, "On it! ^AN") == tweet_id
    assert client.brand_id == emu.brand_id
    assert [r.path for r in emu.requests].count("/2/users/me") == 1


def test_replies_are_found_across_pages(client: XClient, emu: XEmulator, customer: TweetId) -> None:
    tweet_id = client.post_reply("First answer ^AN", customer)
    for i in range(230):
        emu.add_tweet(f"Brand tweet {i}", "Telekom_hilft", as_created=True)
    assert client.find_reply(customer, "First answer ^AN") == tweet_id
    pages = timeline_requests(emu)
    assert len(pages) == 3 and all(p["since_id"] == customer for p in pages)
    assert "pagination_token" in pages[1] and "pagination_token" in pages[2]


def test_past_the_page_bound_it_says_it_cannot_be_sure(make_client: Callable[..., XClient], emu: XEmulator,
                                                       customer: TweetId) -> None:
    client = make_client(max_pages=1)
    early = client.post_reply("First answer ^AN", customer)
    for i in range(100):
        emu.add_tweet(f"Brand tweet {i}", "Telekom_hilft", as_created=True)
    late = client.post_reply("Second answer ^AN", customer)
    assert client.find_reply(customer, "Second answer ^AN") == late  # on the page that was read
    with pytest.raises(XError) as caught:
        client.find_reply(customer, "First answer ^AN")
    assert early and not caught.value.retryable and "could not check" in caught.value.reason


@pytest.mark.parametrize("with_reset", [True, False])
def test_429_is_rate_limited(client: XClient, emu: XEmulator, customer: TweetId, with_reset: bool) -> None:
    client.post_reply("On it! ^AN", customer)
    emu.rate_limit_next("GET", TIMELINE, with_reset=with_reset)
    with pytest.raises(RateLimited) as caught:
        client.find_reply(customer, "On it! ^AN")
    assert caught.value.retryable and not caught.value.daily


def test_a_spent_budget_is_rate_limited(make_client: Callable[..., XClient]) -> None:
    with XEmulator(rate_limits={"GET /2/users/:id/tweets": 1}, **KEYS) as emu:
        env = Environment(x_api_key=KEYS["consumer_key"], x_api_secret=KEYS["consumer_secret"],
                          x_access_token=KEYS["access_token"], x_access_token_secret=KEYS["access_token_secret"],
                          x_api_url=emu.url)
        client = XClient(env, brand_id=UserId(emu.brand_id))
        customer = TweetId(emu.add_tweet("@Telekom_hilft help", "kunde_klaus"))
        assert client.find_reply(customer, "On it! ^AN") is None
        with pytest.raises(RateLimited):
            client.find_reply(customer, "On it! ^AN")


@pytest.mark.parametrize("fault", ["503", "truncated", "html"])
def test_server_trouble_is_unavailable(client: XClient, emu: XEmulator, customer: TweetId, fault: str) -> None:
    client.post_reply("On it! ^AN", customer)
    if fault == "503":
        emu.server_error_next("GET", TIMELINE)
    elif fault == "truncated":
        emu.truncated_next("GET", TIMELINE)
    else:
        emu.non_json_next("GET", TIMELINE)
    with pytest.raises(XUnavailable) as caught:
        client.find_reply(customer, "On it! ^AN")
    assert caught.value.retryable


def test_an_unknown_brand_id_is_refused(make_client: Callable[..., XClient], customer: TweetId) -> None:
    with pytest.raises(XRefused, match="Could not find user"):
        make_client(brand_id=UserId("999")).find_reply(customer, "On it! ^AN")
