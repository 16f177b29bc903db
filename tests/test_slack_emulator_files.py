"""The Slack emulator's shared files against Slack's specs and docs: the file object (``objs_file`` of
the Web API OpenAPI), the ``file_share`` message event (Events API AsyncAPI), and the download that
only the bot token gets (https://docs.slack.dev/messaging/working-with-files#authenticating)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests

from bridge.sandbox.slack.server import SlackEmulator
from tests.test_slack_emulator_spec import EVENTS_SPEC, GENERAL, WEB_SPEC, check_event

ANNA = "U0ANNA0001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emu:
        emu.events_url = "http://127.0.0.1:9/unreachable"  # recorded, not answered
        yield emu


def test_a_shared_file_is_a_file_share_message_with_spec_file_objects(emu: SlackEmulator) -> None:
    web: dict[str, Any] = json.loads(WEB_SPEC.read_text())
    events: dict[str, Any] = json.loads(EVENTS_SPEC.read_text())
    parent = emu.post_user_message(ANNA, GENERAL, "hello")
    ts = emu.share_files(ANNA, GENERAL, "the light", [("router.png", PNG)], thread_ts=parent)
    wrapper = emu.deliveries[-1].body
    example = dict(events["components"]["schemas"]["GenericEventWrapper"]["properties"]["event"]["x-examples"][0])
    check_event(events, "message.channels", wrapper, example)
    event = wrapper["event"]
    assert (event["subtype"], event["ts"], event["thread_ts"], event["text"]) == ("file_share", ts, parent, "the light")
    [file] = event["files"]
    jsonschema.Draft4Validator({"$ref": "#/definitions/objs_file", "definitions": web["definitions"]}).validate(file)
    shown = (file["name"], file["mimetype"], file["filetype"], file["size"])
    assert shown == ("router.png", "image/png", "png", len(PNG))
    assert file["url_private_download"].startswith(emu.base + "/files-pri/")
    assert emu.message(GENERAL, ts)["files"] == [file]


def test_only_the_bot_token_downloads_a_file(emu: SlackEmulator) -> None:
    [file] = emu.message(GENERAL, emu.share_files(ANNA, GENERAL, "", [("router.png", PNG)]))["files"]
    url = file["url_private_download"]
    got = requests.get(url, headers={"Authorization": f"Bearer {emu.bot_token}"}, timeout=5)
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, PNG, "image/png")
    for headers in ({}, {"Authorization": "Bearer xoxb-someone-else"}):
        refused = requests.get(url, headers=headers, timeout=5)  # Slack's sign-in page, not the file
        assert refused.status_code == 200 and refused.headers["content-type"].startswith("text/html")
        assert refused.content != PNG
    assert emu.downloads == [file["id"]]
    emu.delete_file(file["id"])
    assert requests.get(url, headers={"Authorization": f"Bearer {emu.bot_token}"}, timeout=5).status_code == 404
