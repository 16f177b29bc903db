"""Saved replies: admins keep them with /xdesk saved; agents send one from the "Saved reply" shortcut."""

from __future__ import annotations

import time

import pytest

from bridge.core.models import Author, UserId
from bridge.desk.saved_replies import NAME, fill
from tests.harness import ADMIN, ANNA, BEN, GENERAL, WS_ADMIN, Desk, block_text, claimed_case, drained, said

SAVED = """
[saved_replies]
outage = "Hi {name}, we know about the outage and are on it. Sorry, @{handle}!"
"""
TEXT_PREFIX = "saved_reply_text"


@pytest.fixture
def desk(make_desk) -> Desk:
    return make_desk(SAVED)


def xdesk(desk: Desk, user: str, text: str) -> str:
    """What ``user`` is shown after typing ``/xdesk <text>``."""
    status, body = desk.slack.command(user, GENERAL, text)
    assert status == 200
    return body  # Bolt answers ack("...") with the text as is; Slack shows it to the user only


def open_modal(desk: Desk, user: str, parent: dict, ts: str | None = None) -> dict:
    status, _ = desk.slack.message_shortcut(user, parent["channel"], ts or parent["ts"], "saved_reply")
    assert status == 200
    view = desk.slack.open_view(user)
    assert view is not None, "no modal opened"
    return view


def choose(desk: Desk, user: str, view: dict, name: str) -> dict:
    status, _ = desk.slack.choose_option(user, view["id"], "saved_reply_pick", name)
    assert status == 200
    updated = desk.slack.open_view(user)
    assert updated is not None
    return updated


def text_input(view: dict) -> dict:
    [block] = [b for b in view["blocks"] if b.get("block_id", "").startswith(TEXT_PREFIX)]
    return block


def options(view: dict) -> list[str]:
    [pick] = [b for b in view["blocks"] if b.get("block_id") == "saved_reply_pick"]
    return [o["value"] for o in pick["element"]["options"]]


def test_admins_add_and_remove_saved_replies_and_others_cannot(desk: Desk) -> None:
    refused = xdesk(desk, ANNA, "saved add router Hi {name}, please restart your router.")
    assert "Only admins" in refused and "nothing changed" in refused
    assert "router" not in xdesk(desk, ANNA, "saved")

    assert "added" in xdesk(desk, ADMIN, "saved add router Hi {name}, please restart your router.")
    assert "added" in xdesk(desk, WS_ADMIN, "saved add dm-please Please send us a DM, @{handle}.")
    listing = xdesk(desk, BEN, "saved")
    assert "`outage` (settings.toml)" in listing
    assert f"`router` (added in Slack by <@{ADMIN}>)" in listing
    assert f"`dm-please` (added in Slack by <@{WS_ADMIN}>)" in listing

    assert "settings.toml" in xdesk(desk, ADMIN, "saved remove outage")
    assert "settings.toml" in xdesk(desk, ADMIN, "saved add outage Something else")
    assert "no saved reply `nope`" in xdesk(desk, ADMIN, "saved remove nope")
    assert "isn't a usable name" in xdesk(desk, ADMIN, "saved add Bad!Name text")
    assert "needs a text" in xdesk(desk, ADMIN, "saved add empty")
    assert "Only admins" in xdesk(desk, ANNA, "saved remove router")
    assert "`router`" in xdesk(desk, ANNA, "saved")

    assert "removed" in xdesk(desk, ADMIN, "saved remove router")
    listing = xdesk(desk, ANNA, "saved")
    assert "`router`" not in listing and "`outage`" in listing and "`dm-please`" in listing
    assert "/xdesk saved" in xdesk(desk, ANNA, "help")


