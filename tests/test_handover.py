"""History and hand-over: earlier cases on the parent, hand over, take over, move, through the emulators."""

from __future__ import annotations

import json

import pytest

from bridge.slack.blocks import ACTION_HANDOVER, ACTION_MOVE, ACTION_TAKEOVER, history_block
from tests.harness import (
    ADMIN,
    ANNA,
    BASE_SETTINGS,
    BEN,
    CARL,
    DSL,
    GENERAL,
    MOBILE,
    Desk,
    claimed_case,
    drained,
    markup_of,
    notices,
    said,
)

ONLY_GROUP_AGENTS = BASE_SETTINGS.replace("agents = []", 'agents = ["S0AGENTS01"]')  # Anna and Ben


def click(desk: Desk, user: str, parent: dict, action: str) -> None:
    status, _ = desk.slack.click(user, parent["channel"], parent["ts"], action)
    assert status == 200


def modal(desk: Desk, user: str) -> dict:
    desk.wait_for(lambda: desk.slack.open_view(user) is not None)
    return desk.slack.open_view(user) or {}


def submit(desk: Desk, user: str, view: dict) -> dict:
    """``user`` presses the modal's submit button; the app's answer (``{}``: the modal closes)."""
    [(status, body)] = desk.slack.submit_view(user, view["id"])
    assert status == 200
    return json.loads(body) if body.strip() else {}


def hand_over(desk: Desk, user: str, parent: dict, target: str) -> dict:
    """``user`` clicks "Hand over…", picks ``target`` and submits."""
    click(desk, user, parent, ACTION_HANDOVER)
    view = modal(desk, user)
    desk.slack.choose_user(user, view["id"], "target", target)
    return submit(desk, user, view)


def move(desk: Desk, user: str, parent: dict, topic: str) -> dict:
    click(desk, user, parent, ACTION_MOVE)
    view = modal(desk, user)
    [option] = [o for o in view["blocks"][0]["element"]["options"] if o["text"]["text"] == topic]
    desk.slack.choose_option(user, view["id"], "target", option["value"])
    return submit(desk, user, view)


def resend_last_submission(desk: Desk, kind: str = "view_submission") -> None:
    """Slack delivers the same interaction again (a retry after a lost answer, a double click)."""
    [last] = [d.body for d in desk.slack.deliveries if d.body.get("type") == kind][-1:]
    assert desk.slack.interact(last)[0] == 200


def told(desk: Desk, user: str, needle: str) -> bool:
    return any(e["user"] == user and needle in e["text"] for e in desk.slack.ephemerals)


def tweeted_by(desk: Desk, user: str, parent: dict, text: str) -> None:
    ts = desk.reply(user, parent, text)
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))


# -- history -------------------------------------------------------------------------------------


def test_the_parent_of_a_third_case_links_the_two_earlier_ones(desk: Desk) -> None:
    first = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead", author="stammkunde"))
    second = desk.parent_of(desk.tweet("@Telekom_hilft where is my invoice?", author="stammkunde"))
    third = desk.parent_of(desk.tweet("@Telekom_hilft DSL down again", author="stammkunde"))
    other = desk.parent_of(desk.tweet("@Telekom_hilft hello", author="someone_else"))

    shown = desk.parent_text(third)
    assert "2 earlier cases from this customer" in shown
    for earlier in (first, second):
        link = f"https://xdesk.slack.com/archives/{earlier['channel']}/p{earlier['ts'].replace('.', '')}"
        assert f"<{link}|case " in shown
    assert shown.index(second["ts"].replace(".", "")) < shown.index(first["ts"].replace(".", ""))  # newest first
    assert "1 earlier case from this customer" in desk.parent_text(second)
    assert "earlier case" not in desk.parent_text(first)
    assert "earlier case" not in desk.parent_text(other)


@pytest.mark.parametrize(("earlier", "total", "expected"), [
    ([("case 2 (open)", None)], 1, "1 earlier case from this customer: case 2 (open)"),
    ([("case 7 (resolved)", "https://x.slack.com/archives/C1/p1"), ("case 3 (open)", None)], 9,
     "9 earlier cases from this customer (the latest 2): <https://x.slack.com/archives/C1/p1|case 7 (resolved)>, "
     "case 3 (open)"),
    ([("case 1 (open)", "https://evil|x>")], 1, "case 1 (open)"),  # a link that would break out is dropped
    ([("case 1 (open)", "javascript:alert(1)")], 1, ": case 1 (open)"),
])
def test_the_history_line(earlier: list, total: int, expected: str) -> None:
    block = history_block(earlier, total, "xdesk:history:1:2")
    text = block["elements"][0]["text"]
    assert expected in text
    assert text.count("<") == sum(1 for _, url in earlier if url and url.startswith("https://x.slack"))


