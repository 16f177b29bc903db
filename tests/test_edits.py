"""Edits and deletes: a reply edited or deleted in Slack (a customer deleting a tweet: test_customer_deleted)."""

from __future__ import annotations

import pytest

from bridge.desk.edits import NOTE, RESEND_ACTION, Sent, edit_answer
from tests.harness import ANNA, Desk, claimed_case, drained, notices, said

LONG = ("Thanks for your patience! We checked the line from our side and see no fault at the exchange, "
        "so the next step is a test of your router. Please restart it, wait five minutes and then look "
        "at the DSL light: if it blinks, the sync fails. Send us a DM with your customer number and the "
        "colour of the light, and we will book a technician for you this week if it is still down.")


def tweeted(desk: Desk, parent: dict, text: str) -> tuple[str, list[dict]]:
    """ANNA replies ``text``; returns its Slack ts and its tweets once the thread shows them."""
    before = len(desk.x.posted)
    ts = desk.reply(ANNA, parent, text)
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    drained(desk)
    return ts, desk.x.posted[before:]


def offers(desk: Desk, user: str = ANNA) -> list[dict]:
    """Ephemerals shown to ``user`` that carry the resend button."""
    return [e for e in desk.slack.ephemerals if e["user"] == user and RESEND_ACTION in str(e.get("blocks"))]


def deletes(desk: Desk) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in desk.x.requests if r.method == "DELETE"]


def link(tweet: dict) -> str:
    return f"https://x.com/Telekom_hilft/status/{tweet['id']}"


# -- an agent edits a tweeted reply ----------------------------------------------------------------


def test_editing_a_tweeted_reply_offers_to_delete_and_resend_and_a_double_click_does_it_once(desk: Desk) -> None:
    customer, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "We restarted the port, please try again.")

    desk.slack.edit_message(ANNA, parent["channel"], ts, "We restarted your port: please restart the router too.")
    desk.wait_for(lambda: len(offers(desk)) == 1)
    [offer] = offers(desk)
    assert "can't be edited" in said(offer) and link(old) in said(offer)
    assert offer["thread_ts"] == parent["ts"]

    assert desk.slack.click(ANNA, parent["channel"], offer["message_ts"], RESEND_ACTION)[0] == 200
    assert desk.slack.click(ANNA, parent["channel"], offer["message_ts"], RESEND_ACTION)[0] == 200
    desk.x.wait_for(lambda: not desk.x.is_live(old["id"]) and len(desk.x.posted) == 2)
    drained(desk)
    new = desk.x.posted[1]
    assert new["text"] == "We restarted your port: please restart the router too. ^AN"
    assert new["in_reply_to_tweet_id"] == customer
    assert deletes(desk) == [old["id"]] and len(desk.x.posted) == 2
    [told] = notices(desk, parent, "edited their reply")
    assert f"<@{ANNA}>" in told and link(old) in told and "deleted on X" in told
    assert notices(desk, parent, link(new))


def test_an_offer_clicked_after_the_message_was_deleted_sends_nothing(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "We restarted the port, please try again.")
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Please restart the router too.")
    desk.wait_for(lambda: len(offers(desk)) == 1)
    desk.slack.delete_message(parent["channel"], ts)
    desk.wait_for(lambda: bool(notices(desk, parent, "deleted their reply in Slack")))
    desk.slack.click(ANNA, parent["channel"], offers(desk)[0]["message_ts"], RESEND_ACTION)
    desk.wait_for(lambda: any("was deleted" in e["text"] for e in desk.slack.ephemerals if e["user"] == ANNA))
    drained(desk)
    assert deletes(desk) == [old["id"]] and len(desk.x.posted) == 1


def test_an_edit_delivered_twice_is_offered_once(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "We restarted the port, please try again.")
    delivery = desk.slack.edit_message(ANNA, parent["channel"], ts, "Please restart the router too.", retries=1)
    desk.wait_for(lambda: len(offers(desk)) >= 1)
    # The same event under another id too (its delivery mark gone): the edit itself is remembered.
    desk.slack.deliver(delivery.event, event_id="Ev0SAMEEDIT1")
    drained(desk)
    assert len(offers(desk)) == 1
    assert desk.x.is_live(old["id"]) and len(desk.x.posted) == 1  # nothing happens until the agent clicks


def test_when_x_refuses_to_delete_the_old_tweet_the_new_text_is_not_tweeted(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "We restarted the port, please try again.")
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Please restart the router too.")
    desk.wait_for(lambda: len(offers(desk)) == 1)
    desk.x.fail_next("DELETE", r"^/2/tweets/", status=403)

    desk.slack.click(ANNA, parent["channel"], offers(desk)[0]["message_ts"], RESEND_ACTION)
    desk.wait_for(lambda: bool(notices(desk, parent, "could not be deleted on X")))
    drained(desk)
    [told] = notices(desk, parent, "could not be deleted on X")
    assert "The new text was not tweeted either" in told and link(old) in told
    assert desk.x.is_live(old["id"]) and len(desk.x.posted) == 1


