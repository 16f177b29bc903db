"""The Slack emulator's answers and events, checked against Slack's own published specs.

Web API responses are validated against the response schemas of the Slack Web API OpenAPI document
(2021) and event payloads against the Events API AsyncAPI document, both in
``tests/reference/slack-specs`` (see tests/reference/README.md).

The 2021 documents are older than some of what Slack sends today and have generator quirks; the
schemas are kept strict (``additionalProperties: false`` stays) and only these gaps are patched, each
from Slack's method docs:

- ``"items": [A, B]`` on a non-array schema is the generator's way of writing "A or B" (draft 4 would
  ignore it, leaving users and conversations unchecked), so it is read as ``anyOf``.
- message fields newer than the spec: ``metadata`` (https://docs.slack.dev/messaging/message-metadata),
  ``app_id``, ``edited``, ``is_locked`` (https://docs.slack.dev/reference/objects/message-object).
- ``conversations.replies`` items were modelled on a user's message only; a bot's message carries
  the message-object fields (``bot_id``, ``blocks``...), so the item schemas get those properties.
- ``chat.update`` declares ``message.blocks`` an object; Slack returns the blocks array.
- ``conversations.history`` pages with ``response_metadata.next_cursor`` (the spec forgot it).
- error enums lack errors Slack documents today (``invalid_blocks`` and its ``errors`` /
  ``response_metadata`` details, ``ratelimited``...), listed in ``NEWER_ERRORS``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bridge.sandbox.slack.methods import METHODS
from bridge.sandbox.slack.server import SlackEmulator
from tests.reference import reference

WEB_SPEC = reference("slack-specs", "slack_web_openapi_v2_without_examples.json")
EVENTS_SPEC = reference("slack-specs", "slack_events_api_async_v1.json")

GENERAL, ANNA = "C0GENERAL1", "U0ANNA0001"
NEWER_ERRORS = [
    "invalid_blocks",  # https://docs.slack.dev/reference/methods/chat.postMessage#errors
    "invalid_blocks_format",
    "invalid_thread_ts",
    "thread_not_found",
    "invalid_metadata_format",
    "not_allowed_token_type",  # https://docs.slack.dev/authentication/tokens
    "ratelimited",  # the 429 body: https://docs.slack.dev/apis/web-api/rate-limits
]
NEWER_MESSAGE_FIELDS: dict[str, Any] = {
    "metadata": {
        "type": "object",
        "additionalProperties": False,
        "required": ["event_type", "event_payload"],
        "properties": {"event_type": {"type": "string"}, "event_payload": {"type": "object"}},
    },
    "app_id": {"$ref": "#/definitions/defs_app_id"},
    "edited": {"type": "object", "required": ["user", "ts"]},
    "is_locked": {"type": "boolean"},
}


def _anyof_items(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _anyof_items(v) for k, v in node.items()}
        if isinstance(node.get("items"), list) and node.get("type") != "array":
            node["anyOf"] = node.pop("items")
        return node
    if isinstance(node, list):
        return [_anyof_items(v) for v in node]
    return node


@pytest.fixture(scope="module")
def web_spec() -> dict[str, Any]:
    spec = _anyof_items(json.loads(WEB_SPEC.read_text()))
    definitions = spec["definitions"]
    definitions["objs_message"]["properties"].update(NEWER_MESSAGE_FIELDS)
    replies = spec["paths"]["/conversations.replies"]["get"]["responses"]["200"]["schema"]
    for item in replies["properties"]["messages"]["items"]["anyOf"]:
        item["properties"] = {**definitions["objs_message"]["properties"], **item["properties"]}
    update = spec["paths"]["/chat.update"]["post"]["responses"]["200"]["schema"]
    update["properties"]["message"]["properties"]["blocks"] = {"$ref": "#/definitions/blocks"}
    history = spec["paths"]["/conversations.history"]["get"]["responses"]["200"]["schema"]
    history["properties"]["response_metadata"] = definitions["objs_response_metadata"]["anyOf"][0]
    for method in METHODS:
        for operation in spec["paths"]["/" + method].values():
            error = operation["responses"]["default"]["schema"]
            if "error" in error["properties"]:  # views.* have only the generic {"ok": false} template
                error["properties"]["error"]["enum"] += NEWER_ERRORS
            error["properties"]["errors"] = {"type": "array", "items": {"type": "string"}}
            error["properties"]["response_metadata"] = {"type": "object"}
    return spec


def check(spec: dict[str, Any], method: str, body: dict[str, Any]) -> None:
    """Validate ``body`` against ``method``'s success (ok) or error (not ok) response schema."""
    operation = next(iter(spec["paths"]["/" + method].values()))
    schema = operation["responses"]["200" if body.get("ok") else "default"]["schema"]
    jsonschema.Draft4Validator({**schema, "definitions": spec["definitions"]}).validate(body)


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(usergroups={"S0AGENTS01": [ANNA]}, channels_without_bot=("C0DSLTEAM1",)) as emu:
        yield emu


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(base_url=emu.url, token=emu.bot_token)