# -- hand-over and take-over -------------------------------------------------------------------


def test_the_claimer_hands_over_to_ben_whose_replies_are_tweeted_and_annas_no_longer(make_desk) -> None:
    desk = make_desk(text=ONLY_GROUP_AGENTS)
    _, parent = claimed_case(desk)
    assert hand_over(desk, ANNA, parent, BEN) == {}
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    assert not desk.claimed_by(parent, ANNA)
    desk.wait_for(lambda: bool(notices(desk, parent, f"<@{ANNA}> handed this case to <@{BEN}>")))

    desk.reply(ANNA, parent, "I'd still like to answer")
    tweeted_by(desk, BEN, parent, "Ben here, let's sort this out.")
    assert [p["text"] for p in desk.x.posted] == ["Ben here, let's sort this out. ^BK"]


def test_a_hand_over_to_someone_who_is_not_an_agent_is_refused(make_desk) -> None:
    desk = make_desk(text=ONLY_GROUP_AGENTS)
    _, parent = claimed_case(desk)
    answer = hand_over(desk, ANNA, parent, CARL)
    assert answer["response_action"] == "errors" and "isn't an agent" in answer["errors"]["target"]
    assert desk.slack.open_view(ANNA) is not None  # the modal stays open to choose again
    tweeted_by(desk, ANNA, parent, "Still mine.")
    assert desk.claimed_by(parent, ANNA) and not desk.claimed_by(parent, CARL)


