"""The X emulator's answers against X's OpenAPI 2.162: users, mentions, timelines, search, lookups, posts."""

from __future__ import annotations

import re
import time

import pytest
from referencing import Registry

from bridge.sandbox.x import wire as x_wire
from bridge.sandbox.x.server import XEmulator
from tests.x_emulator.contract import (
    BRIDGE_FIELDS,
    check,
    rate_headers,
    signed,
)

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
