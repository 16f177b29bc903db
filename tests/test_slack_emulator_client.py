"""The Slack emulator through the real ``slack_sdk.WebClient``: auth, body formats, 429s and faults."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bridge.sandbox.slack import faults as slack_faults
from bridge.sandbox.slack.faults import PostPacer
from bridge.sandbox.slack.server import SlackEmulator

GENERAL, DSL = "C0GENERAL1", "C0DSLTEAM1"


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emu:
        yield emu


def client_for(emu: SlackEmulator, **kwargs: object) -> WebClient:
    return WebClient(base_url=emu.url, token=emu.bot_token, **kwargs)  # type: ignore[arg-type]


def test_wrong_or_missing_token_is_refused(emu: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=emu.url, token="xoxb-not-the-right-one").auth_test()
    assert raised.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError, match="not_authed"):
        WebClient(base_url=emu.url).auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        WebClient(base_url=emu.url, token=emu.app_token).auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        client_for(emu).apps_connections_open(app_token=emu.bot_token)
    assert client_for(emu).apps_connections_open(app_token=emu.app_token)["url"].startswith("ws://127.0.0.1:")
    assert emu.messages(GENERAL) == []


def test_form_query_and_json_bodies_are_all_understood(emu: SlackEmulator) -> None:
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "hi"}}]
    form = client_for(emu).api_call(
        "chat.postMessage", params={"channel": GENERAL, "text": "hi", "blocks": json.dumps(blocks)}
    )
    assert emu.message(GENERAL, form["ts"])["blocks"] == blocks  # type: ignore[index]
    query = urlencode({"token": emu.bot_token, "channel": GENERAL})
    with urllib.request.urlopen(f"{emu.url}conversations.info?{query}") as response:
        assert json.load(response)["channel"]["id"] == GENERAL
    assert ("conversations.info", {"channel": GENERAL}) in emu.calls  # the token is never recorded


def test_a_429_with_retry_after_is_retried_by_the_sdk_and_then_succeeds(emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", status=429, retry_after=0)
    client = client_for(emu, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    response = client.chat_postMessage(channel=GENERAL, text="hello")
    assert response["ok"]
    assert [(c.method, c.status) for c in emu.api_log] == [
        ("chat.postMessage", 429),
        ("chat.postMessage", 200),
    ]
    assert len(emu.messages(GENERAL)) == 1


def test_a_429_reaches_the_caller_without_a_retry_handler(emu: SlackEmulator) -> None:
    emu.fail_next("reactions.add", status=429, retry_after=7)
    ts = client_for(emu).chat_postMessage(channel=GENERAL, text="x")["ts"]
    with pytest.raises(SlackApiError) as raised:
        client_for(emu).reactions_add(channel=GENERAL, timestamp=ts, name="eyes")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"


def test_server_errors_and_api_errors_can_be_planned(emu: SlackEmulator) -> None:
    emu.fail_next("auth.test", status=503, retry_after=0, times=2)
    emu.fail_next("*", status=200, error="fatal_error")
    quick = FixedValueRetryIntervalCalculator(0.01)  # (its keyword is misspelt "fixed_internal")
    client = client_for(
        emu, retry_handlers=[ServerErrorRetryHandler(max_retry_count=1, interval_calculator=quick)]
    )
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()
    assert raised.value.response.status_code == 503
    assert raised.value.response["error"] == slack_faults.DEFAULT_ERRORS[503]
    with pytest.raises(SlackApiError, match="fatal_error"):
        client.conversations_info(channel=GENERAL)
    assert client.auth_test()["ok"]  # the plan is used up


def test_a_delay_outlasting_the_client_timeout_can_still_take_effect(emu: SlackEmulator) -> None:
    """Slack did the work but the client never learnt it: the case that tempts a second post."""
    emu.fail_next("chat.postMessage", status=200, delay=0.5)
    with pytest.raises(TimeoutError):
        client_for(emu, timeout=0.1).chat_postMessage(channel=GENERAL, text="once")
    assert emu.wait_for(lambda: [m["text"] for m in emu.messages(GENERAL)] == ["once"], timeout=5)
    emu.fail_next("chat.postMessage", status=500, applied=True)
    with pytest.raises(SlackApiError):
        client_for(emu).chat_postMessage(channel=GENERAL, text="twice?")
    assert [m["text"] for m in emu.messages(GENERAL)] == ["once", "twice?"]


def test_posting_pace_is_per_channel_with_a_short_burst() -> None:
    with SlackEmulator(post_rate_per_channel=1.0, post_burst=2) as emu:
        client = client_for(emu)
        statuses = []
        for _ in range(4):
            try:
                statuses.append(client.chat_postMessage(channel=GENERAL, text="burst").status_code)
            except SlackApiError as error:
                statuses.append(error.response.status_code)
                assert error.response.headers["Retry-After"] == "1"
                assert error.response["error"] == "ratelimited"
        assert statuses == [200, 200, 429, 429]
        assert client.chat_postMessage(channel=DSL, text="other channel")["ok"]
        assert len(emu.messages(GENERAL)) == 2


def test_the_pacer_refills_at_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(slack_faults.time, "monotonic", lambda: now[0])
    pacer = PostPacer(rate=1.0, burst=3)
    assert [pacer.take("C1") for _ in range(4)] == [None, None, None, 1]
    now[0] += 1.0
    assert pacer.take("C1") is None and pacer.take("C1") == 1
    assert PostPacer(rate=None, burst=1).take("C1") is None


def test_threads_reactions_and_queries(emu: SlackEmulator) -> None:
    client = client_for(emu)
    parent = client.chat_postMessage(channel=GENERAL, text="case")["ts"]
    replies = [
        client.chat_postMessage(channel=GENERAL, text=f"r{n}", thread_ts=parent)["ts"] for n in range(3)
    ]
    assert parent < replies[0] < replies[1] < replies[2]
    assert [m["ts"] for m in emu.thread(GENERAL, parent)] == replies
    stored = emu.message(GENERAL, parent)
    assert stored is not None and stored["reply_count"] == 3 and stored["latest_reply"] == replies[-1]
    page = client.conversations_replies(channel=GENERAL, ts=parent, limit=2)
    assert [m["ts"] for m in page["messages"]] == [parent, *replies[:2]]
    cursor = page["response_metadata"]["next_cursor"]
    rest = client.conversations_replies(channel=GENERAL, ts=parent, limit=2, cursor=cursor)
    assert [m["ts"] for m in rest["messages"]] == [parent, replies[2]]  # Slack repeats the parent
    assert [m["ts"] for m in client.conversations_history(channel=GENERAL)["messages"]] == [parent]
    sent = client.chat_postMessage(channel=GENERAL, text="b", thread_ts=parent, reply_broadcast=True)
    broadcast = sent["ts"]
    history = client.conversations_history(channel=GENERAL)["messages"]
    assert [m["ts"] for m in history] == [broadcast, parent]
    client.reactions_add(channel=GENERAL, timestamp=parent, name="eyes")
    assert emu.reactions(GENERAL, parent) == {"eyes": ["U0XDESKBOT"]}
    client.chat_postEphemeral(channel=GENERAL, user="U0ANNA0001", text="psst", thread_ts=parent)
    assert emu.ephemerals[0]["user"] == "U0ANNA0001" and emu.ephemerals[0]["thread_ts"] == parent
    client.chat_delete(channel=GENERAL, ts=replies[0])
    assert [m["ts"] for m in emu.thread(GENERAL, parent)] == [*replies[1:], broadcast]
    assert emu.calls_to("chat.delete") == [{"channel": GENERAL, "ts": replies[0]}]