def test_every_success_answer_matches_the_web_api_spec(
    web_spec: dict[str, Any], emu: SlackEmulator, client: WebClient
) -> None:
    metadata = {"event_type": "xdesk_case", "event_payload": {"case_id": "c1", "tweet_id": "1"}}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Klaus* says hi"}}]
    posted = client.chat_postMessage(channel=GENERAL, text="case", blocks=blocks, metadata=metadata)
    parent = posted["ts"]
    reply = client.chat_postMessage(channel=GENERAL, text="follow-up", thread_ts=parent, unfurl_links=False)
    client.reactions_add(channel=GENERAL, timestamp=parent, name="eyes")
    answers = {
        "auth.test": client.auth_test(),
        "chat.postMessage": posted,
        "chat.update": client.chat_update(channel=GENERAL, ts=parent, text="case (claimed)", blocks=blocks),
        "chat.postEphemeral": client.chat_postEphemeral(channel=GENERAL, user=ANNA, text="claim first"),
        "chat.getPermalink": client.chat_getPermalink(channel=GENERAL, message_ts=reply["ts"]),
        "reactions.get": client.reactions_get(channel=GENERAL, timestamp=parent),
        "reactions.remove": client.reactions_remove(channel=GENERAL, timestamp=parent, name="eyes"),
        "conversations.info": client.conversations_info(channel=GENERAL),
        "conversations.history": client.conversations_history(channel=GENERAL, include_all_metadata=True),
        "conversations.replies": client.conversations_replies(channel=GENERAL, ts=parent),
        "conversations.join": client.conversations_join(channel="C0DSLTEAM1"),
        "users.info": client.users_info(user=ANNA),
        "usergroups.users.list": client.usergroups_users_list(usergroup="S0AGENTS01"),
    }
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Saved reply"}, "blocks": blocks}
    answers["views.open"] = client.views_open(trigger_id=emu.trigger_for(ANNA), view=modal)
    answers["views.update"] = client.views_update(view_id=answers["views.open"]["view"]["id"], view=modal)
    answers["reactions.add"] = client.reactions_add(
        channel=GENERAL, timestamp=reply["ts"], name="outbox_tray"
    )
    answers["chat.delete"] = client.chat_delete(channel=GENERAL, ts=reply["ts"])
    for method, response in answers.items():
        check(web_spec, method, response.data)
    assert answers["conversations.history"]["messages"][0]["metadata"] == metadata
    assert answers["chat.getPermalink"]["permalink"].endswith(f"?thread_ts={parent}&cid={GENERAL}")


