"""Service hours through the real bridge: the auto-reply, the "after hours" parent, the opening summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.clock_helpers import FakeClock, permalink, tick_again, top_level
from tests.harness import BASE_SETTINGS, DSL, GENERAL, MOBILE, drained, notices, said

HOURS = """
[hours]
timezone = "Europe/Berlin"
auto_reply = "@{handle} Thanks, {name}! We're back {opens}."

[reminders]
unclaimed_after = 30
"""
# Wednesday 2026-11-25, 21:30 in Berlin: closed until Thursday 08:00 CET (07:00 UTC).
CLOSED_AT = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)
OPENING = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_a_closed_desk_auto_replies_once_per_customer_and_sums_up_at_opening(make_desk) -> None:
    clock = FakeClock(CLOSED_AT)
    desk = make_desk(HOURS, clock=clock)
    desk.x.add_user("kunde_klaus", "Klaus Kunde")
    first = desk.tweet("@Telekom_hilft my router is dead", author="kunde_klaus")
    parent = desk.parent_of(first)
    assert "after hours" in desk.parent_text(parent)

    [auto] = desk.x.wait_for_posts(1)
    assert auto["in_reply_to_tweet_id"] == first
    assert auto["text"] == "@kunde_klaus Thanks, Klaus Kunde! We're back tomorrow, 26 November, at 08:00 CET."
    link = f"https://x.com/Telekom_hilft/status/{auto['id']}"
    desk.wait_for(lambda: notices(desk, parent, f"Auto-reply tweeted: {link}"))

    # The same customer again, a new case in the same closed period: no second auto-reply.
    second = desk.parent_of(desk.tweet("@Telekom_hilft and my 5G is slow too", author="kunde_klaus"))
    assert second["channel"] == MOBILE and "after hours" in desk.parent_text(second)
    # Another customer gets theirs.
    karla = desk.tweet("@Telekom_hilft no internet since noon", author="kundin_karla")
    third = desk.parent_of(karla)
    desk.x.wait_for_posts(2)
    drained(desk)
    assert [p["in_reply_to_tweet_id"] for p in desk.x.posted] == [first, karla]
    assert notices(desk, second, "Auto-reply") == []  # not even tried (X would refuse it as a duplicate)

    # Still closed, long after the reminder's 30 minutes: nobody is pinged at night.
    clock.set(OPENING - timedelta(minutes=1))
    tick_again(desk)
    assert desk.rt.store.outbox.pending() == 0 and top_level(desk, DSL, "") == []

    clock.set(OPENING + timedelta(seconds=1))
    desk.wait_for(lambda: top_level(desk, DSL, "2 new cases") and top_level(desk, MOBILE, "1 new case"))
    drained(desk)
    tick_again(desk)
    [dsl] = top_level(desk, DSL, "")
    [mobile] = top_level(desk, MOBILE, "")
    assert top_level(desk, GENERAL, "") == []
    for summary, parents in ((dsl, [parent, third]), (mobile, [second])):
        text = said(summary)
        assert "While the desk was closed" in text
        for case_parent in parents:
            assert f"<{permalink(desk, case_parent)}|" in text

    # Open now, and the unclaimed cases' 30 minutes count from the opening.
    clock.set(OPENING + timedelta(minutes=31))
    desk.wait_for(lambda: len(top_level(desk, DSL, "without a claim")) == 2)
    # The next evening is a new closed period: the same customer gets an auto-reply again.
    clock.set(OPENING + timedelta(hours=14))
    later = desk.tweet("@Telekom_hilft router dead again", author="kunde_klaus")
    desk.x.wait_for_posts(3)
    assert desk.x.posted[-1]["in_reply_to_tweet_id"] == later
    assert desk.x.posted[-1]["text"].endswith("back tomorrow, 27 November, at 08:00 CET.")


def test_an_open_desk_sends_no_auto_reply(make_desk) -> None:
    desk = make_desk(HOURS, clock=FakeClock(OPENING + timedelta(hours=2)))
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    drained(desk)
    assert "after hours" not in desk.parent_text(parent)
    assert desk.x.posted == []


def test_a_dry_run_auto_reply_is_shown_not_tweeted(make_desk) -> None:
    dry = BASE_SETTINGS.replace("min_poll_interval = 0.2", "min_poll_interval = 0.2\ndry_run = true")
    desk = make_desk(HOURS, text=dry, clock=FakeClock(CLOSED_AT))
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead", author="kunde_klaus"))
    desk.wait_for(lambda: notices(desk, parent, "Dry run: would have tweeted"))
    [notice] = notices(desk, parent, "Dry run")
    assert "kunde_klaus Thanks, kunde_klaus!" in notice and "tomorrow, 26 November, at 08:00 CET" in notice
    drained(desk)
    assert desk.x.posted == []


def test_an_empty_template_sends_no_auto_reply_but_the_case_is_after_hours(make_desk) -> None:
    desk = make_desk(HOURS.replace('auto_reply = "@{handle} Thanks, {name}! We\'re back {opens}."',
                                   'auto_reply = ""'), clock=FakeClock(CLOSED_AT))
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    drained(desk)
    assert "after hours" in desk.parent_text(parent)
    assert desk.x.posted == [] and notices(desk, parent, "Auto-reply") == []


def test_a_search_hit_x_will_not_let_the_brand_answer_gets_no_auto_reply(make_desk) -> None:
    searching = BASE_SETTINGS.replace("min_poll_interval = 0.2", 'min_poll_interval = 0.2\nsearch = ["Glasfaser"]')
    desk = make_desk(HOURS, text=searching, clock=FakeClock(CLOSED_AT))
    parent = desk.parent_of(desk.x.add_tweet("Glasfaser in Bonn is a joke", author="grumpy"))
    drained(desk)
    assert "after hours" in desk.parent_text(parent)
    assert desk.x.posted == []


def test_an_auto_reply_whose_answer_was_lost_is_found_not_tweeted_again(make_desk) -> None:
    desk = make_desk(HOURS, clock=FakeClock(CLOSED_AT))
    desk.x.fail_next("POST", r"^/2/tweets$", truncate=True)  # X creates it; the answer is cut off
    tweet_id = desk.tweet("@Telekom_hilft my router is dead")
    parent = desk.parent_of(tweet_id)
    desk.hurry("x")
    desk.wait_for(lambda: notices(desk, parent, "Auto-reply tweeted"))
    drained(desk)
    assert [p["in_reply_to_tweet_id"] for p in desk.x.posted] == [tweet_id]


def test_an_opening_summary_whose_answer_was_lost_is_posted_once(make_desk) -> None:
    clock = FakeClock(CLOSED_AT)
    desk = make_desk(HOURS, clock=clock)
    desk.parent_of(desk.tweet("@Telekom_hilft my router is dead"))
    drained(desk)
    desk.slack.fail_next("chat.postMessage", status=500, applied=True)  # posted, but Slack's answer is lost
    clock.set(OPENING + timedelta(seconds=1))
    desk.wait_for(lambda: top_level(desk, DSL, "1 new case"))
    desk.hurry(f"post:{DSL}")
    drained(desk)
    assert len(top_level(desk, DSL, "1 new case")) == 1


def test_a_holiday_and_shorter_saturday_hours_are_kept(make_desk) -> None:
    # Thursday 26 November is a holiday; Saturdays are open 10:00-14:00 only (Berlin time).
    hours = HOURS.replace('timezone = "Europe/Berlin"',
                          'timezone = "Europe/Berlin"\nsaturday = ["10:00-14:00"]\nholidays = [2026-11-26]')
    clock = FakeClock(CLOSED_AT)  # Wednesday evening
    desk = make_desk(hours, clock=clock)

    def auto_reply_to(author: str, moment: datetime) -> tuple[dict, str]:
        clock.set(moment)
        tweet_id = desk.tweet(f"@Telekom_hilft my router is dead #{author}", author=author)
        parent = desk.parent_of(tweet_id)
        desk.x.wait_for(lambda: any(p["in_reply_to_tweet_id"] == tweet_id for p in desk.x.posted))
        [auto] = [p for p in desk.x.posted if p["in_reply_to_tweet_id"] == tweet_id]
        assert "after hours" in desk.parent_text(parent)
        return parent, auto["text"]

    wednesday, text = auto_reply_to("kunde_a", CLOSED_AT)
    assert text.endswith("We're back on Friday, 27 November, at 08:00 CET.")  # not on the holiday
    thursday, text = auto_reply_to("kunde_b", datetime(2026, 11, 26, 11, 0, tzinfo=UTC))  # noon on the holiday
    assert text.endswith("We're back tomorrow, 27 November, at 08:00 CET.")

    # Friday at opening: both came in during the same closed period, summed up once.
    clock.set(datetime(2026, 11, 27, 7, 0, 1, tzinfo=UTC))
    desk.wait_for(lambda: top_level(desk, DSL, "2 new cases"))
    [summary] = top_level(desk, DSL, "")
    assert all(f"<{permalink(desk, p)}|" in said(summary) for p in (wednesday, thursday))

    # Saturday 13:00 is open (no auto-reply); 14:30, open on a weekday, is closed until Monday.
    clock.set(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    open_parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is dead again", author="kunde_c"))
    drained(desk)
    assert "after hours" not in desk.parent_text(open_parent) and len(desk.x.posted) == 2
    _, text = auto_reply_to("kunde_d", datetime(2026, 11, 28, 13, 30, tzinfo=UTC))
    assert text.endswith("We're back on Monday, 30 November, at 08:00 CET.")
