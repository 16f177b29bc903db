"""The personal-data guard through the real bridge: what the agent is told, and what reaches X."""

from __future__ import annotations

import logging

import pytest

from tests.harness import ANNA, BASE_SETTINGS, BEN, Desk, claimed_case


def _told(desk: Desk, parent: dict, needle: str) -> list[str]:
    return [e["text"] for e in desk.slack.ephemerals
            if e["user"] == ANNA and e["thread_ts"] == parent["ts"] and needle in e["text"]]


def _tweeted_after(desk: Desk, parent: dict, marker: str) -> list[str]:
    """Send a clean reply and wait for it: replies are tweeted in order, so whatever came before is out."""
    desk.reply(ANNA, parent, marker)
    desk.x.wait_for(lambda: any(p["text"].startswith(marker) for p in desk.x.posted))
    return [p["text"] for p in desk.x.posted]


PRIVACY = '\n[privacy]\npatterns = {"customer number" = "\\\\bKD-\\\\d{6}\\\\b"}\n'


@pytest.mark.parametrize(("reply", "kind"), [
    ("Thanks! We'll call you back on 0171 2345678 tonight.", "a phone number (01•• •••••78)"),
    ("Got it, we wrote to <mailto:klaus.kunde@t-online.de|klaus.kunde@t-online.de>.", "an e-mail address"),
    ("The refund goes to DE89 3704 0044 0532 0130 00 this week.", "an IBAN (DE•• •••• •••• •••• •••• 00)"),
    ("Your account KD-123456 is fine again.", "a customer number (KD-••••56)"),
])
def test_a_reply_with_personal_data_is_not_tweeted_and_the_agent_is_told(make_desk, reply: str, kind: str) -> None:
    desk = make_desk(extra=PRIVACY)
    _, parent = claimed_case(desk)
    ts = desk.reply(ANNA, parent, reply)
    desk.wait_for(lambda: bool(_told(desk, parent, "Not tweeted")))
    [told] = _told(desk, parent, "Not tweeted")
    assert kind in told
    assert "direct message" in told and ":envelope:" not in told  # how to get it privately: DMs are off
    assert "`!public`" in told  # and how to tweet it anyway
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    assert _tweeted_after(desk, parent, "Anything else?") == ["Anything else? ^AN"]
    assert "outbox_tray" not in desk.slack.reactions(parent["channel"], ts)


def test_with_dms_on_the_agent_is_pointed_at_the_ask_for_a_dm_reaction(make_desk) -> None:
    desk = make_desk(extra="\n[dm]\nenabled = true\n")
    _, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "Thanks! We'll call you back on 0171 2345678 tonight.")
    desk.wait_for(lambda: bool(_told(desk, parent, "Not tweeted")))
    [told] = _told(desk, parent, "Not tweeted")
    assert ":envelope:" in told and "DM" in told


def test_a_forced_reply_is_tweeted_without_the_prefix_and_logged(desk: Desk, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    tweet_id, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "!public Our shop in Bonn: 0228 1234567, ask for Jana.")
    [posted] = desk.x.wait_for_posts(1)
    assert posted["text"] == "Our shop in Bonn: 0228 1234567, ask for Jana. ^AN"
    assert posted["in_reply_to_tweet_id"] == tweet_id
    assert not _told(desk, parent, "Not tweeted")
    [audit] = [r.getMessage() for r in caplog.records if "privacy.forced" in r.getMessage()]
    assert f"user={ANNA}" in audit and "phone number" in audit and "case=" in audit
    assert "1234567" not in audit  # the audit says what kind, never the data


def test_with_an_empty_force_prefix_nobody_can_force(make_desk) -> None:
    desk = make_desk(extra='\n[privacy]\nforce_prefix = ""\n')
    _, parent = claimed_case(desk)
    ts = desk.reply(ANNA, parent, "!public call 0171 2345678")
    desk.wait_for(lambda: bool(_told(desk, parent, "Not tweeted")))
    [told] = _told(desk, parent, "Not tweeted")
    assert "phone number" in told and "!public" not in told and "anyway" not in told
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    assert _tweeted_after(desk, parent, "Sorry, we'll DM you.") == ["Sorry, we'll DM you. ^AN"]


def test_with_the_guard_off_personal_data_is_tweeted(make_desk) -> None:
    desk = make_desk(extra="\n[privacy]\nguard = false\n")
    _, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "Call 0171 2345678")
    [posted] = desk.x.wait_for_posts(1)
    assert posted["text"] == "Call 0171 2345678 ^AN"
    assert not _told(desk, parent, "Not tweeted")


def test_notes_and_other_agents_messages_are_never_checked(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    note = desk.reply(ANNA, parent, "note: customer's number is 0171 2345678, klaus@t-online.de")
    other = desk.reply(BEN, parent, "His IBAN is DE89 3704 0044 0532 0130 00")
    assert _tweeted_after(desk, parent, "We're on it!") == ["We're on it! ^AN"]
    desk.reply(ANNA, parent, "Call 0171 2345678")  # the guard is on: this one is refused
    desk.wait_for(lambda: bool(_told(desk, parent, "Not tweeted")))
    assert len(_told(desk, parent, "Not tweeted")) == 1
    assert not [e for e in desk.slack.ephemerals if e["user"] == BEN]
    for ts in (note, other):
        assert "x" not in desk.slack.reactions(parent["channel"], ts)


def test_the_guard_runs_before_the_length_check(make_desk) -> None:
    refuse = BASE_SETTINGS.replace("[agents.", '[replies]\nlong = "refuse"\n\n[agents.', 1)
    desk = make_desk(text=refuse)
    _, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "Call 0171 2345678. " + "x" * 300)
    desk.wait_for(lambda: bool(_told(desk, parent, "Not tweeted")))
    [told] = _told(desk, parent, "Not tweeted")
    assert "phone number" in told
