"""The `web` surface: health, acknowledgements, size limits, the slash command, Socket Mode."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.harness import ANNA, BASE_SETTINGS, Desk


def http(desk: Desk, path: str, body: bytes | None = None, method: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{desk.port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_healthz_answers_from_redis(desk: Desk) -> None:
    status, body = http(desk, "/healthz")
    assert status == 200 and json.loads(body) == {"ok": True, "redis": "up"}
    assert http(desk, "/nope")[0] == 404


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_mention", "user": ANNA, "text": "<@U0XDESKBOT> hi", "ts": "1.2", "channel": "C0GENERAL1"},
        {"type": "member_joined_channel", "user": ANNA, "channel": "C0GENERAL1"},
        {"type": "message", "subtype": "message_changed", "channel": "C0GENERAL1", "hidden": True},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": "x", "ts": "1.3"},
        {"type": "reaction_added", "user": ANNA, "reaction": "eyes", "item": {"type": "file", "file": "F1"}},
        {"type": "reaction_added"},
    ],
)
def test_events_the_app_does_not_act_on_are_acknowledged(desk: Desk, event: dict) -> None:
    assert desk.slack.deliver(event) == [200]


def test_url_verification_is_answered(desk: Desk) -> None:
    status, body = desk.slack.url_verification("challenge-3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert status == 200 and "challenge-3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in body


def test_an_oversized_body_is_refused_before_parsing(desk: Desk) -> None:
    status, _ = http(desk, "/slack/events", body=b"x" * (300 * 1024), method="POST")
    assert status == 413


def test_the_slash_command_lists_its_help(desk: Desk) -> None:
    status, body = desk.slack.command(ANNA, "C0GENERAL1", "help")
    assert status == 200 and "note:" in body


def test_socket_mode_run_needs_no_public_url(make_desk) -> None:
    desk = make_desk(text=BASE_SETTINGS.replace('mode = "http"', 'mode = "socket"'), app_token=True)
    desk.slack.events_url = None  # nothing reaches the app over HTTP: only the socket
    assert desk.slack.wait_for(lambda: desk.slack.socket_connected, timeout=15)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    assert desk.slack.socket_acks


def test_an_event_arriving_while_slack_fails_auth_test_is_not_dropped(make_desk) -> None:
    """Bolt would call auth.test on the first event and, if that failed, answer 200 and drop it."""
    desk = make_desk()
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.slack.fail_next("auth.test", status=503, times=3)
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))


def test_web_waits_for_slack_to_answer_auth_test_before_serving(x_emu, slack_emu, make_desk) -> None:
    slack_emu.fail_next("auth.test", status=503, times=2)
    desk = make_desk()
    assert http(desk, "/healthz")[0] == 200
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))


def test_thirty_agents_acting_at_the_same_moment_are_served_at_once(make_desk, slack_emu) -> None:
    """Each slash command below asks Slack whether its user is a workspace admin (users.info), and the
    emulated Slack answers none of those calls until all 30 are waiting: only a web that handles 30
    requests at once answers them (asyncio's default pool has six threads on two cores)."""
    import threading

    agents = [f"U0AGENT{i:03d}" for i in range(30)]
    make_desk()
    slack_emu.gather("users.info", len(agents), timeout=10)
    answers: dict[str, tuple[int, str]] = {}

    def ask(user: str) -> None:
        answers[user] = slack_emu.command(user, "C0GENERAL1", "audit")

    threads = [threading.Thread(target=ask, args=(user,)) for user in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(answers[u] == (200, "Only admins may read the audit log.") for u in agents), answers


def test_in_socket_mode_readiness_follows_the_socket(make_desk) -> None:
    import json
    import urllib.error
    import urllib.request

    from tests.harness import eventually

    desk = make_desk(text=BASE_SETTINGS.replace('mode = "http"', 'mode = "socket"'), app_token=True)
    assert desk.slack.wait_for(lambda: desk.slack.socket_connected, timeout=15)

    def ready() -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{desk.port}/readyz", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    eventually(lambda: ready()[0] == 200, what="ready")
    desk.slack.fail_next("apps.connections.open", status=500, times=1000)  # Slack won't take it back
    desk.slack.drop_sockets()
    eventually(lambda: ready()[1].get("not_ready", {}).get("socket_mode") == "not connected", what="not ready")
    assert ready()[0] == 503
    desk.slack.clear_faults()
    eventually(lambda: ready()[0] == 200, timeout=30, what="ready again")
