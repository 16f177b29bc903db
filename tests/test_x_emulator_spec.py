"""The X emulator against X's own contract: the OpenAPI 2.162 schemas, X's headers and error shapes.

Requests are signed with OAuth 1.0a for the canonical https://api.twitter.com URL and then sent to the
emulator, exactly as tweepy plus the bridge's rewriting adapter do.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from requests_oauthlib import OAuth1

from bridge.sandbox.x import wire as x_wire
from bridge.sandbox.x.gate import RateLimits
from bridge.sandbox.x.server import XEmulator
from bridge.x.client import FIELDS
from tests.reference import reference

OPENAPI = reference("x-api-v2-openapi-2.162.json")
CANONICAL = "https://api.twitter.com"
KEYS = {"consumer_key": "ck-3nVuSoBZnx6U4vzUxf5w", "consumer_secret": "cs-Bcs59EFbbsdF6Sl9Ng71smgSt",
        "access_token": "1000000001-at-0U2L7Z9lAmYf", "access_token_secret": "ats-gtHh7bE9kZ0WyXq4PZfX"}
BRIDGE_FIELDS = {name: ",".join(values) for name, values in FIELDS.items()}  # what XClient asks for


# -- the contract --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text())


@pytest.fixture(scope="module")
def registry(spec: dict[str, Any]) -> Registry:
    # OpenAPI 3.0 schema objects are closest to JSON Schema draft 4.
    resource = Resource.from_contents(spec, default_specification=DRAFT4)
    return Registry().with_resource("urn:x-openapi", resource)


def schemas(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["schemas"]


def check(registry: Registry, spec: dict[str, Any], name: str, body: Any) -> None:
    """Valid against ``name``; every Problem and Media against its discriminated subtype; and no key
    that the schema does not know (the schemas allow extra keys, X's answers have none)."""
    validate(registry, name, body)
    for item in body.get("errors", []) if isinstance(body, dict) else []:
        check_problem(registry, spec, item)
    for media in (body.get("includes") or {}).get("media", []):
        mapping = schemas(spec)["Media"]["discriminator"]["mapping"]
        validate(registry, mapping[media["type"]].rsplit("/", 1)[1], media)
    assert_known_keys(spec, name, body)


def check_problem(registry: Registry, spec: dict[str, Any], body: dict[str, Any]) -> None:
    validate(registry, "Problem", body)
    subtype = schemas(spec)["Problem"]["discriminator"]["mapping"][body["type"]].rsplit("/", 1)[1]
    validate(registry, subtype, body)


def validate(registry: Registry, name: str, body: Any) -> None:
    validator = Draft4Validator({"$ref": f"urn:x-openapi#/components/schemas/{name}"}, registry=registry)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{name}: {errors}"


def assert_known_keys(spec: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    s = schemas(spec)
    media_keys = set(s["Media"]["properties"]).union(
        *(s[k]["allOf"][1]["properties"] for k in ("Photo", "Video", "AnimatedGif")))
    assert set(body) <= set(s[name]["properties"]), set(body) - set(s[name]["properties"])
    data = body.get("data")
    tweets = list(data) if isinstance(data, list) else [data] if isinstance(data, dict) and "text" in data else []
    tweets += (body.get("includes") or {}).get("tweets", [])  # a copy: body["data"] stays as X sent it
    for tweet in tweets:
        assert set(tweet) <= set(s["Tweet"]["properties"]), set(tweet) - set(s["Tweet"]["properties"])
    users = (body.get("includes") or {}).get("users", []) + ([data] if name == "Get2UsersMeResponse" else [])
    for user in users:
        assert set(user) <= set(s["User"]["properties"]), set(user) - set(s["User"]["properties"])
    for media in (body.get("includes") or {}).get("media", []):
        assert set(media) <= media_keys
    if "meta" in body:
        assert set(body["meta"]) <= set(s[name]["properties"]["meta"]["properties"])


# -- an emulator and a signed client ---------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[XEmulator]:
    with XEmulator(window_seconds=60, **KEYS) as x:
        yield x


def signed(emu: XEmulator, method: str, path: str, *, params: dict[str, str] | None = None,
           body: dict[str, Any] | None = None, secret: str | None = None, timeout: float = 5,
           ) -> requests.Response:
    """Sign for https://api.twitter.com (as tweepy does), then send to the emulator."""
    auth = OAuth1(emu.consumer_key, emu.consumer_secret, emu.access_token, secret or emu.access_token_secret)
    request = requests.Request(method, CANONICAL + path, params=params, json=body, auth=auth).prepare()
    return send(emu, request, timeout)


def send(emu: XEmulator, request: requests.PreparedRequest, timeout: float = 5) -> requests.Response:
    request.url = emu.url + request.url[len(CANONICAL):]
    with requests.Session() as session:
        return session.send(request, timeout=timeout)


def rate_headers(response: requests.Response) -> tuple[int, int, int]:
    h = response.headers
    return int(h["x-rate-limit-limit"]), int(h["x-rate-limit-remaining"]), int(h["x-rate-limit-reset"])


# -- success shapes -------------------------------------------------------------------------------


def test_users_me_returns_default_fields_unless_asked(emu: XEmulator, registry: Registry, spec: dict) -> None:
    plain = signed(emu, "GET", "/2/users/me")
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("application/json")
    brand = {"id": emu.brand_id, "name": "Telekom hilft", "username": "Telekom_hilft"}
    assert plain.json() == {"data": brand}
    rich = signed(emu, "GET", "/2/users/me", params={"user.fields": "public_metrics,profile_image_url"})
    check(registry, spec, "Get2UsersMeResponse", rich.json())
    assert rich.json()["data"]["public_metrics"]["followers_count"] == 12000
    limit, remaining, reset = rate_headers(rich)
    assert (limit, remaining) == (75, 73)  # X: 75 per 15 minutes for /2/users/me
    assert time.time() < reset <= time.time() + 61


def test_mentions_expand_authors_references_and_media(emu: XEmulator, registry: Registry, spec: dict) -> None:
    emu.add_user("kunde_klaus", "Klaus Kunde", followers=42, profile_image_url="https://pbs.twimg.com/k.jpg")
    brand_tweet = emu.add_tweet("We are here to help", "Telekom_hilft")
    root = emu.add_tweet("@Telekom_hilft router dead #dsl", "kunde_klaus", lang="de",
                         media=[("photo", "https://pbs.twimg.com/media/r.jpg", "a router"),
                                ("video", "https://pbs.twimg.com/thumb/v.jpg")])
    reply = emu.add_tweet("still dead", "kunde_klaus", in_reply_to=root, mentions=["Telekom_hilft"])
    quote = emu.add_tweet("@Telekom_hilft see?", "anna", quote_of=brand_tweet)
    gone = emu.add_tweet("@Telekom_hilft first try", "ben")
    emu.add_tweet("@Telekom_hilft again", "ben", in_reply_to=gone)
    emu.delete_tweet(gone)

    response = signed(emu, "GET", f"/2/users/{emu.brand_id}/mentions", params=BRIDGE_FIELDS)
    body = response.json()
    check(registry, spec, "Get2UsersIdMentionsResponse", body)
    assert rate_headers(response)[:2] == (300, 299)
    tweets = {t["id"]: t for t in body["data"]}
    assert list(tweets) == sorted(tweets, key=int, reverse=True)  # newest first
    assert gone not in tweets
    assert tweets[reply]["text"] == "@Telekom_hilft still dead"
    assert tweets[reply]["conversation_id"] == root
    assert tweets[reply]["referenced_tweets"] == [{"type": "replied_to", "id": root}]
    assert tweets[quote]["referenced_tweets"] == [{"type": "quoted", "id": brand_tweet}]
    assert tweets[root]["lang"] == "de" and len(tweets[root]["attachments"]["media_keys"]) == 2
    assert tweets[root]["entities"]["hashtags"] == [{"start": 27, "end": 31, "tag": "dsl"}]
    users = {u["username"]: u for u in body["includes"]["users"]}
    assert users["kunde_klaus"]["public_metrics"]["followers_count"] == 42
    assert {t["id"] for t in body["includes"]["tweets"]} == {root, brand_tweet}
    media = {m["type"]: m for m in body["includes"]["media"]}
    assert media["photo"]["alt_text"] == "a router" and "url" not in media["video"]
    # The deleted tweet that one reply points at is a partial error, not an include.
    assert [(e["resource_id"], e["parameter"]) for e in body["errors"]] == [(gone, "referenced_tweets.id")]

    bare = signed(emu, "GET", f"/2/users/{emu.brand_id}/mentions").json()
    assert all(set(t) == {"id", "text", "edit_history_tweet_ids"} for t in bare["data"])
    assert "includes" not in bare


def test_mentions_pages_newest_first_above_since_id(emu: XEmulator, registry: Registry, spec: dict) -> None:
    ids = [emu.add_tweet(f"@Telekom_hilft number {i}", "kunde_klaus") for i in range(25)]
    path = f"/2/users/{emu.brand_id}/mentions"
    seen, token, pages = [], None, 0
    while True:
        params = {"max_results": "10", "since_id": ids[2], **({"pagination_token": token} if token else {})}
        body = signed(emu, "GET", path, params=params).json()
        check(registry, spec, "Get2UsersIdMentionsResponse", body)
        seen += [t["id"] for t in body["data"]]
        assert body["meta"]["newest_id"] == body["data"][0]["id"]
        assert body["meta"]["oldest_id"] == body["data"][-1]["id"]
        pages += 1
        token = body["meta"].get("next_token")
        if not token:
            break
    assert pages == 3 and seen == ids[3:][::-1]
    assert signed(emu, "GET", path, params={"until_id": ids[1]}).json()["data"] == [
        {"id": ids[0], "text": "@Telekom_hilft number 0", "edit_history_tweet_ids": [ids[0]]}]
    empty = signed(emu, "GET", path, params={"since_id": ids[-1]}).json()
    assert empty == {"meta": {"result_count": 0}}
    check(registry, spec, "Get2UsersIdMentionsResponse", empty)


def test_user_posts_timeline_holds_what_the_brand_posted(emu: XEmulator, registry: Registry,
                                                         spec: dict) -> None:
    customer = emu.add_tweet("@Telekom_hilft help", "kunde_klaus")
    texts = {"url": "See https://www.telekom.de/hilfe/router?a=1&b=2 ^AN", "html": "Modem & router <reset> ^AN",
             "emoji": "Fixed \U0001f44d\U0001f3fd ^AN"}
    replies = {}
    for name, text in texts.items():
        created = signed(emu, "POST", "/2/tweets", body={"text": text, "reply": {"in_reply_to_tweet_id": customer}})
        replies[name] = created.json()["data"]["id"]
        assert created.json()["data"]["text"] != text or name == "emoji"  # t.co links, &amp; &lt; &gt;
    plain = signed(emu, "POST", "/2/tweets", body={"text": "  Maintenance tonight \n"}).json()["data"]["id"]
    retweet = emu.add_tweet("RT @kunde_klaus: help", "Telekom_hilft", retweet_of=customer)
    gone = signed(emu, "POST", "/2/tweets", body={"text": "oops", "reply": {"in_reply_to_tweet_id": customer}})
    signed(emu, "DELETE", f"/2/tweets/{gone.json()['data']['id']}")
    emu.add_tweet("@Telekom_hilft thanks", "kunde_klaus", in_reply_to=replies["emoji"])

    path = f"/2/users/{emu.brand_id}/tweets"
    fields = {**BRIDGE_FIELDS, "tweet.fields": BRIDGE_FIELDS["tweet.fields"] + ",in_reply_to_user_id"}
    response = signed(emu, "GET", path, params=fields)
    body = response.json()
    check(registry, spec, "Get2UsersIdTweetsResponse", body)
    assert rate_headers(response)[:2] == (900, 899)  # X: 900 per 15 minutes per user
    tweets = {t["id"]: t for t in body["data"]}
    assert list(tweets) == [retweet, plain, replies["emoji"], replies["html"], replies["url"]]  # newest first
    url = tweets[replies["url"]]
    assert re.fullmatch(r"See https://t\.co/[0-9A-Za-z]{10} \^AN", url["text"])
    [link] = url["entities"]["urls"]
    assert url["text"][link["start"]:link["end"]] == link["url"]
    assert (link["expanded_url"], link["display_url"]) == ("https://www.telekom.de/hilfe/router?a=1&b=2",
                                                           "telekom.de/hilfe/router?a=\u2026")
    assert tweets[replies["html"]]["text"] == "Modem &amp; router &lt;reset&gt; ^AN"
    assert tweets[replies["emoji"]]["text"] == texts["emoji"] and tweets[plain]["text"] == "Maintenance tonight"
    klaus = emu.add_user("kunde_klaus", "kunde_klaus")
    for tweet_id in replies.values():
        assert tweets[tweet_id]["referenced_tweets"] == [{"type": "replied_to", "id": customer}]
        assert (tweets[tweet_id]["in_reply_to_user_id"], tweets[tweet_id]["conversation_id"]) == (klaus, customer)
    assert [t["id"] for t in body["includes"]["tweets"]] == [customer]

    def ids(**params: str) -> list[str]:
        answer = signed(emu, "GET", path, params=params).json()
        check(registry, spec, "Get2UsersIdTweetsResponse", answer)
        return [t["id"] for t in answer.get("data", [])]

    assert ids(exclude="replies,retweets") == [plain]
    assert ids(exclude="retweets", since_id=replies["html"]) == [plain, replies["emoji"]]
    assert ids(until_id=replies["emoji"], max_results="5") == [replies["html"], replies["url"]]
    first = signed(emu, "GET", path, params={"max_results": "5", "since_id": customer, "until_id": retweet})
    assert [t["id"] for t in first.json()["data"]] == [plain, *reversed(replies.values())]
    assert "next_token" not in first.json()["meta"]
    unknown = signed(emu, "GET", "/2/users/999/tweets").json()
    check(registry, spec, "Get2UsersIdTweetsResponse", unknown)
    assert unknown["errors"][0]["detail"] == "Could not find user with id: [999]."


def test_user_posts_timeline_reaches_back_3200_tweets_or_800_without_replies(emu: XEmulator) -> None:
    ids = [emu.add_tweet(f"Tip {i}", "Telekom_hilft") for i in range(3201)]
    path = f"/2/users/{emu.brand_id}/tweets"
    oldest = signed(emu, "GET", path, params={"until_id": ids[3]}).json()
    assert [t["id"] for t in oldest["data"]] == [ids[2], ids[1]]  # ids[0] is the 3,201st
    beyond = signed(emu, "GET", path, params={"until_id": ids[-799], "exclude": "replies"}).json()
    assert [t["id"] for t in beyond["data"]] == [ids[-800]]


@pytest.mark.parametrize(("query", "expected"), [
    ("router", {"plain", "retweet", "quoted", "reply"}),
    ('"router is dead"', {"plain", "retweet"}),
    ("router -is:retweet", {"plain", "quoted", "reply"}),
    ("router is:retweet", {"retweet"}),
    ("router -is:reply", {"plain", "quoted", "retweet"}),
    ("from:anna", {"quoted"}),
    ("router -from:anna", {"plain", "reply", "retweet"}),
    ("@Telekom_hilft", {"reply"}),
    ("#dsl Router", {"plain"}),
    ("lang:de", {"reply"}),
    ("nothing-like-it", set()),
])
def test_search_supports_a_subset_of_x_query_syntax(emu: XEmulator, registry: Registry, spec: dict,
                                                    query: str, expected: set[str]) -> None:
    plain = emu.add_tweet("My router is dead #dsl", "kunde_klaus")
    names = {
        plain: "plain",
        emu.add_tweet("RT @kunde_klaus: My router is dead", "ben", retweet_of=plain): "retweet",
        emu.add_tweet("router? me too", "anna", quote_of=plain): "quoted",
        emu.add_tweet("@Telekom_hilft Router kaputt", "dora", in_reply_to=plain, lang="de"): "reply",
    }
    response = signed(emu, "GET", "/2/tweets/search/recent", params={"query": query, **BRIDGE_FIELDS})
    assert response.status_code == 200, response.text
    check(registry, spec, "Get2TweetsSearchRecentResponse", response.json())
    assert {names[t["id"]] for t in response.json().get("data", [])} == expected
    assert rate_headers(response)[0] == 300


def test_tweet_lookup_by_id_and_ids(emu: XEmulator, registry: Registry, spec: dict) -> None:
    one = emu.add_tweet("@Telekom_hilft a & b <c>", "kunde_klaus")
    two = emu.add_tweet("gone soon", "kunde_klaus")
    emu.delete_tweet(two)
    found = signed(emu, "GET", f"/2/tweets/{one}", params={"tweet.fields": "author_id,created_at"}).json()
    check(registry, spec, "Get2TweetsIdResponse", found)
    assert found["data"]["text"] == "@Telekom_hilft a &amp; b &lt;c&gt;"  # X escapes &, < and >
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", found["data"]["created_at"])
    missing = signed(emu, "GET", f"/2/tweets/{two}")
    assert missing.status_code == 200
    check(registry, spec, "Get2TweetsIdResponse", missing.json())
    assert missing.json()["errors"][0]["detail"] == f"Could not find tweet with id: [{two}]."
    both = signed(emu, "GET", "/2/tweets", params={"ids": f"{one},{two}"})
    check(registry, spec, "Get2TweetsResponse", both.json())
    assert [t["id"] for t in both.json()["data"]] == [one]
    assert [e["resource_id"] for e in both.json()["errors"]] == [two]
    assert rate_headers(both)[0] == 5000


def test_post_and_delete_a_reply(emu: XEmulator, registry: Registry, spec: dict) -> None:
    customer = emu.add_tweet("@Telekom_hilft help", "kunde_klaus")
    body = {"text": "On it! ^AN", "reply": {"in_reply_to_tweet_id": customer}}
    created = signed(emu, "POST", "/2/tweets", body=body)
    assert created.status_code == 201
    check(registry, spec, "TweetCreateResponse", created.json())
    new_id = created.json()["data"]["id"]
    assert int(new_id) > int(customer)
    assert created.json()["data"]["edit_history_tweet_ids"] == [new_id]
    h = created.headers
    assert (h["x-rate-limit-limit"], h["x-rate-limit-remaining"]) == ("100", "99")
    assert (h["x-user-limit-24hour-limit"], h["x-user-limit-24hour-remaining"]) == ("2400", "2399")
    assert int(h["x-user-limit-24hour-reset"]) > int(h["x-rate-limit-reset"])
    assert emu.posted == [{"id": new_id, "text": "On it! ^AN", "in_reply_to_tweet_id": customer,
                           "media_ids": [], "author": "Telekom_hilft"}]
    reply = signed(emu, "GET", f"/2/tweets/{new_id}", params={"tweet.fields": "conversation_id"}).json()
    assert reply["data"]["conversation_id"] == customer
    deleted = signed(emu, "DELETE", f"/2/tweets/{new_id}")
    check(registry, spec, "TweetDeleteResponse", deleted.json())
    assert deleted.json() == {"data": {"deleted": True}} and rate_headers(deleted)[0] == 50


# -- errors -----------------------------------------------------------------------------------------


@pytest.fixture
def world(emu: XEmulator) -> dict[str, str]:
    brand_tweet = emu.add_tweet("Tips for your router", "Telekom_hilft")
    gone = emu.add_tweet("@Telekom_hilft hello", "kunde_klaus")
    emu.delete_tweet(gone)
    return {
        "mentioned": emu.add_tweet("@Telekom_hilft my router", "kunde_klaus"),
        "quoted": emu.add_tweet("see this", "anna", quote_of=brand_tweet),
        "brand": brand_tweet,
        "silent": emu.add_tweet("Telekom router broken again", "ben"),
        "gone": gone,
    }


@pytest.mark.parametrize(("parent", "status"), [
    ("mentioned", 201), ("quoted", 201), ("brand", 201), ("silent", 403), ("gone", 403)])
def test_replies_only_where_the_author_summoned_the_brand(emu: XEmulator, world: dict[str, str],
                                                          registry: Registry, spec: dict, parent: str,
                                                          status: int) -> None:
    response = signed(emu, "POST", "/2/tweets",
                      body={"text": f"reply to {parent}", "reply": {"in_reply_to_tweet_id": world[parent]}})
    assert response.status_code == status
    if status == 403:
        check_problem(registry, spec, response.json())
        expected = x_wire.REPLY_NOT_ALLOWED if parent == "silent" else x_wire.REPLY_TO_DELETED
        assert response.json() == {"detail": expected, "type": "about:blank", "title": "Forbidden",
                                   "status": 403}


def test_an_enterprise_app_may_reply_anywhere(world: dict[str, str]) -> None:
    with XEmulator(reply_restrictions=False, **KEYS) as free:
        silent = free.add_tweet("Telekom router broken again", "ben")
        body = {"text": "hi", "reply": {"in_reply_to_tweet_id": silent}}
        assert signed(free, "POST", "/2/tweets", body=body).status_code == 201


WEIRD = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # one emoji of 3 code points: weight 2


@pytest.mark.parametrize(("name", "method", "path", "params", "body", "status", "type_", "detail"), [
    ("too long", "POST", "/2/tweets", None, {"text": "x" * 281}, 403, "about:blank", x_wire.TOO_LONG),
    ("emoji weigh 2", "POST", "/2/tweets", None, {"text": WEIRD * 141}, 403, "about:blank", x_wire.TOO_LONG),
    ("140 emoji fit", "POST", "/2/tweets", None, {"text": WEIRD * 140}, 201, None, None),
    ("URLs weigh 23", "POST", "/2/tweets", None, {"text": "x" * 250 + " https://example.com/" + "p" * 100},
     201, None, None),
    ("no text", "POST", "/2/tweets", None, {"reply": {}}, 400, "invalid-request", None),
    ("bad reply id", "POST", "/2/tweets", None, {"text": "a", "reply": {"in_reply_to_tweet_id": "x1"}},
     400, "invalid-request", None),
    ("max_results", "GET", "/2/users/{brand}/mentions", {"max_results": "500"}, None, 400, "invalid-request",
     "The `max_results` query parameter value [500] is not between 5 and 100"),
    ("search max_results", "GET", "/2/tweets/search/recent", {"query": "a", "max_results": "5"}, None, 400,
     "invalid-request", "The `max_results` query parameter value [5] is not between 10 and 100"),
    ("unknown field", "GET", "/2/users/me", {"user.fields": "shoe_size"}, None, 400, "invalid-request", None),
    ("unknown param", "GET", "/2/users/me", {"color": "red"}, None, 400, "invalid-request", None),
    ("bad since_id", "GET", "/2/users/{brand}/mentions", {"since_id": "abc"}, None, 400, "invalid-request",
     None),
    ("posts max_results", "GET", "/2/users/{brand}/tweets", {"max_results": "4"}, None, 400, "invalid-request",
     "The `max_results` query parameter value [4] is not between 5 and 100"),
    ("posts exclude", "GET", "/2/users/{brand}/tweets", {"exclude": "likes"}, None, 400, "invalid-request",
     "The `exclude` query parameter value [likes] is not one of [replies,retweets]"),
    ("posts of me", "GET", "/2/users/me/tweets", None, None, 400, "invalid-request", None),
    ("no query", "GET", "/2/tweets/search/recent", None, None, 400, "invalid-request", None),
    ("bad operator", "GET", "/2/tweets/search/recent", {"query": "near:me"}, None, 400, "invalid-request",
     None),
    ("delete unknown", "DELETE", "/2/tweets/123", None, None, 404, "resource-not-found",
     "Could not find tweet with id: [123]."),
    ("no such route", "GET", "/2/nothing", None, None, 404, "about:blank", "Sorry, that page does not exist"),
])
def test_error_bodies_have_x_shapes(emu: XEmulator, registry: Registry, spec: dict, name: str, method: str,
                                    path: str, params: dict | None, body: dict | None, status: int,
                                    type_: str | None, detail: str | None) -> None:
    response = signed(emu, method, path.format(brand=emu.brand_id), params=params, body=body)
    assert response.status_code == status, response.text
    if status >= 400:
        problem = response.json()
        check_problem(registry, spec, problem)
        assert problem["type"].endswith(type_)
        if type_ == "invalid-request":
            assert problem["errors"][0]["message"] and problem["errors"][0]["parameters"]
        if detail:
            assert detail in (problem.get("detail"), *(e["message"] for e in problem.get("errors", [])))


def test_duplicate_text_is_refused(emu: XEmulator, registry: Registry, spec: dict) -> None:
    assert signed(emu, "POST", "/2/tweets", body={"text": "same"}).status_code == 201
    again = signed(emu, "POST", "/2/tweets", body={"text": "same"})
    assert again.status_code == 403 and again.json()["detail"] == x_wire.DUPLICATE
    check_problem(registry, spec, again.json())


def test_oauth_signatures_are_verified(emu: XEmulator, registry: Registry, spec: dict) -> None:
    unsigned = send(emu, requests.Request("GET", CANONICAL + "/2/users/me").prepare())
    assert unsigned.status_code == 401
    assert unsigned.json() == {"detail": "Unauthorized", "type": "about:blank", "title": "Unauthorized",
                               "status": 401}
    check_problem(registry, spec, unsigned.json())
    assert signed(emu, "GET", "/2/users/me", secret="wrong-secret").status_code == 401
    auth = OAuth1(emu.consumer_key, emu.consumer_secret, emu.access_token, emu.access_token_secret)
    request = requests.Request("GET", CANONICAL + "/2/users/me", auth=auth).prepare()
    assert send(emu, request.copy()).status_code == 200
    assert send(emu, request.copy()).status_code == 401  # the same nonce again: a replay
    tampered = requests.Request("GET", CANONICAL + "/2/users/me", auth=auth).prepare()
    tampered.url += "?user.fields=id"  # changed after signing
    assert send(emu, tampered).status_code == 401
    elsewhere = requests.Request("GET", "https://api.x.com/2/users/me", auth=auth).prepare()
    elsewhere.url = CANONICAL + "/2/users/me"  # signed for another host
    assert send(emu, elsewhere).status_code == 401


# -- rate limits and faults -------------------------------------------------------------------------


def test_exhausted_budget_answers_429_until_the_window_resets(registry: Registry, spec: dict) -> None:
    with XEmulator(rate_limits={"GET /2/users/me": 2}, **KEYS) as emu:
        assert [signed(emu, "GET", "/2/users/me").status_code for _ in range(3)] == [200, 200, 429]
        refused = signed(emu, "GET", "/2/users/me")
        check_problem(registry, spec, refused.json())
        assert refused.json()["title"] == "Too Many Requests"
        assert rate_headers(refused)[:2] == (2, 0)
        assert signed(emu, "GET", f"/2/users/{emu.brand_id}/mentions").status_code == 200  # its own budget


@pytest.mark.parametrize(("key", "limit"), sorted(x_wire.RATE_LIMITS.items()))
def test_windows_refill_after_window_seconds(key: str, limit: int) -> None:
    limits = RateLimits({key: 2}, window_seconds=10, daily_post_limit=3)
    assert [limits.take(key, 100.0)[0] for _ in range(3)] == [True, True, False]
    allowed, headers = limits.take(key, 110.0)
    assert allowed and headers["x-rate-limit-remaining"] == "1" and headers["x-rate-limit-reset"] == "120"
    assert ("x-user-limit-24hour-remaining" in headers) == (key == "POST /2/tweets")


def test_daily_cap_outlasts_the_15_minute_window() -> None:
    limits = RateLimits({"POST /2/tweets": 100}, window_seconds=10, daily_post_limit=2)
    assert [limits.take("POST /2/tweets", 0.0)[0] for _ in range(2)] == [True, True]
    allowed, headers = limits.take("POST /2/tweets", 20.0)  # a new 15-minute window, same day
    assert not allowed
    assert headers["x-user-limit-24hour-remaining"] == "0" and headers["x-user-limit-24hour-reset"] == "960"


def test_injected_faults(emu: XEmulator, registry: Registry, spec: dict) -> None:
    emu.rate_limit_next("GET", r"^/2/users/me$")
    limited = signed(emu, "GET", "/2/users/me")
    assert limited.status_code == 429 and limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-reset"]) > time.time()
    check_problem(registry, spec, limited.json())
    emu.rate_limit_next("GET", r"^/2/users/me$", with_reset=False)
    assert "x-rate-limit-reset" not in signed(emu, "GET", "/2/users/me").headers
    emu.daily_cap_next()
    capped = signed(emu, "POST", "/2/tweets", body={"text": "hi"})
    assert capped.status_code == 429 and capped.headers["x-user-limit-24hour-remaining"] == "0"
    emu.server_error_next("GET", r"/mentions$", status=503, times=2)
    path = f"/2/users/{emu.brand_id}/mentions"
    assert [signed(emu, "GET", path).status_code for _ in range(3)] == [503, 503, 200]
    emu.fail_next("GET", r"^/2/users/me$", status=418, body=b"teapot", headers={"x-custom": "1"})
    teapot = signed(emu, "GET", "/2/users/me")
    assert (teapot.status_code, teapot.content, teapot.headers["x-custom"]) == (418, b"teapot", "1")
    emu.non_json_next("GET", r"^/2/users/me$")
    html_page = signed(emu, "GET", "/2/users/me")
    assert html_page.status_code == 200 and html_page.headers["content-type"].startswith("text/html")
    emu.truncated_next("GET", r"^/2/users/me$")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        signed(emu, "GET", "/2/users/me")
    emu.slow_next("GET", r"^/2/users/me$", delay=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        signed(emu, "GET", "/2/users/me", timeout=0.2)
    assert signed(emu, "GET", "/2/users/me").status_code == 200  # faults are used up


# -- the emulator's own API ---------------------------------------------------------------------------


def test_control_endpoints_drive_the_emulator(emu: XEmulator) -> None:
    added = requests.post(emu.url + "/_emulator/tweets", timeout=5,
                          json={"text": "@Telekom_hilft hello", "author": "someone"})
    assert added.status_code == 201
    tweet_id = added.json()["id"]
    mentions = signed(emu, "GET", f"/2/users/{emu.brand_id}/mentions").json()
    assert [t["id"] for t in mentions["data"]] == [tweet_id]
    signed(emu, "POST", "/2/tweets", body={"text": "Hi!", "reply": {"in_reply_to_tweet_id": tweet_id}})
    posted = requests.get(emu.url + "/_emulator/posted", timeout=5).json()["posted"]
    assert [(p["text"], p["in_reply_to_tweet_id"]) for p in posted] == [("Hi!", tweet_id)]
    assert requests.post(emu.url + "/_emulator/tweets", json={"author": "x"}, timeout=5).status_code == 400


def test_requests_are_logged_and_waited_for(emu: XEmulator) -> None:
    signed(emu, "GET", "/2/users/me", params={"user.fields": "id"})
    emu.wait_for(lambda: any(r.path == "/2/users/me" for r in emu.requests), timeout=1)
    assert emu.requests[-1] == ("GET", "/2/users/me", {"user.fields": "id"}, 200)
    with pytest.raises(TimeoutError):
        emu.wait_for_posts(1, timeout=0.05)


def test_field_names_are_those_of_openapi_2_162(spec: dict) -> None:
    params = spec["components"]["parameters"]
    for parameter, names in [("TweetFieldsParameter", x_wire.TWEET_FIELDS),
                             ("UserFieldsParameter", x_wire.USER_FIELDS),
                             ("MediaFieldsParameter", x_wire.MEDIA_FIELDS),
                             ("TweetExpansionsParameter", x_wire.TWEET_EXPANSIONS),
                             ("UserExpansionsParameter", x_wire.USER_EXPANSIONS)]:
        assert set(params[parameter]["schema"]["items"]["enum"]) == names, parameter
    for name, value in BRIDGE_FIELDS.items():
        allowed = x_wire.TWEET_EXPANSIONS if name == "expansions" else x_wire.FIELD_LISTS[name]
        assert set(value.split(",")) <= allowed