def test_paged_history_and_bot_user_match_the_spec(web_spec: dict[str, Any], client: WebClient) -> None:
    for n in range(3):
        client.chat_postMessage(channel=GENERAL, text=f"message {n}")
    first = client.conversations_history(channel=GENERAL, limit=2)
    check(web_spec, "conversations.history", first.data)
    assert first["has_more"] and [m["text"] for m in first["messages"]] == ["message 2", "message 1"]
    rest = client.conversations_history(
        channel=GENERAL, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["message 0"] and not rest["has_more"]
    assert "metadata" not in json.dumps(rest.data)  # only with include_all_metadata
    check(web_spec, "users.info", client.users_info(user="U0XDESKBOT").data)


ERRORS = [
    ("auth.test", {}, "invalid_auth", "xoxb-wrong"),
    ("auth.test", {}, "not_authed", ""),
    ("chat.postMessage", {"channel": "C0NOWHERE1", "text": "x"}, "channel_not_found", None),
    ("chat.postMessage", {"channel": "C0DSLTEAM1", "text": "x"}, "not_in_channel", None),
    ("chat.postMessage", {"channel": GENERAL}, "no_text", None),
    ("chat.postMessage", {"channel": GENERAL, "text": "x" * 40_001}, "msg_too_long", None),
    ("chat.postMessage", {"channel": GENERAL, "blocks": [{"type": "divider"}] * 51}, "invalid_blocks", None),
    (
        "chat.postMessage",
        {"channel": GENERAL, "text": "x", "thread_ts": "1500000000.000001"},
        "thread_not_found",
        None,
    ),
    ("chat.update", {"channel": GENERAL, "ts": "1500000000.000001", "text": "x"}, "message_not_found", None),
    ("chat.delete", {"channel": GENERAL, "ts": "1500000000.000001"}, "message_not_found", None),
    (
        "chat.postEphemeral",
        {"channel": GENERAL, "user": "U0NOBODY01", "text": "x"},
        "user_not_in_channel",
        None,
    ),
    ("chat.getPermalink", {"channel": GENERAL, "message_ts": "1500000000.000001"}, "message_not_found", None),
    (
        "reactions.add",
        {"channel": GENERAL, "timestamp": "1500000000.000001", "name": "eyes"},
        "message_not_found",
        None,
    ),
    ("reactions.get", {"channel": GENERAL}, "no_item_specified", None),
    ("conversations.info", {"channel": "C0NOWHERE1"}, "channel_not_found", None),
    ("conversations.history", {"channel": "C0NOWHERE1"}, "channel_not_found", None),
    ("conversations.replies", {"channel": GENERAL, "ts": "1500000000.000001"}, "thread_not_found", None),
    ("conversations.join", {"channel": "C0NOWHERE1"}, "channel_not_found", None),
    ("users.info", {"user": "U0NOBODY01"}, "user_not_found", None),
    ("usergroups.users.list", {"usergroup": "S0AGENTS01"}, "invalid_auth", "xapp-wrong"),
    ("views.open", {"trigger_id": "12345.67890.abcdef", "view": {"type": "modal", "title": {
        "type": "plain_text", "text": "x"}, "blocks": []}}, "invalid_trigger_id", None),
    ("views.update", {"view_id": "V0NOWHERE1", "view": {"type": "modal", "title": {
        "type": "plain_text", "text": "x"}, "blocks": []}}, "not_found", None),
]


@pytest.mark.parametrize(("method", "args", "error", "token"), ERRORS)
def test_error_answers_match_the_web_api_spec(
    web_spec: dict[str, Any],
    emu: SlackEmulator,
    method: str,
    args: dict[str, Any],
    error: str,
    token: str | None,
) -> None:
    client = WebClient(base_url=emu.url, token=emu.bot_token if token is None else token or None)
    with pytest.raises(SlackApiError) as raised:
        client.api_call(method, json=args)
    assert raised.value.response.status_code == 200  # Slack answers API errors with 200 and ok: false
    assert raised.value.response["error"] == error
    check(web_spec, method, raised.value.response.data)


def test_invalid_blocks_names_the_offending_field(client: WebClient) -> None:
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=GENERAL, text="x", blocks=long_section)
    assert raised.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    ok = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 50
    assert client.chat_postMessage(channel=GENERAL, text="x", blocks=ok)["ok"]