def test_someone_who_neither_holds_the_case_nor_is_admin_is_refused(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    click(desk, BEN, parent, ACTION_HANDOVER)
    click(desk, BEN, parent, ACTION_MOVE)
    click(desk, BEN, parent, ACTION_TAKEOVER)
    desk.wait_for(lambda: told(desk, BEN, "Only an admin can take over"))
    assert told(desk, BEN, "can hand this case over") and told(desk, BEN, "can move this case")
    assert desk.slack.open_view(BEN) is None
    tweeted_by(desk, ANNA, parent, "Still mine.")
    assert desk.claimed_by(parent, ANNA)


def test_an_admin_takes_over_and_the_old_claimer_removing_the_reaction_changes_nothing(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    click(desk, ADMIN, parent, ACTION_TAKEOVER)
    desk.wait_for(lambda: desk.claimed_by(parent, ADMIN))
    desk.wait_for(lambda: bool(notices(desk, parent, f"<@{ADMIN}> took over this case from <@{ANNA}>")))
    resend_last_submission(desk, "block_actions")

    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")  # her :eyes: was still there
    tweeted_by(desk, ADMIN, parent, "The admin answers.")
    assert desk.claimed_by(parent, ADMIN)
    assert [p["text"] for p in desk.x.posted] == ["The admin answers."]
    desk.wait_for(lambda: bool(notices(desk, parent, "Tweeted as")))
    assert len(notices(desk, parent, "took over this case")) == 1


def test_the_old_claimer_removing_the_reaction_does_not_release_the_new_claim(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    hand_over(desk, ANNA, parent, BEN)
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    tweeted_by(desk, BEN, parent, "Ben still has it.")
    assert desk.claimed_by(parent, BEN)


def test_a_hand_over_delivered_twice_hands_over_once(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    hand_over(desk, ANNA, parent, BEN)
    resend_last_submission(desk)
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    tweeted_by(desk, BEN, parent, "Ben here.")
    # The channel's post lane is worked in order: the hand-over notices were posted before this one.
    desk.wait_for(lambda: bool(notices(desk, parent, "Tweeted as")))
    assert len(notices(desk, parent, "handed this case")) == 1


# -- move ------------------------------------------------------------------------------------------


def test_a_moved_case_continues_in_the_new_channel_with_its_history(desk: Desk) -> None:
    tweet_id, parent = claimed_case(desk)
    assert parent["channel"] == DSL
    tweeted_by(desk, ANNA, parent, "Have you restarted it?")
    follow = desk.tweet("@Telekom_hilft yes, and now my *5G* is gone <!channel>", in_reply_to=desk.x.posted[0]["id"])
    desk.wait_for(lambda: any("now my" in said(m) for m in desk.thread(parent)))
    desk.reply(BEN, parent, "note: <!here> mast in Köln")

    assert move(desk, ANNA, parent, "Mobile") == {}
    desk.wait_for(lambda: any(m.get("thread_ts") in (None, m["ts"]) for m in desk.slack.messages(MOBILE)))
    [new] = [{**m, "channel": MOBILE} for m in desk.slack.messages(MOBILE) if m.get("thread_ts") in (None, m["ts"])]
    assert new["metadata"]["event_payload"]["tweet_id"] == tweet_id
    assert "my router is dead" in desk.parent_text(new) and desk.claimed_by(new, ANNA)
    desk.wait_for(lambda: any("Moved here from" in said(m) for m in desk.thread(new)))
    history = [said(m) for m in desk.thread(new)]
    order = ["Have you restarted it?", "Tweeted as", "now my", "mast in Köln", "Moved here from"]
    positions = [next(i for i, text in enumerate(history) if needle in text) for needle in order]
    assert positions == sorted(positions) and len(history) == len(order)
    assert "*anna* wrote" in history[positions[0]] and "*ben* wrote" in history[positions[3]]
    markup = [markup_of(m) for m in desk.thread(new)]  # the customer's words are literal rich text there
    assert all("<!here>" not in text and "<!channel>" not in text for text in markup)  # inert

    desk.wait_for(lambda: "Moved to" in desk.parent_text(parent))
    link = f"https://xdesk.slack.com/archives/{MOBILE}/p{new['ts'].replace('.', '')}"
    assert link in desk.parent_text(parent) and not desk.claimed_by(parent, ANNA)
    desk.wait_for(lambda: bool(notices(desk, parent, f"moved this case to <#{MOBILE}>")))

    desk.reply(ANNA, parent, "Writing in the old thread")
    desk.wait_for(lambda: told(desk, ANNA, "This case moved to"))
    tweeted_by(desk, ANNA, new, "Let's check the mast.")
    assert [p["text"] for p in desk.x.posted] == ["Have you restarted it? ^AN", "Let's check the mast. ^AN"]
    assert desk.x.posted[1]["in_reply_to_tweet_id"] == follow

    # Reactions on the old parent change nothing: removing her :eyes: there does not release the case,
    # so she can still resolve it on the new parent (only the claimer or an admin can).
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    desk.slack.add_reaction(ANNA, MOBILE, new["ts"], "white_check_mark")
    desk.wait_for(lambda: f"Resolved by <@{ANNA}>" in desk.parent_text(new))


def test_a_move_delivered_twice_moves_once(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "note: first look")
    move(desk, ANNA, parent, "Mobile")
    resend_last_submission(desk)
    desk.wait_for(lambda: "Moved to" in desk.parent_text(parent))
    desk.wait_for(lambda: bool(notices(desk, parent, "moved this case")))
    tops = [m for m in desk.slack.messages(MOBILE) if m.get("thread_ts") in (None, m["ts"])]
    assert len(tops) == 1
    copied = desk.slack.thread(MOBILE, tops[0]["ts"])
    assert sum("first look" in said(m) for m in copied) == 1
    assert len(notices(desk, parent, "moved this case")) == 1


def test_a_history_post_whose_answer_is_lost_is_not_posted_twice(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    for n in range(3):
        desk.reply(ANNA, parent, f"note: step {n}")
    move(desk, ANNA, parent, "Mobile")
    desk.wait_for(lambda: any("step 0" in said(m) for m in desk.slack.messages(MOBILE)))
    # Slack posts the next message but its answer is lost (a 500, a dead connection).
    desk.slack.fail_next("chat.postMessage", status=500, applied=True)
    desk.hurry(f"post:{MOBILE}")
    desk.wait_for(lambda: "Moved to" in desk.parent_text(parent))
    lost = [c for c in desk.slack.api_log if c.method == "chat.postMessage" and c.status == 500]
    assert [c.params["channel"] for c in lost] == [MOBILE]
    copied = [said(m) for m in desk.slack.messages(MOBILE) if m.get("thread_ts") != m["ts"]]
    assert [sum(f"step {n}" in text for text in copied) for n in range(3)] == [1, 1, 1]
    assert [next(i for i, t in enumerate(copied) if f"step {n}" in t) for n in range(3)] == sorted(
        next(i for i, t in enumerate(copied) if f"step {n}" in t) for n in range(3))
    assert sum("Moved here from" in text for text in copied) == 1


def test_a_move_waits_while_a_reply_is_still_on_its_way_to_x(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.fail_next("POST", r"^/2/tweets$", status=503, times=1)
    ts = desk.reply(ANNA, parent, "Checking the line now.")
    answer = move(desk, ANNA, parent, "Mobile")
    assert "still on its way" in answer["errors"]["target"]
    desk.hurry("x")
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    desk.wait_for(lambda: bool(notices(desk, parent, "Tweeted as")))
    drained(desk)
    assert move(desk, ANNA, parent, "Mobile") == {}
    desk.wait_for(lambda: "Moved to" in desk.parent_text(parent))


def test_a_case_moved_twice_copies_the_originals_again(desk: Desk) -> None:
    tweet_id, parent = claimed_case(desk)
    desk.tweet("@Telekom_hilft still <b>down</b>", in_reply_to=tweet_id)
    desk.wait_for(lambda: any("still" in said(m) for m in desk.thread(parent)))
    desk.reply(ANNA, parent, "note: a & b <i>")
    move(desk, ANNA, parent, "Mobile")
    desk.wait_for(lambda: "Moved to" in desk.parent_text(parent))
    [second] = [{**m, "channel": MOBILE} for m in desk.slack.messages(MOBILE) if m.get("thread_ts") in (None, m["ts"])]
    desk.wait_for(lambda: any("Moved here" in said(m) for m in desk.thread(second)))
    move(desk, ANNA, second, "No topic (the default channel)")
    desk.wait_for(lambda: "Moved to" in desk.parent_text(second))
    [third] = [{**m, "channel": GENERAL} for m in desk.slack.messages(GENERAL) if m.get("thread_ts") in (None, m["ts"])]
    desk.wait_for(lambda: sum("Moved here" in said(m) for m in desk.thread(third)) == 2)
    def copies(parent: dict) -> list[str]:
        return [said(m) for m in desk.thread(parent) if "Moved here" not in said(m) and "moved this" not in said(m)]

    assert copies(second) == copies(third) and len(copies(third)) == 2
    assert any("a &amp; b &lt;i&gt;" in said(m) for m in desk.thread(third))
    assert not any("&amp;amp;" in text or "xdesk* wrote" in text for text in copies(third))


def test_a_hand_over_submitted_after_an_admin_took_the_case_changes_nothing(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    click(desk, ANNA, parent, ACTION_HANDOVER)
    view = modal(desk, ANNA)
    click(desk, ADMIN, parent, ACTION_TAKEOVER)
    desk.wait_for(lambda: desk.claimed_by(parent, ADMIN))
    desk.slack.choose_user(ANNA, view["id"], "target", BEN)
    assert "isn't yours any more" in submit(desk, ANNA, view)["errors"]["target"]
    tweeted_by(desk, ADMIN, parent, "Admin here.")
    assert desk.claimed_by(parent, ADMIN) and not desk.claimed_by(parent, BEN)


def test_an_unclaimed_case_an_admin_took_over_is_reminded_as_a_claimed_one(make_desk) -> None:
    from tests.clock_helpers import FakeClock, tick_again, top_level

    clock = FakeClock()
    desk = make_desk("[reminders]\nunclaimed_after = 5\nwaiting_after = 10\n", clock=clock)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    click(desk, ADMIN, parent, ACTION_TAKEOVER)
    desk.wait_for(lambda: desk.claimed_by(parent, ADMIN))
    desk.wait_for(lambda: bool(notices(desk, parent, f"<@{ADMIN}> took over this case")))
    clock.advance(minutes=11)
    desk.wait_for(lambda: bool(notices(desk, parent, "has waited more than")))
    tick_again(desk)
    assert top_level(desk, DSL, "without a claim") == []
    assert f"<@{ADMIN}>" in notices(desk, parent, "has waited more than")[0]
