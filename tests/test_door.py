"""The door of ``POST /slack/events`` holds: every bad request gets a 4xx and one short log line, and
nothing of it reaches Redis, X or Slack (SPEC "Bad input and faults: what each gets")."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.app import web
from bridge.sandbox.slack.events import signature_headers
from tests.harness import ANNA, SIGNING_SECRET, Desk, claimed_case, drained

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def post(desk: Desk, body: bytes, *, content_type: str = JSON, signed: bool = True,
         headers: dict[str, str] | None = None) -> int:
    sent = {"Content-Type": content_type, **(signature_headers(SIGNING_SECRET, body, "valid") if signed else {}),
            **(headers or {})}
    request = urllib.request.Request(f"http://127.0.0.1:{desk.port}/slack/events", data=body, method="POST",
                                     headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# What a Slack request can write (the worker's own clock, polls and samples go on beside the test).
REQUEST_WRITES = ("event:", "eventlock:", "msg:", "config", "notcase:", "lane:slack:C", "lane:post:", "lane:x:1",
                  "claims:", "replyjob:", "edit:", "role:", "once:")


def keys(desk: Desk) -> dict[str, object]:
    """The keys a Slack request can write, with their values."""
    r = desk.rt.redis
    out: dict[str, object] = {}
    for key in r.scan_iter("xdesk:*", count=1000):
        name = key.removeprefix("xdesk:")
        if name.startswith(REQUEST_WRITES) and not name.startswith("once:followers"):
            out[key] = r.lrange(key, 0, -1) if r.type(key) == "list" else r.dump(key)
    return out


def event(desk: Desk, inner: object, **outer: object) -> bytes:
    wrapper = {"token": "t", "team_id": desk.slack._ws.team_id, "api_app_id": desk.slack._ws.app_id,
               "type": "event_callback", "event_id": f"Ev{time.time_ns()}", "event_time": int(time.time()),
               "event": inner, **outer}
    return json.dumps(wrapper).encode()


@pytest.mark.parametrize("body", [b'{"type": "event_callback", ', b"[1,2,3]", b'"hello"', b"42", b"null",
                                  b"[" * 10_000 + b"]" * 10_000])
def test_a_malformed_body_is_refused_before_anything_reads_it(desk: Desk, body: bytes, caplog) -> None:
    drained(desk)  # the worker's own start-up work is done: what changes now would be the request's
    before = keys(desk)
    with caplog.at_level(logging.INFO):
        assert post(desk, body, signed=False) == 401  # the signature first: nothing is parsed for a stranger
        assert post(desk, body) == 400  # signed, it still is no Slack request
    assert "Traceback" not in caplog.text and "web.refused" in caplog.text
    assert keys(desk) == before


def test_a_form_whose_payload_is_not_json_is_refused(desk: Desk) -> None:
    assert post(desk, b"payload=notjson", content_type=FORM) == 400
    assert post(desk, b"payload=%7B%22type%22%3A1%7D", content_type=FORM) == 400  # type is no string, no user


@pytest.mark.parametrize("stamp", ["abc", "1796198022.5", "0x10", "", "-1", "99999999999999999999"])
def test_a_timestamp_that_is_not_whole_seconds_is_a_401(desk: Desk, stamp: str, caplog) -> None:
    body = event(desk, {"type": "reaction_added"})
    with caplog.at_level(logging.INFO):
        status = post(desk, body, headers={"X-Slack-Request-Timestamp": stamp})
    assert status == 401 and "Traceback" not in caplog.text


def test_a_signature_failure_says_why_without_the_payload(desk: Desk, caplog) -> None:
    secret = "the customer's words, never logged"
    body = event(desk, {"type": "message", "text": secret})
    stale = {"X-Slack-Request-Timestamp": str(int(time.time()) - 400)}
    with caplog.at_level(logging.INFO):
        assert post(desk, body, headers=stale) == 401
        assert post(desk, body, headers={"X-Slack-Signature": "v0=" + "0" * 64}) == 401
    assert ("from this machine's clock" in caplog.text and "-400 s" not in caplog.text) or "+40" in caplog.text
    assert "the signature does not match" in caplog.text
    assert secret not in caplog.text


def test_odd_shapes_in_signed_events_stop_at_the_door(desk: Desk, caplog) -> None:
    _, parent = claimed_case(desk)
    drained(desk)
    before = keys(desk)
    with caplog.at_level(logging.INFO):
        assert post(desk, event(desk, "a string")) == 400
        # A message ts that is a list: acknowledged (Slack must not retry it) and never acted on.
        odd = {"type": "message", "channel": parent["channel"], "user": ANNA, "text": "tweet me",
               "ts": ["1", "2"], "thread_ts": parent["ts"]}
        assert post(desk, event(desk, odd)) == 200
        assert post(desk, event(desk, {"type": "reaction_added"}, team_id="T0OTHERTEAM")) == 403
        assert post(desk, event(desk, {"type": "reaction_added"}, api_app_id="A0OTHERAPP1")) == 403
        limited = {"token": "t", "type": "app_rate_limited", "team_id": "T0XDESK01", "minute_rate_limited": 1518467820,
                   "api_app_id": "A0XDESKAPP"}
        assert post(desk, json.dumps(limited).encode()) == 200
    assert keys(desk) == before and desk.x.posted == []
    assert "event.ts" in caplog.text and "slack.app_rate_limited" in caplog.text
    assert desk.rt.redis.hget("xdesk:metrics", "slack_app_rate_limited") == "1"  # counted for /metrics


def test_a_request_that_ends_before_its_body_is_never_acted_on(desk: Desk, caplog) -> None:
    _, parent = claimed_case(desk)
    drained(desk)
    reply = {"type": "message", "channel": parent["channel"], "user": ANNA, "text": "half a request",
             "ts": "1796000000.000100", "thread_ts": parent["ts"]}
    body = event(desk, reply)
    head = {"Content-Type": JSON, **signature_headers(SIGNING_SECRET, body, "valid")}
    for declared, sent in ((len(body) + 50, body), (1000, b'{"type": ')):
        with socket.create_connection(("127.0.0.1", desk.port), timeout=5) as conn:
            lines = ["POST /slack/events HTTP/1.1", "Host: x", f"Content-Length: {declared}",
                     *(f"{k}: {v}" for k, v in head.items())]
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
            conn.shutdown(socket.SHUT_WR)  # and the client is gone
            conn.recv(1024)
    drained(desk)
    assert desk.x.posted == [] and "Traceback" not in caplog.text


def test_a_body_sent_too_slowly_is_given_up(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "BODY_TIMEOUT", 0.5)
    with socket.create_connection(("127.0.0.1", desk.port), timeout=10) as conn:
        conn.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        answer = conn.recv(1024)
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_flood_of_unsigned_requests_barely_grows_the_log(desk: Desk, caplog) -> None:
    body = event(desk, {"type": "message", "text": "x" * 5000})
    with caplog.at_level(logging.INFO):  # the level the processes log at
        deadline = time.monotonic() + 5
        sent = 0
        while time.monotonic() < deadline:
            assert post(desk, body, signed=False) == 401
            sent += 1
    assert sent > 100 and len(caplog.text) < 100_000, (sent, len(caplog.text))


SHAPES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                      lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inner=SHAPES, kind=st.sampled_from(["message", "reaction_added", "app_home_opened", "x"]),
       action=st.sampled_from(["block_actions", "view_submission", "message_action", "shortcut", "x"]),
       signed=st.booleans(), form=st.booleans(),
       odd_headers=st.dictionaries(st.sampled_from(["X-Slack-Request-Timestamp", "X-Slack-Signature",
                                                    "Content-Type", "X-Slack-Retry-Num"]),
                                   st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
                                   max_size=2))
def test_no_request_of_any_shape_gets_a_5xx_or_a_traceback(desk: Desk, caplog, inner, kind, action, signed,
                                                           form, odd_headers) -> None:
    if form:  # an interaction: Slack's type and user, anything else
        payload = {"type": action, "user": {"id": ANNA}, **inner} if isinstance(inner, dict) else inner
        body = b"payload=" + urllib.parse.quote(json.dumps(payload)).encode()
    else:
        body = event(desk, {"type": kind, **inner} if isinstance(inner, dict) else inner)
    before, stored = len(caplog.text), keys(desk)
    status = post(desk, body, content_type=FORM if form else JSON, signed=signed, headers=odd_headers)
    assert status < 500, status
    assert "Traceback" not in caplog.text[before:]
    assert len(caplog.text) - before < 2000  # one short line at most
    if status >= 400:
        assert keys(desk) == stored  # nothing refused reaches Redis


def test_a_client_sending_its_headers_too_slowly_is_closed(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.app import slow_clients

    monkeypatch.setattr(slow_clients, "HEAD_TIMEOUT", 0.5)
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", desk.port), timeout=10) as conn:
        closed_after = None
        for i, byte in enumerate(head):  # a byte every 50 ms: the whole head would take 3.5 s
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                closed_after = i
                break
            conn.settimeout(0.05)
            try:
                if conn.recv(1) == b"":
                    closed_after = i
                    break
            except TimeoutError:
                pass
        assert closed_after is not None and closed_after < len(head) - 1, "the slow client was never closed"
    # A client sending its request at once is served as ever.
    assert post(desk, b"null", signed=False) == 401


@pytest.mark.parametrize("payload", [
    {"type": "block_actions", "user": {"id": ANNA}},  # no actions
    {"type": "block_actions", "user": {"id": ANNA}, "actions": [{"value": "1"}]},  # an action without its id
    {"type": "view_submission", "user": {"id": ANNA}, "view": {"state": {"values": "x"}}},
    {"type": "message_action", "user": {"id": ANNA}},  # no callback_id
    {"type": "block_actions", "user": "U0ANNA0001", "actions": [{"action_id": "a"}]},
])
def test_an_interaction_missing_what_its_listener_reads_is_refused_at_the_door(desk: Desk, payload: dict,
                                                                              caplog) -> None:
    body = b"payload=" + urllib.parse.quote(json.dumps(payload)).encode()
    with caplog.at_level(logging.INFO):
        assert post(desk, body, content_type=FORM) == 400
    assert "web.refused" in caplog.text and "payload." in caplog.text and "Traceback" not in caplog.text