def test_an_edit_adding_personal_data_is_not_offered_for_tweeting(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "Please send us your contract number.")
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Please call me at +49 171 2345678.")
    desk.wait_for(lambda: any("personal data" in e["text"] for e in desk.slack.ephemerals))
    drained(desk)
    assert offers(desk) == [] and desk.x.is_live(old["id"]) and len(desk.x.posted) == 1


def test_a_click_on_an_older_offer_checks_the_newest_text(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "Please send us your contract number.")
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Please send us a DM.")
    desk.wait_for(lambda: len(offers(desk)) == 1)
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Please call me at +49 171 2345678.")
    desk.wait_for(lambda: any("personal data" in e["text"] for e in desk.slack.ephemerals))

    desk.slack.click(ANNA, parent["channel"], offers(desk)[0]["message_ts"], RESEND_ACTION)
    desk.wait_for(lambda: any(e["text"].startswith("Nothing changed") and "personal data" in e["text"]
                              for e in desk.slack.ephemerals))
    drained(desk)
    assert desk.x.is_live(old["id"]) and len(desk.x.posted) == 1


def test_a_replaced_reply_keeps_its_photo(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
    ts = desk.slack.share_files(ANNA, parent["channel"], "This light?", [("router.png", png)], thread_ts=parent["ts"])
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    drained(desk)
    [old] = desk.x.posted
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Is this the light that blinks?")
    desk.wait_for(lambda: len(offers(desk)) == 1)

    desk.slack.click(ANNA, parent["channel"], offers(desk)[0]["message_ts"], RESEND_ACTION)
    desk.x.wait_for(lambda: len(desk.x.posted) == 2)
    drained(desk)
    new = desk.x.posted[1]
    assert new["text"] == "Is this the light that blinks? ^AN" and len(new["media_ids"]) == 1
    assert not desk.x.is_live(old["id"])


def test_the_edited_text_is_sent_only_while_the_author_holds_the_case(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [old] = tweeted(desk, parent, "We restarted the port, please try again.")
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Second thoughts")
    desk.wait_for(lambda: len(offers(desk)) == 1)
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    desk.wait_for(lambda: not desk.claimed_by(parent, ANNA))

    desk.slack.click(ANNA, parent["channel"], offers(desk)[0]["message_ts"], RESEND_ACTION)
    desk.wait_for(lambda: any("no longer hold" in e["text"] for e in desk.slack.ephemerals))
    drained(desk)
    assert desk.x.is_live(old["id"]) and len(desk.x.posted) == 1


def test_editing_a_reply_still_queued_says_it_goes_out_as_first_written(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.slow_next("POST", r"^/2/tweets$", 2.0)
    ts = desk.reply(ANNA, parent, "First words")
    desk.x.wait_for(lambda: any(r.method == "GET" for r in desk.x.requests))  # the worker is up
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Better words")
    desk.wait_for(lambda: any("as you first wrote it" in e["text"] for e in desk.slack.ephemerals))
    [posted] = desk.x.wait_for_posts(1)
    drained(desk)
    assert posted["text"] == "First words ^AN" and offers(desk) == []


def test_editing_a_note_never_tweets_and_says_so_only_when_it_stops_being_a_note(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts = desk.reply(ANNA, parent, "note: customer called twice")
    desk.slack.edit_message(ANNA, parent["channel"], ts, "note: customer called three times")
    drained(desk)
    assert desk.slack.ephemerals == []
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Thanks for calling us again!")
    desk.wait_for(lambda: any("write it again as a new message" in e["text"] for e in desk.slack.ephemerals))
    drained(desk)
    assert len(desk.slack.ephemerals) == 1 and desk.x.posted == []


# -- an agent deletes a tweeted reply --------------------------------------------------------------


def test_deleting_a_tweeted_reply_in_slack_deletes_its_tweet_once(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, [tweet] = tweeted(desk, parent, "Please check the cable.")

    desk.slack.delete_message(parent["channel"], ts, retries=1)
    desk.x.wait_for(lambda: not desk.x.is_live(tweet["id"]))
    desk.wait_for(lambda: bool(notices(desk, parent, "deleted their reply in Slack")))
    drained(desk)
    [told] = notices(desk, parent, "deleted their reply in Slack")
    assert f"<@{ANNA}>" in told and "its tweet was deleted on X" in told and link(tweet) in told
    assert deletes(desk) == [tweet["id"]]


def test_deleting_a_split_reply_deletes_every_part(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts, parts = tweeted(desk, parent, LONG)
    assert len(parts) >= 2

    desk.slack.delete_message(parent["channel"], ts)
    desk.x.wait_for(lambda: not any(desk.x.is_live(p["id"]) for p in parts))
    desk.wait_for(lambda: bool(notices(desk, parent, "deleted their reply in Slack")))
    drained(desk)
    assert sorted(deletes(desk)) == sorted(p["id"] for p in parts)
    [told] = notices(desk, parent, "deleted their reply in Slack")
    assert all(link(p) in told for p in parts)


def test_with_delete_on_slack_delete_off_the_tweet_stays_and_the_thread_says_so(make_desk) -> None:
    desk = make_desk("[replies]\ndelete_on_slack_delete = false\n")
    _, parent = claimed_case(desk)
    ts, [tweet] = tweeted(desk, parent, "Please check the cable.")

    desk.slack.delete_message(parent["channel"], ts)
    desk.wait_for(lambda: bool(notices(desk, parent, "stays on X")))
    drained(desk)
    [told] = notices(desk, parent, "stays on X")
    assert link(tweet) in told
    assert desk.x.is_live(tweet["id"]) and deletes(desk) == []


def test_in_a_dry_run_nothing_is_deleted_on_x_and_the_thread_says_what_would_have_been(
        make_desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_X__DRY_RUN", "true")
    desk = make_desk()
    _, parent = claimed_case(desk)
    ts = desk.reply(ANNA, parent, "Please check the cable.")
    desk.wait_for(lambda: bool(notices(desk, parent, "Would have tweeted")))
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Please check the cable and the plug.")
    desk.wait_for(lambda: len(offers(desk)) == 1)
    desk.slack.click(ANNA, parent["channel"], offers(desk)[0]["message_ts"], RESEND_ACTION)
    desk.wait_for(lambda: bool(notices(desk, parent, "the cable and the plug")))
    [edited] = notices(desk, parent, "edited their reply")
    assert "Dry run: its tweet would have been deleted on X" in edited

    desk.slack.delete_message(parent["channel"], ts)
    desk.wait_for(lambda: bool(notices(desk, parent, "deleted their reply in Slack")))
    drained(desk)
    [told] = notices(desk, parent, "deleted their reply in Slack")
    assert "Dry run: its tweet would have been deleted on X" in told
    assert deletes(desk) == [] and desk.x.posted == []


def test_a_reply_deleted_while_still_queued_is_never_tweeted(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.slow_next("POST", r"^/2/tweets$", 2.0)
    first = desk.reply(ANNA, parent, "One moment please.")
    second = desk.reply(ANNA, parent, "Oops, wrong case")
    desk.x.wait_for(lambda: any(r.method == "GET" for r in desk.x.requests))
    desk.slack.delete_message(parent["channel"], second)
    desk.wait_for(lambda: bool(notices(desk, parent, "before it was tweeted")))
    drained(desk)
    assert [p["text"] for p in desk.x.posted] == ["One moment please. ^AN"]
    assert "outbox_tray" in desk.slack.reactions(parent["channel"], first)
    assert deletes(desk) == []


def test_a_reply_deleted_while_it_waits_for_xs_rate_limit_is_never_tweeted(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.rate_limit_next("POST", r"^/2/tweets$")  # X says no: nothing was tweeted
    ts = desk.reply(ANNA, parent, "Oops, wrong case")
    desk.x.wait_for(lambda: any(r.path == "/2/tweets" and r.status == 429 for r in desk.x.requests))
    desk.slack.delete_message(parent["channel"], ts)
    desk.hurry("x")  # X's reset has passed
    desk.wait_for(lambda: bool(notices(desk, parent, "before it was tweeted")))
    drained(desk)
    assert desk.x.posted == []
    assert deletes(desk) == []


# -- the rule for edits, table-driven --------------------------------------------------------------


@pytest.mark.parametrize(("state", "holds", "problem", "says", "offer"), [
    (Sent.TWEETED, True, None, "Delete that tweet on X and tweet the new text instead?", True),
    (Sent.TWEETED, False, None, "no longer hold this case", False),
    (Sent.TWEETED, True, NOTE, "To take it off X, delete your message.", False),
    (Sent.TWEETED, True, "the reply is too long", "couldn't be tweeted either: the reply is too long", False),
    (Sent.QUEUED, True, None, "goes out as you first wrote it", False),
    (Sent.FAILED, True, None, "wasn't tweeted, so neither is the edit", False),
    (Sent.NONE, True, None, "write it again as a new message", False),
    (Sent.NONE, True, NOTE, None, False),
    (Sent.NONE, False, None, None, False),
])
def test_what_an_edit_tells_its_author(state: Sent, holds: bool, problem: str | None, says: str | None,
                                       offer: bool) -> None:
    text, offered = edit_answer(state, holds, problem, "https://x.com/Telekom_hilft/status/1")
    assert offered is offer
    if says is None:
        assert text is None
    else:
        assert text is not None and says in text
        if state is Sent.TWEETED:
            assert "can't be edited" in text and "https://x.com/Telekom_hilft/status/1" in text
