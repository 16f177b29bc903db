"""The X emulator's refusals against X's contract: reply rules, error bodies, OAuth, rate limits, faults."""

from __future__ import annotations

import time

import pytest
import requests
from referencing import Registry
from requests_oauthlib import OAuth1

from bridge.sandbox.x import wire as x_wire
from bridge.sandbox.x.gate import RateLimits
from bridge.sandbox.x.server import XEmulator
from tests.x_emulator.contract import (
    CANONICAL,
    KEYS,
    check_problem,
    rate_headers,
    send,
    signed,
)

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
    unsigned = send(emu, requests.Request("GET", emu.url + "/2/users/me").prepare())
    assert unsigned.status_code == 401
    assert unsigned.json() == {"detail": "Unauthorized", "type": "about:blank", "title": "Unauthorized",
                               "status": 401}
    check_problem(registry, spec, unsigned.json())
    assert signed(emu, "GET", "/2/users/me", secret="wrong-secret").status_code == 401
    auth = OAuth1(emu.consumer_key, emu.consumer_secret, emu.access_token, emu.access_token_secret)
    request = requests.Request("GET", emu.url + "/2/users/me", auth=auth).prepare()
    assert send(emu, request.copy()).status_code == 200
    assert send(emu, request.copy()).status_code == 401  # the same nonce again: a replay
    tampered = requests.Request("GET", emu.url + "/2/users/me", auth=auth).prepare()
    tampered.url += "?user.fields=id"  # changed after signing
    assert send(emu, tampered).status_code == 401
    # Signed for X's canonical host (as tweepy signs), then sent elsewhere: X would refuse it, and so does the emulator.
    elsewhere = requests.Request("GET", CANONICAL + "/2/users/me", auth=auth).prepare()
    elsewhere.url = emu.url + "/2/users/me"
    assert send(emu, elsewhere).status_code == 401
    other_port = requests.Request("GET", emu.url.rsplit(":", 1)[0] + ":1/2/users/me", auth=auth).prepare()
    other_port.url = emu.url + "/2/users/me"
    assert send(emu, other_port).status_code == 401


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