def test_own_and_others_messages(emu: SlackEmulator, client: WebClient) -> None:
    emu.events_url = "http://127.0.0.1:9/unreachable"  # user actions still change the store
    ts = emu.post_user_message(ANNA, GENERAL, "hello")
    for method in (client.chat_update, client.chat_delete):
        with pytest.raises(SlackApiError) as raised:
            method(channel=GENERAL, ts=ts, text="mine now")
        assert raised.value.response["error"] in ("cant_update_message", "cant_delete_message")
    client.reactions_add(channel=GENERAL, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError, match="already_reacted"):
        client.reactions_add(channel=GENERAL, timestamp=ts, name="eyes")
    client.reactions_remove(channel=GENERAL, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError, match="no_reaction"):
        client.reactions_remove(channel=GENERAL, timestamp=ts, name="eyes")


# --- the Events API side --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events_spec() -> dict[str, Any]:
    return json.loads(EVENTS_SPEC.read_text())


def _shape(example: Any) -> dict[str, Any]:
    """A schema demanding every key of a spec example, with the example's JSON types."""
    if isinstance(example, dict):
        return {
            "type": "object",
            "required": sorted(example),
            "properties": {k: _shape(v) for k, v in example.items()},
        }
    kinds = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array"}
    return {"type": kinds.get(type(example), "null")}


def check_event(spec: dict[str, Any], topic: str, wrapper: dict[str, Any], example: dict[str, Any]) -> None:
    """The wrapper against the topic's payload schema, the event against the spec's own example."""
    payload = copy.deepcopy(spec["topics"][topic]["subscribe"]["payload"])
    if "$ref" in payload:
        payload = spec["components"]["schemas"][payload["$ref"].rsplit("/", 1)[1]]
    jsonschema.Draft4Validator(payload).validate(wrapper)
    jsonschema.Draft4Validator(_shape(example)).validate(wrapper["event"])


def test_delivered_events_match_the_events_api_spec(events_spec: dict[str, Any], emu: SlackEmulator) -> None:
    wrapper_schema = events_spec["components"]["schemas"]["GenericEventWrapper"]
    message_example = dict(wrapper_schema["properties"]["event"]["x-examples"][0])
    reaction_example = wrapper_schema["x-examples"][1]["event"]
    emu.events_url = "http://127.0.0.1:9/unreachable"  # connection refused: recorded as status 0
    ts = emu.post_user_message(ANNA, GENERAL, "hello <@U0XDESKBOT>")
    reply = emu.post_user_message(ANNA, GENERAL, "more", thread_ts=ts)
    emu.add_reaction(ANNA, GENERAL, ts, "eyes")
    emu.remove_reaction(ANNA, GENERAL, ts, "eyes")
    emu.edit_message(ANNA, GENERAL, reply, "more, edited")
    emu.delete_message(GENERAL, reply)
    message, thread_reply, added, removed, changed, deleted = (d.body for d in emu.deliveries)
    # message.channels and reaction.* use GenericEventWrapper. (The spec's "message" topic payload was
    # generated from a file-comment deletion and demands previous_message.file, so it fits no message.)
    check_event(events_spec, "message.channels", message, message_example)
    check_event(events_spec, "message.channels", thread_reply, message_example)
    check_event(events_spec, "reaction.added", added, reaction_example)
    check_event(events_spec, "reaction.removed", removed, {**reaction_example, "type": "reaction_removed"})
    for wrapper in (changed, deleted):
        check_event(
            events_spec, "message.channels", wrapper, {"type": "message", "subtype": "x", "channel": "C"}
        )
    assert message["event"]["channel_type"] == "channel" and message["event"]["client_msg_id"]
    assert message["event"]["blocks"][0]["elements"][0]["elements"][1] == {
        "type": "user",
        "user_id": "U0XDESKBOT",
    }
    assert thread_reply["event"]["thread_ts"] == ts and thread_reply["event"]["parent_user_id"] == ANNA
    assert added["event"]["item"] == {"type": "message", "channel": GENERAL, "ts": ts}
    assert added["event"]["item_user"] == ANNA
    assert changed["event"]["message"]["edited"]["user"] == ANNA
    assert changed["event"]["previous_message"]["text"] == "more"
    assert deleted["event"]["deleted_ts"] == reply
    assert message["event_id"].startswith("Ev") and message["authorizations"][0]["user_id"] == "U0XDESKBOT"
    assert {d.statuses[0] for d in emu.deliveries} == {0}
