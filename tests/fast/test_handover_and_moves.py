"""Hand-over, take-over and moves of a case, on the in-memory desk."""

from __future__ import annotations

from tests.fast.kit import FastDesk
from tests.harness import ADMIN, ANNA, BASE_SETTINGS, BEN, CARL, DSL, MOBILE, block_text

ONLY_ANNA_AND_BEN = BASE_SETTINGS.replace("agents = []", f'agents = ["{ANNA}", "{BEN}"]')


def claimed(fast: FastDesk, text: str = "@Telekom_hilft my router is dead"):
    parent = fast.parent(fast.tweet(text))
    fast.claim(ANNA, parent)
    return parent


def test_a_hand_over_moves_the_claim_and_only_the_new_claimers_replies_are_tweeted(make_fast) -> None:
    fast = make_fast(text=ONLY_ANNA_AND_BEN)
    parent = claimed(fast)
    assert fast.hand_over(ANNA, parent, BEN) is None
    assert fast.claimer(parent) == BEN
    assert fast.notices(parent, f"<@{ANNA}> handed this case to <@{BEN}>")
    fast.reply(ANNA, parent, "I'd still like to answer")
    fast.reply(BEN, parent, "Ben here, let's sort this out.")
    assert fast.x.said() == ["Ben here, let's sort this out. ^BK"]


def test_a_hand_over_to_someone_who_is_not_an_agent_is_refused_in_the_modal(make_fast) -> None:
    fast = make_fast(text=ONLY_ANNA_AND_BEN)
    parent = claimed(fast)
    errors = fast.hand_over(ANNA, parent, CARL)
    assert errors is not None and "isn't an agent" in errors["target"]
    assert fast.claimer(parent) == ANNA


def test_someone_who_neither_holds_the_case_nor_is_admin_is_refused_and_no_modal_opens(fast: FastDesk) -> None:
    parent = claimed(fast)
    case_id = str(fast.store.case_by_parent(parent.channel, parent.ts).id)  # type: ignore[union-attr]
    fast.actions.open_handover(BEN, parent.channel, case_id, "trigger")
    fast.actions.open_move(BEN, parent.channel, case_id, "trigger")
    fast.actions.take_over(BEN, parent.channel, case_id, "1.0")
    fast.drain()
    told = " | ".join(fast.slack.told(BEN))
    assert "can hand this case over" in told and "can move this case" in told and "Only an admin can take over" in told
    assert fast.slack.views == {} and fast.claimer(parent) == ANNA


def test_an_admin_takes_over_once_and_the_old_claimers_reaction_no_longer_releases(fast: FastDesk) -> None:
    parent = claimed(fast)
    case_id = str(fast.store.case_by_parent(parent.channel, parent.ts).id)  # type: ignore[union-attr]
    for _ in range(2):  # Slack delivers the click twice
        fast.actions.take_over(ADMIN, parent.channel, case_id, "1700000099.000001")
        fast.drain()
    assert fast.claimer(parent) == ADMIN
    assert len(fast.notices(parent, f"<@{ADMIN}> took over this case from <@{ANNA}>")) == 1
    fast.desk.reaction_removed(ANNA, parent.channel, parent.ts, fast.settings.emoji.claim)
    fast.drain()
    assert fast.claimer(parent) == ADMIN


def test_a_hand_over_submitted_twice_hands_over_once(fast: FastDesk) -> None:
    parent = claimed(fast)
    fast.hand_over(ANNA, parent, BEN)
    view_id, view = fast.slack.last_view()
    state = {"target": {"user": {"type": "users_select", "selected_user": BEN}}}
    assert fast.actions.submit_handover(ANNA, {**view, "id": view_id, "state": {"values": state}}) is None
    fast.drain()
    assert len(fast.notices(parent, "handed this case")) == 1 and fast.claimer(parent) == BEN


def test_a_moved_case_continues_in_the_new_channel_and_the_old_thread_points_there(fast: FastDesk) -> None:
    tweet = fast.x.customer_tweets("@Telekom_hilft my router is dead")
    fast.poller.poll_now()
    fast.drain()
    parent = fast.parent(tweet)
    assert parent.channel == DSL
    fast.claim(ANNA, parent)
    fast.reply(ANNA, parent, "Have you restarted it?")

    assert fast.move(ANNA, parent, "Mobile") is None
    [new] = fast.slack.parents(MOBILE)
    assert "my router is dead" in block_text(new.blocks or []) and fast.claimer(new) == ANNA
    history = fast.slack.thread(MOBILE, new.ts)
    assert any("Have you restarted it?" in text for text in history)
    assert any("Moved here from" in text for text in history)
    assert "Moved to" in block_text(fast.slack.message(DSL, parent.ts).blocks or [])

    fast.reply(ANNA, parent, "Writing in the old thread")
    assert any("This case moved to" in text for text in fast.slack.told(ANNA))
    fast.reply(ANNA, new, "Let's check the mast.")
    assert fast.x.said() == ["Have you restarted it? ^AN", "Let's check the mast. ^AN"]


def test_a_move_while_a_reply_is_on_its_way_to_x_is_refused_until_it_has_gone(fast: FastDesk) -> None:
    from bridge.x.errors import XUnavailable

    parent = claimed(fast)
    fast.x.fail(XUnavailable("X could not be reached for POST /2/tweets; the bridge will retry"))
    fast.reply(ANNA, parent, "On its way")
    errors = fast.move(ANNA, parent, "Mobile")
    assert errors == {"target": "Something for this case is still on its way to Slack or X. Try again in a moment."}
    fast.hurry()
    fast.drain()
    assert fast.x.said() == ["On its way ^AN"]
    assert fast.move(ANNA, parent, "Mobile") is None and len(fast.slack.parents(MOBILE)) == 1
