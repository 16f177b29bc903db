"""What the Slack emulator sends apps: signed Events API POSTs, retries, slash commands, interactivity,
and Socket Mode envelopes; received by a bare recorder, by slack_sdk's SocketModeClient and by Bolt."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bridge.sandbox.slack.server import SlackEmulator

GENERAL, ANNA = "C0GENERAL1", "U0ANNA0001"


class Recorder(ThreadingHTTPServer):
    """A stand-in app: records each request and answers ``status`` (the body echoes a challenge)."""

    daemon_threads = True

    def __init__(self, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/slack/events"


class _RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers.items()), body))
        reply = json.loads(body).get("challenge", "").encode() if body.startswith(b"{") else b""
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emu:
        yield emu


@pytest.fixture
def app_server(emu: SlackEmulator) -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    emu.events_url = server.url
    yield server
    server.shutdown()
    server.server_close()


REACTION = {"type": "reaction_added", "user": ANNA, "reaction": "eyes", "item": {"type": "message"}}


def test_signatures_verify_only_when_valid(emu: SlackEmulator, app_server: Recorder) -> None:
    verifier = SignatureVerifier(emu.signing_secret)
    results = {}
    for signature in ("valid", "bad", "stale", "missing"):
        assert emu.deliver(REACTION, signature=signature) == [200]  # the recorder checks nothing
        headers, body = app_server.requests[-1]
        results[signature] = verifier.is_valid_request(body, headers)
        assert json.loads(body)["event"]["reaction"] == "eyes"
    assert results == {"valid": True, "bad": False, "stale": False, "missing": False}
    stale_headers = app_server.requests[2][0]
    assert (
        verifier.is_valid(
            app_server.requests[2][1],
            stale_headers["X-Slack-Request-Timestamp"],
            stale_headers["X-Slack-Signature"],
        )
        is False
    )
    assert "X-Slack-Signature" not in app_server.requests[3][0]


def test_retries_repeat_the_event_id_with_retry_headers(emu: SlackEmulator, app_server: Recorder) -> None:
    app_server.status = 500
    assert emu.deliver(REACTION, retries=3, event_id="Ev0XDESK0001") == [500, 500, 500, 500]
    bodies = [json.loads(body) for _, body in app_server.requests]
    assert {b["event_id"] for b in bodies} == {"Ev0XDESK0001"}
    retry_headers = [
        (h.get("X-Slack-Retry-Num"), h.get("X-Slack-Retry-Reason")) for h, _ in app_server.requests
    ]
    assert retry_headers == [
        (None, None),
        ("1", "http_timeout"),
        ("2", "http_timeout"),
        ("3", "http_timeout"),
    ]
    verifier = SignatureVerifier(emu.signing_secret)
    assert all(verifier.is_valid_request(body, headers) for headers, body in app_server.requests)


def test_url_verification_commands_and_interactivity_over_http(
    emu: SlackEmulator, app_server: Recorder
) -> None:
    assert emu.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") == (
        200,
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    )
    assert emu.command(ANNA, GENERAL, "help")[0] == 200
    headers, body = app_server.requests[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(emu.signing_secret).is_valid_request(body, headers)
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form["command"] == "/xdesk" and form["text"] == "help" and form["user_id"] == ANNA
    assert form["channel_id"] == GENERAL and form["response_url"].startswith(emu.base)
    emu.interact({"type": "block_actions", "user": {"id": ANNA}, "actions": [{"action_id": "claim"}]})
    payload = json.loads(parse_qs(app_server.requests[-1][1].decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["team"]["id"] == "T0XDESK01"


def test_clicking_a_button_of_an_ephemeral_sends_block_actions(emu: SlackEmulator, app_server: Recorder) -> None:
    client = WebClient(token=emu.bot_token, base_url=emu.url)
    parent = client.chat_postMessage(channel=GENERAL, text="case")["ts"]
    button = {"type": "button", "action_id": "resend", "value": "v1", "text": {"type": "plain_text", "text": "Go"}}
    shown = client.chat_postEphemeral(channel=GENERAL, user=ANNA, text="offer", thread_ts=parent, blocks=[
        {"type": "actions", "block_id": "b1", "elements": [button]}])["message_ts"]
    assert emu.click(ANNA, GENERAL, shown, "resend")[0] == 200
    payload = json.loads(parse_qs(app_server.requests[-1][1].decode())["payload"][0])
    # https://docs.slack.dev/reference/interaction-payloads/block_actions-payload
    assert payload["type"] == "block_actions" and payload["user"]["id"] == ANNA
    assert payload["container"] == {"type": "message", "message_ts": shown, "channel_id": GENERAL,
                                    "is_ephemeral": True, "thread_ts": parent}
    assert "message" not in payload and payload["channel"]["id"] == GENERAL
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == ("resend", "b1", "v1",
                                                                                           "button")
    assert payload["response_url"].startswith(emu.base) and payload["trigger_id"]
    with pytest.raises(Exception, match="action_not_found"):
        emu.click(ANNA, GENERAL, shown, "nothing_there")


def test_async_delivery_is_recorded_when_answered(emu: SlackEmulator, app_server: Recorder) -> None:
    emu.events_url = app_server.url
    assert emu.deliver(REACTION, deliver_async=True) == []
    emu.drain()
    [delivery] = emu.deliveries
    assert delivery.done and delivery.statuses == [200] and delivery.transport == "http"


def test_nowhere_to_deliver_is_an_error(emu: SlackEmulator) -> None:
    with pytest.raises(RuntimeError, match="events_url"):
        emu.deliver(REACTION)


def test_socket_mode_round_trip_with_the_sdk_client(emu: SlackEmulator) -> None:
    received: list[SocketModeRequest] = []

    def on_request(client: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    client = SocketModeClient(app_token=emu.app_token, web_client=WebClient(base_url=emu.url))
    client.socket_mode_request_listeners.append(on_request)  # type: ignore[arg-type]
    client.connect()
    try:
        assert emu.wait_for(lambda: emu.socket_connected)
        ts = emu.post_user_message(ANNA, GENERAL, "hello over the socket")
        [delivery] = emu.deliveries
        assert delivery.transport == "socket" and delivery.statuses == [200]
        [request] = received
        assert request.type == "events_api" and request.payload["event"]["ts"] == ts
        assert request.payload["type"] == "event_callback" and request.retry_attempt == 0
        assert emu.socket_acks == [{"envelope_id": request.envelope_id}]
        assert emu.deliver(REACTION, retries=1) == [200, 200]
        assert received[-1].retry_attempt == 1 and received[-1].retry_reason == "http_timeout"
        assert received[-1].payload["event_id"] == received[-2].payload["event_id"]
    finally:
        client.close()
    assert emu.wait_for(lambda: not emu.socket_connected)


def bolt_app(emu: SlackEmulator) -> App:
    """A Bolt app that answers a claim with a thread reply and ``/xdesk`` with its help."""
    app = App(signing_secret=emu.signing_secret, client=WebClient(base_url=emu.url, token=emu.bot_token))

    @app.event("reaction_added")
    def claimed(event: dict[str, Any], client: WebClient) -> None:
        item = event["item"]
        client.chat_postMessage(
            channel=item["channel"], thread_ts=item["ts"], text=f"<@{event['user']}> claims"
        )

    @app.event("message")
    def message(event: dict[str, Any]) -> None:
        pass

    @app.command("/xdesk")
    def xdesk(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack(f"help for <@{command['user_id']}>")
        respond("later, via response_url")

    return app


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_real_bolt_app_over_http(emu: SlackEmulator) -> None:
    server: WSGIServer = make_server(
        "127.0.0.1", 0, SlackRequestHandler(bolt_app(emu)), handler_class=_QuietWSGIHandler
    )
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    emu.events_url = f"http://127.0.0.1:{server.server_port}/slack/events"
    try:
        parent = emu.post_user_message(ANNA, GENERAL, "a case")
        for signature in ("bad", "stale", "missing"):
            assert emu.deliver(REACTION, signature=signature) == [401]  # Bolt refuses them
        assert emu.add_reaction(ANNA, GENERAL, parent, "eyes").statuses == [200]
        assert emu.wait_for(lambda: emu.thread(GENERAL, parent))
        assert emu.thread(GENERAL, parent)[0]["text"] == f"<@{ANNA}> claims"
        status, body = emu.command(ANNA, GENERAL, "help")
        assert (status, body) == (200, f"help for <@{ANNA}>")  # Bolt acks a bare text as text/plain
        assert emu.wait_for(lambda: emu.responded)
        assert emu.responded[0]["body"]["text"] == "later, via response_url"
    finally:
        server.shutdown()
        server.server_close()


def test_a_real_bolt_app_over_socket_mode(emu: SlackEmulator) -> None:
    emu.events_url = None
    handler = SocketModeHandler(bolt_app(emu), app_token=emu.app_token)
    handler.connect()
    try:
        assert emu.wait_for(lambda: emu.socket_connected)
        parent = emu.post_user_message(ANNA, GENERAL, "a case")
        assert emu.add_reaction(ANNA, GENERAL, parent, "eyes").statuses == [200]
        assert emu.wait_for(lambda: emu.thread(GENERAL, parent))
        status, body = emu.command(ANNA, GENERAL, "help")
        assert status == 200 and json.loads(body) == {"text": f"help for <@{ANNA}>"}  # the ack's payload
        assert [d.transport for d in emu.deliveries] == ["socket"] * 3
    finally:
        handler.close()


def test_the_bots_own_actions_are_echoed_when_asked(app_server: Recorder) -> None:
    with SlackEmulator(echo_bot_events=True) as emu:
        emu.events_url = app_server.url
        client = WebClient(base_url=emu.url, token=emu.bot_token)
        ts = client.chat_postMessage(channel=GENERAL, text="case")["ts"]
        client.reactions_add(channel=GENERAL, timestamp=ts, name="eyes")
        assert emu.wait_for(lambda: len(emu.deliveries) == 2 and all(d.done for d in emu.deliveries))
        posted, reacted = sorted((d.event for d in emu.deliveries), key=lambda e: e["event_ts"])
        assert posted["bot_id"] == "B0XDESKBOT" and posted["user"] == "U0XDESKBOT" and posted["ts"] == ts
        assert reacted["type"] == "reaction_added" and reacted["item_user"] == "U0XDESKBOT"
