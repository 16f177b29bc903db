"""The X emulator's direct-message endpoints against the OpenAPI 2.162 document and X's rate limits."""

from __future__ import annotations

from typing import Any

from referencing import Registry

from bridge.sandbox.x.server import XEmulator
from bridge.x.direct import DM_FIELDS
from tests.x_emulator.contract import check_problem, rate_headers, signed, validate

# What XClient asks for, by X's parameter names.
BRIDGE_QUERY = {name.removesuffix("_fields") + ".fields" if name.endswith("_fields") else name:
                ",".join(v) if isinstance(v, list) else str(v) for name, v in DM_FIELDS.items()}


def check_events(registry: Registry, spec: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    """Valid against ``name``, and no key the schemas do not know (they allow extra keys; X sends none)."""
    validate(registry, name, body)
    s = spec["components"]["schemas"]
    assert set(body) <= set(s[name]["properties"])
    for event in body.get("data", []):
        validate(registry, "DmEvent", event)
        assert set(event) <= set(s["DmEvent"]["properties"]), set(event) - set(s["DmEvent"]["properties"])
    for user in (body.get("includes") or {}).get("users", []):
        assert set(user) <= set(s["User"]["properties"])
    assert set(body["meta"]) <= set(s[name]["properties"]["meta"]["properties"])


def test_dm_events_answer_what_the_bridge_asks_for_newest_first(emu: XEmulator, registry: Registry,
                                                                 spec: dict) -> None:
    first = emu.dms.send("hello", author="kunde_klaus")
    second = emu.dms.send("are you there?", author="kunde_klaus")
    answer = signed(emu, "GET", "/2/dm_events", params=BRIDGE_QUERY)
    assert answer.status_code == 200
    body = answer.json()
    check_events(registry, spec, "Get2DmEventsResponse", body)
    assert [e["id"] for e in body["data"]] == [second, first]
    event = body["data"][0]
    assert event["event_type"] == "MessageCreate" and event["text"] == "are you there?"
    customer = body["includes"]["users"][0]
    assert event["sender_id"] == customer["id"] and customer["username"] == "kunde_klaus"
    assert event["dm_conversation_id"] == "-".join(sorted((emu.brand_id, customer["id"]), key=int))
    assert "public_metrics" in customer
    assert rate_headers(answer)[:2] == (15, 14)  # X: 15 requests per 15 minutes


def test_dm_events_without_fields_carry_xs_defaults_only(emu: XEmulator, registry: Registry, spec: dict) -> None:
    emu.dms.send("hello", author="kunde_klaus")
    body = signed(emu, "GET", "/2/dm_events").json()
    check_events(registry, spec, "Get2DmEventsResponse", body)
    assert set(body["data"][0]) == {"id", "event_type", "text"} and "includes" not in body
    assert signed(emu, "GET", "/2/dm_events", params={"max_results": "5"}).json()["meta"] == {"result_count": 1}


def test_dm_events_page_with_a_base32_token(emu: XEmulator, registry: Registry, spec: dict) -> None:
    sent = [emu.dms.send(f"message {i}", author="kunde_klaus") for i in range(3)]
    page1 = signed(emu, "GET", "/2/dm_events", params={"max_results": "2"}).json()
    token = page1["meta"]["next_token"]
    validate(registry, "PaginationToken32", token)
    page2 = signed(emu, "GET", "/2/dm_events", params={"max_results": "2", "pagination_token": token}).json()
    check_events(registry, spec, "Get2DmEventsResponse", page2)
    assert [e["id"] for e in page1["data"] + page2["data"]] == sent[::-1]
    assert "next_token" not in page2["meta"]


def test_the_16th_read_in_a_window_is_refused(emu: XEmulator, spec: dict, registry: Registry) -> None:
    for _ in range(15):
        assert signed(emu, "GET", "/2/dm_events").status_code == 200
    refused = signed(emu, "GET", "/2/dm_events")
    assert refused.status_code == 429 and refused.headers["x-rate-limit-remaining"] == "0"
    check_problem(registry, spec, refused.json())


def test_sending_a_dm_answers_its_event_and_conversation(emu: XEmulator, registry: Registry, spec: dict) -> None:
    emu.dms.send("hello", author="kunde_klaus")
    customer = emu._world.user_by_name("kunde_klaus")
    assert customer is not None
    path = f"/2/dm_conversations/with/{customer.id}/messages"
    created = signed(emu, "POST", path, body={"text": "Hi, how can we help? ^AN"})
    assert created.status_code == 201
    validate(registry, "CreateDmEventResponse", created.json())
    data = created.json()["data"]
    assert set(data) == {"dm_conversation_id", "dm_event_id"}
    assert emu.dms.sent == [{"id": data["dm_event_id"], "text": "Hi, how can we help? ^AN", "to": "kunde_klaus"}]
    assert rate_headers(created)[:2] == (15, 14)

    conversation = signed(emu, "GET", f"/2/dm_conversations/with/{customer.id}/dm_events", params=BRIDGE_QUERY)
    body = conversation.json()
    check_events(registry, spec, "Get2DmConversationsWithParticipantIdDmEventsResponse", body)
    assert [e["text"] for e in body["data"]] == ["Hi, how can we help? ^AN", "hello"]
    assert body["data"][0]["sender_id"] == emu.brand_id


def test_x_refuses_a_dm_to_someone_who_never_wrote_and_bad_requests(emu: XEmulator, registry: Registry,
                                                                    spec: dict) -> None:
    stranger = emu.add_user("stranger")
    refused = signed(emu, "POST", f"/2/dm_conversations/with/{stranger}/messages", body={"text": "hi"})
    assert refused.status_code == 403
    check_problem(registry, spec, refused.json())
    emu.dms.send("hello", author="stranger")
    empty = signed(emu, "POST", f"/2/dm_conversations/with/{stranger}/messages", body={"text": ""})
    assert empty.status_code == 400
    check_problem(registry, spec, empty.json())
    bad = signed(emu, "GET", "/2/dm_events", params={"dm_event.fields": "id,bogus", "pagination_token": "!"})
    assert bad.status_code == 400
    check_problem(registry, spec, bad.json())
    assert len(bad.json()["errors"]) == 2


def test_the_emulators_own_door_lets_a_customer_write_and_shows_what_the_brand_sent(emu: XEmulator) -> None:
    import requests

    made = requests.post(f"{emu.url}/_emulator/dms", json={"text": "hi", "author": "kunde_klaus"}, timeout=5)
    assert made.status_code == 201
    customer = emu._world.user_by_name("kunde_klaus")
    assert customer is not None
    signed(emu, "POST", f"/2/dm_conversations/with/{customer.id}/messages", body={"text": "Hello! ^AN"})
    sent = requests.get(f"{emu.url}/_emulator/dms", timeout=5).json()["sent"]
    assert [(s["text"], s["to"]) for s in sent] == [("Hello! ^AN", "kunde_klaus")]
    assert signed(emu, "GET", "/2/dm_events").json()["data"][1]["id"] == made.json()["id"]
