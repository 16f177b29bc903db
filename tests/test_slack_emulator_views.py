"""The Slack emulator's modals: views.open / views.update as Slack answers them, trigger_id rules, and
the interactivity payloads (message shortcut, block_actions in a modal, view_submission) it sends.

The 2021 Web API OpenAPI document gives views.* only the generic ``{"ok": ...}`` templates (checked
in test_slack_emulator_spec.py); the view object is checked here against the fields of Slack's view
reference (https://docs.slack.dev/reference/views, the example answer of
https://docs.slack.dev/reference/methods/views.open) and payloads against
https://docs.slack.dev/reference/interaction-payloads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import jsonschema
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bridge.sandbox.slack import views as slack_views
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.slack.store import ApiError
from tests.test_slack_emulator_delivery import Recorder

GENERAL, ANNA, BEN = "C0GENERAL1", "U0ANNA0001", "U0BEN00001"
STRING, BOOL = {"type": "string"}, {"type": "boolean"}
NULL_OR_TEXT = {"type": ["object", "null"]}
VIEW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "team_id", "type", "blocks", "private_metadata", "callback_id", "state", "hash", "title",
                 "clear_on_close", "notify_on_close", "close", "submit", "previous_view_id", "root_view_id",
                 "app_id", "external_id", "app_installed_team_id", "bot_id"],
    "properties": {
        "id": {"type": "string", "pattern": "^V[A-Z0-9]+$"}, "team_id": STRING, "type": {"enum": ["modal"]},
        "blocks": {"type": "array"}, "private_metadata": STRING, "callback_id": STRING,
        "state": {"type": "object", "required": ["values"], "properties": {"values": {"type": "object"}}},
        "hash": STRING, "title": {"type": "object", "required": ["type", "text"]},
        "clear_on_close": BOOL, "notify_on_close": BOOL, "close": NULL_OR_TEXT, "submit": NULL_OR_TEXT,
        "previous_view_id": {"type": ["string", "null"]}, "root_view_id": STRING, "app_id": STRING,
        "external_id": STRING, "app_installed_team_id": STRING, "bot_id": STRING,
    },
}
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "pick",
    "title": {"type": "plain_text", "text": "Pick"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {"type": "input", "block_id": "choice", "dispatch_action": True, "label": {"type": "plain_text", "text": "A"},
         "element": {"type": "static_select", "action_id": "chosen", "options": [
             {"text": {"type": "plain_text", "text": "One"}, "value": "one"}]}},
        {"type": "input", "block_id": "words", "label": {"type": "plain_text", "text": "B"},
         "element": {"type": "plain_text_input", "action_id": "text", "initial_value": "first"}},
    ],
}


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emu:
        yield emu


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(base_url=emu.url, token=emu.bot_token)


@pytest.fixture
def app(emu: SlackEmulator) -> Iterator[Recorder]:
    server = Recorder()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    emu.events_url = server.url
    yield server
    server.shutdown()
    server.server_close()


def payloads(emu: SlackEmulator, app: Recorder) -> list[dict[str, Any]]:
    """Every interactivity request the app got, checked to be signed form posts of ``payload=<json>``."""
    verifier = SignatureVerifier(emu.signing_secret)
    out = []
    for headers, body in app.requests:
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert verifier.is_valid_request(body, headers)
        out.append(json.loads(parse_qs(body.decode())["payload"][0]))
    return out


def test_views_open_answers_a_view_object_and_the_user_sees_it(emu: SlackEmulator, client: WebClient) -> None:
    opened = client.views_open(trigger_id=emu.trigger_for(ANNA), view=MODAL)
    jsonschema.Draft4Validator(VIEW).validate(opened["view"])
    view = opened["view"]
    assert view["root_view_id"] == view["id"] and view["callback_id"] == "pick"
    assert emu.open_view(ANNA) == view and emu.open_view(BEN) is None

    updated = client.views_update(view_id=view["id"], hash=view["hash"], view={**MODAL, "callback_id": "picked"})
    jsonschema.Draft4Validator(VIEW).validate(updated["view"])
    assert updated["view"]["id"] == view["id"] and updated["view"]["hash"] != view["hash"]
    with pytest.raises(SlackApiError, match="hash_conflict"):
        client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)


def test_a_trigger_id_opens_one_view_within_three_seconds(
    emu: SlackEmulator, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    trigger = emu.trigger_for(ANNA)
    client.views_open(trigger_id=trigger, view=MODAL)
    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        client.views_open(trigger_id=trigger, view=MODAL)
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        client.views_open(trigger_id="12345.67890.made-up", view=MODAL)
    monkeypatch.setattr(slack_views, "TRIGGER_TTL", -1.0)  # stands for three seconds passing
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        client.views_open(trigger_id=emu.trigger_for(ANNA), view=MODAL)


@pytest.mark.parametrize(("change", "pointer"), [
    ({"title": {"type": "plain_text", "text": "x" * 25}}, "/view/title/text"),
    ({"submit": None}, "/view/submit"),
    ({"private_metadata": "x" * 3001}, "/view/private_metadata"),
    ({"blocks": [MODAL["blocks"][1], MODAL["blocks"][1]]}, "/view/blocks/1/block_id"),
])
def test_invalid_views_are_refused_naming_the_field(
    emu: SlackEmulator, client: WebClient, change: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id=emu.trigger_for(ANNA), view={**MODAL, **change})
    assert raised.value.response["error"] == "invalid_arguments"
    assert pointer in raised.value.response["response_metadata"]["messages"][0]


def test_typed_values_survive_an_update_unless_the_block_is_new(emu: SlackEmulator, client: WebClient) -> None:
    view = client.views_open(trigger_id=emu.trigger_for(ANNA), view=MODAL)["view"]
    assert view["state"]["values"]["words"]["text"] == {"type": "plain_text_input", "value": "first"}
    emu.type_in_view(ANNA, view["id"], "words", "text", "typed")
    client.views_update(view_id=view["id"], view=MODAL)
    assert emu.open_view(ANNA)["state"]["values"]["words"]["text"]["value"] == "typed"
    renamed = {**MODAL, "blocks": [MODAL["blocks"][0], {**MODAL["blocks"][1], "block_id": "words2"}]}
    client.views_update(view_id=view["id"], view=renamed)
    assert emu.open_view(ANNA)["state"]["values"]["words2"]["text"]["value"] == "first"


def test_shortcut_select_and_submit_payloads(emu: SlackEmulator, client: WebClient, app: Recorder) -> None:
    ts = emu.post_user_message(ANNA, GENERAL, "hello")
    app.requests.clear()
    assert emu.message_shortcut(ANNA, GENERAL, ts, "saved_reply")[0] == 200
    [shortcut] = payloads(emu, app)
    assert shortcut["type"] == "message_action" and shortcut["callback_id"] == "saved_reply"
    assert shortcut["channel"]["id"] == GENERAL and shortcut["message_ts"] == ts
    assert shortcut["message"]["text"] == "hello" and shortcut["user"]["id"] == ANNA
    assert shortcut["response_url"].startswith(emu.base) and shortcut["team"]["id"] == "T0XDESK01"

    view = client.views_open(trigger_id=shortcut["trigger_id"], view=MODAL)["view"]
    emu.choose_option(ANNA, view["id"], "choice", "one")
    emu.submit_view(ANNA, view["id"], retries=1)
    _, action, submission, again = payloads(emu, app)
    assert action["type"] == "block_actions" and "response_url" not in action
    assert action["container"] == {"type": "view", "view_id": view["id"]}
    assert action["actions"][0]["selected_option"]["value"] == "one"
    assert action["actions"][0]["block_id"] == "choice" and action["actions"][0]["action_id"] == "chosen"
    assert submission["type"] == "view_submission" and submission["response_urls"] == []
    assert submission["view"]["state"]["values"]["choice"]["chosen"]["selected_option"]["value"] == "one"
    assert submission["view"]["state"]["values"]["words"]["text"]["value"] == "first"
    assert again == submission  # the same submission, delivered once more
    assert emu.open_view(ANNA) is None  # an empty 200 closes the modal


def test_a_picked_user_is_in_the_submission(emu: SlackEmulator, client: WebClient, app: Recorder) -> None:
    picker = {"type": "modal", "callback_id": "pick", "title": {"type": "plain_text", "text": "Pick"},
              "submit": {"type": "plain_text", "text": "OK"},
              "blocks": [{"type": "input", "block_id": "who", "label": {"type": "plain_text", "text": "Who"},
                          "element": {"type": "users_select", "action_id": "user"}}]}
    view = client.views_open(trigger_id=emu.trigger_for(ANNA), view=picker)["view"]
    with pytest.raises(ApiError):
        emu.choose_user(ANNA, view["id"], "who", "U0NOBODY01")
    emu.choose_user(ANNA, view["id"], "who", BEN)
    emu.submit_view(ANNA, view["id"])
    [submission] = payloads(emu, app)
    assert submission["view"]["state"]["values"] == {"who": {"user": {"type": "users_select", "selected_user": BEN}}}