def test_the_shortcut_lists_saved_replies_and_fills_in_the_customer(desk: Desk) -> None:
    xdesk(desk, ADMIN, "saved add router Hi {name}, please restart your router.")
    desk.x.add_user("kunde_klaus", name="Klaus Kunde")
    _, parent = claimed_case(desk)

    view = open_modal(desk, ANNA, parent)
    assert options(view) == ["outage", "router"]
    assert "Klaus Kunde" in block_text(view["blocks"])

    view = choose(desk, ANNA, view, "outage")
    element = text_input(view)["element"]
    assert element["initial_value"] == "Hi Klaus Kunde, we know about the outage and are on it. Sorry, @kunde_klaus!"
    assert element["multiline"] is True

    # Choosing another one replaces the text (a new block, so Slack shows its initial value).
    view = choose(desk, ANNA, view, "router")
    assert view["state"]["values"][text_input(view)["block_id"]]["saved_reply_text"]["value"] == (
        "Hi Klaus Kunde, please restart your router.")


def test_the_claimer_sends_it_once_signed_even_if_slack_delivers_the_submission_twice(desk: Desk) -> None:
    desk.x.add_user("kunde_klaus", name="Klaus Kunde")
    tweet_id, parent = claimed_case(desk)
    note = desk.reply(ANNA, parent, "note: outage ticket 4711")

    view = choose(desk, ANNA, open_modal(desk, ANNA, parent, ts=note), "outage")
    block = text_input(view)["block_id"]
    desk.slack.type_in_view(ANNA, view["id"], block, "saved_reply_text",
                            "Hi Klaus, the outage in Bonn is fixed since 10:00 <3 & thanks!")
    answers = desk.slack.submit_view(ANNA, view["id"], retries=1)
    assert [status for status, _ in answers] == [200, 200]
    assert desk.slack.open_view(ANNA) is None  # the modal closed

    [posted] = desk.x.wait_for_posts(1)
    assert posted["text"] == "Hi Klaus, the outage in Bonn is fixed since 10:00 <3 & thanks! ^AN"
    assert posted["in_reply_to_tweet_id"] == tweet_id

    def shown() -> list[dict]:
        return [m for m in desk.thread(parent) if m.get("bot_id") and "sent the saved reply" in said(m)]

    desk.wait_for(lambda: len(shown()) == 1)
    [message] = shown()
    assert f"<@{ANNA}> sent the saved reply `outage`:" in said(message)
    assert "fixed since 10:00 &lt;3 &amp; thanks!" in said(message)
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], message["ts"]))
    link = f"https://x.com/Telekom_hilft/status/{posted['id']}"
    desk.wait_for(lambda: any(link in said(m) for m in desk.thread(parent)))
    drained(desk)
    assert len(desk.x.posted) == 1 and len(shown()) == 1


def refused_once_shown(desk: Desk, parent: dict) -> str:
    """The thread shows what ANNA sent, once, with :x:, and she is told privately why it was not tweeted.

    Returns the ts of that thread message."""

    def shown() -> list[dict]:
        return [m for m in desk.thread(parent) if "sent the saved reply" in said(m)]

    desk.wait_for(lambda: len(shown()) == 1)
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], shown()[0]["ts"]))
    desk.wait_for(lambda: any(e["user"] == ANNA and "Not tweeted" in e["text"] for e in desk.slack.ephemerals))
    return shown()[0]["ts"]


def test_a_sent_saved_reply_follows_the_reply_rules(make_desk) -> None:
    desk = make_desk(SAVED + '\n[replies]\nlong = "refuse"\n')
    _, parent = claimed_case(desk)
    view = choose(desk, ANNA, open_modal(desk, ANNA, parent), "outage")
    desk.slack.type_in_view(ANNA, view["id"], text_input(view)["block_id"], "saved_reply_text", "Sorry! " * 60)
    desk.slack.submit_view(ANNA, view["id"])
    refused_once_shown(desk, parent)
    drained(desk)
    assert desk.x.posted == []


def test_a_saved_reply_with_personal_data_is_not_tweeted_and_the_claimer_is_told(make_desk) -> None:
    desk = make_desk('\n[saved_replies]\ncallback = "Hi {name}, call us back on 0171 2345678, please."\n')
    _, parent = claimed_case(desk)
    view = choose(desk, ANNA, open_modal(desk, ANNA, parent), "callback")
    desk.slack.submit_view(ANNA, view["id"])
    ts = refused_once_shown(desk, parent)
    [told] = [e["text"] for e in desk.slack.ephemerals if e["user"] == ANNA and "Not tweeted" in e["text"]]
    assert "a phone number" in told and "2345678" not in told
    drained(desk)
    assert desk.x.posted == []
    assert "outbox_tray" not in desk.slack.reactions(parent["channel"], ts)


