"""Reminders through the real bridge: an unclaimed case pings the channel, a waiting customer the claimer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.clock_helpers import FakeClock, permalink, tick_again, top_level
from tests.harness import ANNA, BEN, DSL, claimed_case, drained, notices

REMINDERS = """
[reminders]
unclaimed_after = 5
waiting_after = 10
ping = "{ping}"
"""
HOURS = """
[hours]
timezone = "Europe/Berlin"
auto_reply = ""
"""


def reminders(ping: str = "here") -> str:
    return REMINDERS.replace("{ping}", ping)


def test_an_unclaimed_case_pings_the_channel_once(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    claimed = desk.parent_of(desk.tweet("@Telekom_hilft DSL down", author="kundin_karla"))
    desk.claim(ANNA, claimed)
    desk.wait_for(lambda: desk.claimed_by(claimed, ANNA))
    drained(desk)

    clock.advance(minutes=4)
    tick_again(desk)
    assert top_level(desk, DSL, "without a claim") == []

    clock.advance(minutes=2)
    desk.wait_for(lambda: top_level(desk, DSL, "without a claim"))
    clock.advance(minutes=30)
    tick_again(desk)
    [reminder] = top_level(desk, DSL, "without a claim")
    assert reminder["text"].startswith("<!here> ")
    assert f"<{permalink(desk, parent)}|" in reminder["text"]
    assert permalink(desk, claimed) not in reminder["text"]  # claimed in time: no reminder


def test_the_unclaimed_reminder_can_ping_a_user_group(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders("S0AGENTS01"), clock=clock)
    desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    clock.advance(minutes=6)
    desk.wait_for(lambda: top_level(desk, DSL, "without a claim"))
    [reminder] = top_level(desk, DSL, "without a claim")
    assert reminder["text"].startswith("<!subteam^S0AGENTS01> ")


def test_a_released_case_is_unclaimed_again_and_is_reminded_again(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    _, parent = claimed_case(desk)
    clock.advance(minutes=6)
    tick_again(desk)
    assert top_level(desk, DSL, "without a claim") == []
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    desk.wait_for(lambda: not desk.claimed_by(parent, ANNA))
    clock.advance(minutes=6)
    desk.wait_for(lambda: top_level(desk, DSL, "without a claim"))


def test_in_a_dry_run_an_answered_customer_is_not_reminded_either(make_desk, monkeypatch) -> None:
    monkeypatch.setenv("BRIDGE_X__DRY_RUN", "true")
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    _, parent = claimed_case(desk)
    desk.reply(ANNA, parent, "Sorry for the wait, we're on it!")
    desk.wait_for(lambda: notices(desk, parent, "Dry run"))
    clock.advance(minutes=60)
    tick_again(desk)
    assert notices(desk, parent, "for an answer") == []


def test_a_waiting_customer_pings_the_claimer_once_and_not_after_the_answer(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    tweet_id, parent = claimed_case(desk)
    drained(desk)

    clock.advance(minutes=9)
    tick_again(desk)
    assert notices(desk, parent, "for an answer") == []
    clock.advance(minutes=2)
    desk.wait_for(lambda: notices(desk, parent, "for an answer"))
    clock.advance(minutes=30)
    tick_again(desk)
    [ping] = notices(desk, parent, "for an answer")
    assert ping.startswith(f"<@{ANNA}> ")

    # The customer writes again: a new wait, a new reminder for it.
    again = desk.tweet("@Telekom_hilft hello??", in_reply_to=tweet_id)
    desk.wait_for(lambda: any("hello??" in m.get("text", "") for m in desk.thread(parent)))
    clock.advance(minutes=11)
    desk.wait_for(lambda: len(notices(desk, parent, "for an answer")) == 2)

    # The customer writes once more and this time the agent answers: nobody waits, no reminder.
    desk.tweet("@Telekom_hilft still there?", in_reply_to=again)
    desk.wait_for(lambda: any("still there?" in m.get("text", "") for m in desk.thread(parent)))
    desk.reply(ANNA, parent, "Sorry for the wait, we're on it!")
    desk.x.wait_for_posts(1)
    desk.wait_for(lambda: notices(desk, parent, "Tweeted as"))
    clock.advance(minutes=60)
    tick_again(desk)
    assert len(notices(desk, parent, "for an answer")) == 2


def test_no_reminders_when_they_are_off(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(clock=clock)
    claimed_case(desk)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft DSL down", author="kundin_karla"))
    clock.advance(hours=5)
    tick_again(desk)
    assert top_level(desk, DSL, "without a claim") == [] and notices(desk, parent, "for an answer") == []
    assert desk.rt.store.r.zcard("xdesk:unclaimed") == 0  # and the index does not grow for nothing


def test_a_reminder_whose_answer_was_lost_is_posted_once(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    drained(desk)
    desk.slack.fail_next("chat.postMessage", status=500, applied=True)  # posted, but Slack's answer is lost
    clock.advance(minutes=6)
    desk.wait_for(lambda: top_level(desk, DSL, "without a claim"))
    desk.hurry(f"post:{DSL}")
    drained(desk)
    tick_again(desk)
    assert len(top_level(desk, DSL, "without a claim")) == 1


def test_a_waiting_reminder_whose_answer_was_lost_is_posted_once(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    _, parent = claimed_case(desk)
    drained(desk)
    desk.slack.fail_next("chat.postMessage", status=500, applied=True)
    clock.advance(minutes=11)
    desk.wait_for(lambda: notices(desk, parent, "for an answer"))
    desk.hurry(f"post:{DSL}")
    drained(desk)
    tick_again(desk)
    assert len(notices(desk, parent, "for an answer")) == 1


def test_the_same_wait_is_reminded_once_though_the_case_changed_hands(make_desk) -> None:
    clock = FakeClock()
    desk = make_desk(reminders(), clock=clock)
    _, parent = claimed_case(desk)
    clock.advance(minutes=11)
    desk.wait_for(lambda: notices(desk, parent, "for an answer"))
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    desk.wait_for(lambda: not desk.claimed_by(parent, ANNA))
    desk.claim(BEN, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    clock.advance(minutes=11)
    tick_again(desk)
    # The customer has waited since their tweet, once: a reminder keyed on anything else comes twice.
    assert len(notices(desk, parent, "for an answer")) == 1


def test_a_case_still_unclaimed_at_closing_is_not_pinged_at_night_but_at_the_opening(make_desk) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock = FakeClock(datetime(2026, 11, 23, 19, 57, tzinfo=berlin))  # a Monday; the desk closes at 20:00
    desk = make_desk(reminders() + HOURS, clock=clock)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    assert "after hours" not in desk.parent_text(parent)  # it came in while the desk was open
    drained(desk)
    for hour in (20, 23, 3, 7):  # due at 20:02, but nobody is there to claim it
        day = 23 if hour >= 20 else 24
        clock.set(datetime(2026, 11, day, hour, 30, tzinfo=berlin))
        tick_again(desk)
        assert top_level(desk, DSL, "without a claim") == [], f"pinged at {hour}:30"
    clock.set(datetime(2026, 11, 24, 8, 0, 5, tzinfo=berlin))
    desk.wait_for(lambda: top_level(desk, DSL, "without a claim"))
