"""The daily digest with its chart, and the brand's followers sampled hourly (SPEC "The desk at a glance")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bridge.storage.figures import Figures
from tests.clock_helpers import FakeClock, tick_again
from tests.harness import ANNA, MOBILE, Desk, drained, eventually, said

BERLIN = ZoneInfo("Europe/Berlin")
DIGEST = f"""
[hours]
timezone = "Europe/Berlin"
monday = ["08:00-20:00"]
tuesday = ["08:00-20:00"]
auto_reply = ""

[digest]
channel = "{MOBILE}"
at = "08:00"
"""


def digests(desk: Desk, day: str = "2026-11-23") -> list[dict]:
    """The digests of ``day`` (started on a Monday after 08:00, the desk posts Sunday's at once, too)."""
    return [m for m in desk.slack.messages(MOBILE) if (m.get("metadata") or {}).get("event_type") == "xdesk_digest"
            and m["metadata"]["event_payload"].get("day") == day]


def test_the_digest_is_posted_once_at_its_time_with_the_days_figures_and_a_png_chart(make_desk) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN))  # a Monday
    desk = make_desk(DIGEST, clock=clock)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router is down"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    clock.advance(minutes=12)
    desk.reply(ANNA, parent, "Please restart it")
    desk.wait_for(lambda: len(desk.x.posted) == 1)
    drained(desk)

    clock.set(datetime(2026, 11, 24, 7, 59, tzinfo=BERLIN))
    tick_again(desk)
    assert digests(desk) == []  # not before its time
    clock.set(datetime(2026, 11, 24, 8, 0, 30, tzinfo=BERLIN))
    desk.wait_for(lambda: digests(desk))
    drained(desk)
    [digest] = digests(desk)
    text = said(digest)
    assert "*The desk on Monday, 23 November 2026*: 1 cases opened, 1 answered first (1 replies sent); median " \
           "first response 12 min, 100% within 30 min." in text, text
    assert f"*By agent* (replies): <@{ANNA}> 1" in text and "*By topic* (cases opened): DSL 1" in text
    [chart] = [m for m in desk.slack.thread(MOBILE, digest["ts"]) if m.get("files")]
    [png] = chart["files"]
    assert png["name"] == "xdesk-2026-11-23.png" and png["mimetype"] == "image/png"
    # Slack's current flow, for Sunday's chart and Monday's; never the retired files.upload.
    assert [c[0] for c in desk.slack.calls if c[0].startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"] * 2
    content = desk.slack._files[png["id"]].content
    assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 5000

    clock.advance(hours=3)
    tick_again(desk)
    assert len(digests(desk)) == 1  # once a day, however many workers tick


def test_the_brands_followers_are_sampled_every_hour_and_their_change_shown(make_desk) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN))
    desk = make_desk(clock=clock)
    figures = Figures(desk.rt.redis, desk.rt.store.keys, lambda: desk.rt.current, clock)
    eventually(lambda: figures.followers()[0] == 12000, what="a sample")  # the emulated brand's count, from X
    for day, count in ((1, 12100), (7, 13000)):
        desk.x.set_followers(count)
        clock.set(datetime(2026, 11, 23 + day, 10, 0, tzinfo=BERLIN))
        eventually(lambda c=count: figures.followers()[0] == c, what=f"the sample of {count}")
    assert figures.followers() == (13000, {1: 900, 7: 1000})
    assert figures.followers()[1].get(30) is None  # no sample that old yet