def test_choosing_a_saved_reply_without_submitting_sends_nothing(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    view = choose(desk, ANNA, open_modal(desk, ANNA, parent), "outage")
    assert "we know about the outage" in text_input(view)["element"]["initial_value"]
    assert desk.slack.open_view(ANNA) is not None  # still open, waiting for the agent
    drained(desk)
    assert desk.x.posted == []
    assert not [m for m in desk.thread(parent) if m.get("bot_id") and "saved reply" in said(m)]


def test_someone_not_the_claimer_sends_nothing_and_is_told_why(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft is there an outage in Köln?"))

    view = choose(desk, BEN, open_modal(desk, BEN, parent), "outage")
    desk.slack.submit_view(BEN, view["id"])
    [error] = desk.slack.view_errors(view["id"]).values()
    assert "isn't claimed yet" in error

    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.slack.submit_view(BEN, view["id"])
    [error] = desk.slack.view_errors(view["id"]).values()
    assert "Someone else has claimed this case" in error and "nothing was sent" in error
    assert desk.slack.open_view(BEN) is not None  # still open, showing why

    drained(desk)
    assert desk.x.posted == []
    assert not [m for m in desk.thread(parent) if "saved reply" in said(m)]


def test_a_saved_reply_whose_case_was_handed_over_before_it_went_out_is_not_sent_and_the_author_is_told(
        desk: Desk) -> None:
    from tests.test_handover import hand_over

    _, parent = claimed_case(desk)
    drained(desk)
    view = choose(desk, ANNA, open_modal(desk, ANNA, parent), "outage")
    # The channel's lane is still busy with earlier posts when Anna sends...
    desk.rt.store.outbox.pace(f"post:{parent['channel']}", time.time() + 3)
    desk.slack.submit_view(ANNA, view["id"])
    assert hand_over(desk, ANNA, parent, BEN) == {}  # ...and the case goes to Ben meanwhile
    desk.wait_for(lambda: any(e["user"] == ANNA and "wasn't sent" in e["text"] for e in desk.slack.ephemerals),
                  timeout=20)
    drained(desk)
    assert desk.x.posted == []
    assert not any("sent the saved reply" in said(m) for m in desk.thread(parent))


def test_the_shortcut_outside_a_case_thread_says_so(desk: Desk) -> None:
    ts = desk.slack.post_user_message(ANNA, GENERAL, "Who is on call tonight?")
    status, _ = desk.slack.message_shortcut(ANNA, GENERAL, ts, "saved_reply")
    assert status == 200
    view = desk.slack.open_view(ANNA)
    assert view is not None and "isn't in a case's thread" in block_text(view["blocks"])
    assert view.get("submit") is None


def test_without_saved_replies_the_modal_says_how_to_add_them(make_desk) -> None:
    desk = make_desk()
    _, parent = claimed_case(desk)
    view = open_modal(desk, ANNA, parent)
    assert "/xdesk saved add" in block_text(view["blocks"]) and view.get("submit") is None


@pytest.mark.parametrize(("template", "expected"), [
    ("Hi {name}!", "Hi Klaus Kunde!"),
    ("@{handle} {name} {handle}", "@kunde_klaus Klaus Kunde kunde_klaus"),
    ("{other} and {} stay, {NAME} too", "{other} and {} stay, {NAME} too"),
    ("no placeholders", "no placeholders"),
])
def test_fill(template: str, expected: str) -> None:
    assert fill(template, Author(id=UserId("1"), username="kunde_klaus", name="Klaus Kunde")) == expected


@pytest.mark.parametrize(("name", "ok"), [
    ("outage", True), ("dm-please_2", True), ("a" * 40, True), ("a" * 41, False), ("Outage", False),
    ("", False), ("two words", False), ("ümlaut", False),
])
def test_names(name: str, ok: bool) -> None:
    assert bool(NAME.match(name)) is ok
