"""The desk at a glance: each user's App Home and ``/xdesk stats`` (SPEC "The desk at a glance")."""

from __future__ import annotations

import re

from tests.harness import ADMIN, ANNA, BEN, GENERAL, Desk, block_text, drained


def home_text(desk: Desk, user: str) -> str:
    home = desk.slack.home(user)
    return block_text(home["blocks"]) if home else ""


def open_home(desk: Desk, user: str) -> str:
    before = desk.slack.home(user)
    assert desk.slack.open_home(user)[0] == 200
    desk.wait_for(lambda: desk.slack.home(user) is not None and desk.slack.home(user) != before)
    return home_text(desk, user)


def stats(desk: Desk, user: str, which: str = "") -> str:
    status, body = desk.slack.command(user, GENERAL, f"stats {which}".strip())
    assert status == 200
    return body


def test_the_app_home_shows_each_user_their_cases_the_unclaimed_and_the_days_figures(desk: Desk) -> None:
    answered = desk.parent_of(desk.tweet("@Telekom_hilft my router is down", author="kunde_a"))
    waiting = desk.parent_of(desk.tweet("@Telekom_hilft dsl is slow", author="kunde_b"))
    for text, author in (("5g roaming is broken", "kunde_c"), ("where is my bill", "kunde_d")):
        desk.parent_of(desk.tweet(f"@Telekom_hilft {text}", author=author))
    desk.claim(ANNA, answered)
    desk.claim(ANNA, waiting)
    desk.wait_for(lambda: desk.claimed_by(waiting, ANNA))
    desk.reply(ANNA, answered, "Please restart it")
    desk.wait_for(lambda: len(desk.x.posted) == 1)
    drained(desk)

    anna = open_home(desk, ANNA)
    assert "*Your open cases* (2):" in anna, anna
    assert re.search(r"Case 1>? in <#C0DSLTEAM1>, answered", anna) and re.search(
        r"Case 2>? in <#C0DSLTEAM1>, waiting \d+ min", anna), anna
    assert re.search(r"Unclaimed\*: 2, the oldest waiting \d+ min", anna), anna
    assert "Today*: 4 cases opened, 1 answered first (1 replies sent); median first response 0 min, 100% within " \
           "30 min." in anna, anna
    assert "kunde_" not in anna  # customers appear as their case only
    assert "By agent" not in anna and "Followers" not in anna  # an agent's Home has no admin figures
    assert stats(desk, ANNA).startswith(anna[anna.index("*Today*"):].split("\n")[0])  # the same figures

    admin = open_home(desk, ADMIN)
    assert "Your open cases*: none." in admin
    assert f"*By agent* (replies): <@{ANNA}> 1" in admin and "*By topic* (cases opened): DSL 2, " in admin, admin
    assert re.search(r"\*X\*: this month's estimated cost \$0\.\d\d", admin) and "Followers" in admin, admin
    assert "Topics…" in admin  # and the buttons that change the desk
    week = stats(desk, ADMIN, "week")
    assert week.startswith("*The last 7 days*: 4 cases opened, 1 answered first") and "By agent" in week, week


def test_the_home_follows_the_users_cases_without_being_opened_again(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router again"))
    assert "Your open cases*: none." in open_home(desk, BEN)
    desk.claim(BEN, parent)
    desk.wait_for(lambda: "*Your open cases* (1):" in home_text(desk, BEN))
    desk.slack.add_reaction(BEN, parent["channel"], parent["ts"], "white_check_mark")
    desk.wait_for(lambda: "Your open cases*: none." in home_text(desk, BEN))
