"""Direct messages through the real bridge: a DM becomes a case, the claimer's reply goes back as a DM,
and the ask_dm reaction on a public case asks the customer for one."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import pytest

from bridge.core.settings import load
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from tests import harness
from tests.harness import ANNA, BEN, CARL, DSL, Desk, claimed_case, drained, eventually, notices

DMS_ON = "\n[dm]\nenabled = true\nmin_poll_interval = 0.2\n"
DM_EVENTS = r"^/2/dm_events$"
SEND_DM = r"^/2/dm_conversations/with/\d+/messages$"


@pytest.fixture
def dm_desk(make_desk) -> Desk:
    return make_desk(DMS_ON)


def claim(desk: Desk, parent: dict, user: str = ANNA) -> None:
    desk.claim(user, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, user))


def followup_shown(desk: Desk, parent: dict, text: str) -> bool:
    return any(text in harness.said(m) for m in desk.thread(parent) if m["ts"] != parent["ts"])


def told(desk: Desk, parent: dict, needle: str) -> list[str]:
    """The bridge's notices saying ``needle``, read as a person does (an @ is kept from pinging)."""
    return [n.replace("\u2060", "") for n in notices(desk, parent, "") if needle in n.replace("\u2060", "")]


def dm_posts(x: XEmulator) -> list:
    return [r for r in x.requests if r.method == "POST" and "/messages" in r.path]


def test_a_dm_opens_a_private_case_and_the_claimers_reply_goes_back_as_a_dm(dm_desk: Desk) -> None:
    desk = dm_desk
    dm_id = desk.x.dms.send("My router is dead since Monday, my customer number is 4711", author="kunde_klaus")
    parent = desk.parent_of(dm_id)
    assert parent["channel"] == DSL  # routed by topic like a tweet
    shown = desk.parent_text(parent)
    assert "Private direct message" in shown and "customer number is 4711" in shown
    assert "/status/" not in shown  # no public link to a DM

    claim(desk, parent)
    ts = desk.reply(ANNA, parent, "Thanks, we'll reset your line now.")
    [sent] = desk.x.dms.wait_for_sent(1)
    assert sent == {"id": sent["id"], "text": "Thanks, we'll reset your line now. ^AN", "to": "kunde_klaus"}
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    desk.wait_for(lambda: bool(told(desk, parent, "Sent as a direct message to @kunde_klaus")))

    second = desk.x.dms.send("It works again, thank you!", author="kunde_klaus")
    desk.wait_for(lambda: followup_shown(desk, parent, "It works again"))
    desk.reply(ANNA, parent, "Glad to hear it!")
    desk.x.dms.wait_for_sent(2)
    drained(desk)
    assert desk.x.posted == []  # nothing went out as a tweet
    assert desk.rt.store.case_of_tweet(second) == desk.rt.store.case_of_tweet(dm_id)
    assert len([m for m in desk.slack.messages(DSL) if m.get("thread_ts") in (None, m["ts"])]) == 1

    # A file is not sent in a DM (nor the text without it): the agent is told.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    shared = desk.slack.share_files(ANNA, parent["channel"], "here's the manual", [("manual.png", png)],
                                    thread_ts=parent["ts"])
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], shared))
    assert any("files aren't sent in direct messages" in e["text"] for e in desk.slack.ephemerals)

    # One message, never split: over X's 10,000 characters it is refused, and the agent told so.
    too_long = desk.reply(ANNA, parent, "a" * 9_998)
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], too_long))
    assert any("10,000 characters" in e["text"] and e["user"] == ANNA for e in desk.slack.ephemerals)
    assert len(desk.x.dms.sent) == 2


def test_asking_for_a_dm_tweets_once_and_the_dm_joins_the_public_case(dm_desk: Desk) -> None:
    desk = dm_desk
    tweet_id, parent = claimed_case(desk, "@Telekom_hilft my router is dead")
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope", retries=1)
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    [ask] = desk.x.wait_for_posts(1)
    assert ask["text"] == ("@kunde_klaus We'd like to help with this privately: please send us a direct message. ^AN")
    assert ask["in_reply_to_tweet_id"] == tweet_id
    desk.wait_for(lambda: bool(told(desk, parent, "Asked @kunde_klaus to send a DM")))
    assert f"https://x.com/Telekom_hilft/status/{ask['id']}" in told(desk, parent, "Asked")[0]

    desk.x.dms.send("Here I am, customer number 4711", author="kunde_klaus")
    desk.wait_for(lambda: followup_shown(desk, parent, "customer number 4711"))
    # Private: the personal-data guard of public replies (on by default) does not stop a DM.
    desk.reply(ANNA, parent, "Thanks, found your contract. Call us on 0228 1234567.")
    [sent] = desk.x.dms.wait_for_sent(1)
    assert sent["text"] == "Thanks, found your contract. Call us on 0228 1234567. ^AN" and sent["to"] == "kunde_klaus"

    # The customer's latest message is a tweet again: the reply is tweeted again.
    later = desk.tweet("@Telekom_hilft still dead though", in_reply_to=ask["id"])
    desk.wait_for(lambda: followup_shown(desk, parent, "still dead though"))
    desk.reply(ANNA, parent, "We're sending a technician.")
    posted = desk.x.wait_for_posts(2)
    assert posted[1]["in_reply_to_tweet_id"] == later and posted[1]["text"] == "We're sending a technician. ^AN"
    drained(desk)
    assert len(desk.x.posted) == 2 and len(desk.x.dms.sent) == 1  # the ask tweeted once, one DM


def test_an_ask_x_refused_can_be_made_again(dm_desk: Desk) -> None:
    desk = dm_desk
    tweet_id, parent = claimed_case(desk, "@Telekom_hilft my router is dead")
    desk.x.fail_next("POST", r"^/2/tweets$", status=403)  # X says no, for good
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    desk.wait_for(lambda: bool(told(desk, parent, "Could not ask")))
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")  # the agent tries again
    [ask] = desk.x.wait_for_posts(1)
    assert ask["in_reply_to_tweet_id"] == tweet_id
    desk.wait_for(lambda: bool(told(desk, parent, "Asked @kunde_klaus to send a DM")))


def test_only_agents_may_ask_and_not_on_someone_elses_case(make_desk) -> None:
    desk = make_desk(DMS_ON, text=harness.BASE_SETTINGS.replace("agents = []", f'agents = ["{ANNA}", "{BEN}"]'))
    _, parent = claimed_case(desk)
    desk.slack.add_reaction(CARL, parent["channel"], parent["ts"], "envelope")
    desk.slack.add_reaction(BEN, parent["channel"], parent["ts"], "envelope")
    desk.wait_for(lambda: any(e["user"] == CARL and "Only agents" in e["text"] for e in desk.slack.ephemerals))
    desk.wait_for(lambda: any(e["user"] == BEN and f"<@{ANNA}> has this case" in e["text"]
                              for e in desk.slack.ephemerals))
    drained(desk)
    assert desk.x.posted == []


def test_asking_for_a_dm_while_dms_are_off_is_refused_privately(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    desk.wait_for(lambda: any(e["user"] == ANNA and "Direct messages are switched off" in e["text"]
                              for e in desk.slack.ephemerals))
    drained(desk)
    assert desk.x.posted == [] and notices(desk, parent, "Asked") == []


def test_asking_for_a_dm_on_a_dm_case_is_refused_privately(dm_desk: Desk) -> None:
    desk = dm_desk
    parent = desk.parent_of(desk.x.dms.send("My router is dead", author="kunde_klaus"))
    claim(desk, parent)
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    desk.wait_for(lambda: any(e["user"] == ANNA and "is a direct message already" in e["text"]
                              for e in desk.slack.ephemerals))
    drained(desk)
    assert desk.x.posted == [] and desk.x.dms.sent == [] and told(desk, parent, "Asked") == []


def test_a_custom_ask_template_and_reaction_are_used(make_desk) -> None:
    desk = make_desk(DMS_ON + 'ask_template = "@{handle} Hallo {name}, schreib uns bitte eine DM!"\n'
                     '\n[emoji]\nask_dm = "incoming_envelope"\n')
    desk.x.add_user("kunde_klaus", name="Klaus Kunde")
    tweet_id, parent = claimed_case(desk)
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")  # not the desk's ask any more
    drained(desk)
    assert desk.x.posted == []
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "incoming_envelope")
    [ask] = desk.x.wait_for_posts(1)
    assert ask["text"] == "@kunde_klaus Hallo Klaus Kunde, schreib uns bitte eine DM! ^AN"
    assert ask["in_reply_to_tweet_id"] == tweet_id
    desk.wait_for(lambda: bool(told(desk, parent, "Asked @kunde_klaus to send a DM")))
    drained(desk)
    assert len(desk.x.posted) == 1


def test_a_dm_whose_answer_was_cut_off_is_found_not_sent_again(dm_desk: Desk) -> None:
    desk = dm_desk
    parent = desk.parent_of(desk.x.dms.send("my router blinks red", author="kunde_klaus"))
    claim(desk, parent)
    desk.x.truncated_next("POST", SEND_DM)  # X sends the DM, half the answer arrives
    ts = desk.reply(ANNA, parent, "Please unplug it for a minute.")
    desk.x.dms.wait_for_sent(1)
    desk.hurry("x")
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    drained(desk)
    assert [s["text"] for s in desk.x.dms.sent] == ["Please unplug it for a minute. ^AN"]
    assert len(dm_posts(desk.x)) == 1


def test_in_a_dry_run_nothing_is_sent_and_the_thread_shows_what_would_have_been(make_desk) -> None:
    desk = make_desk(DMS_ON, text=harness.BASE_SETTINGS.replace("[x]\n", "[x]\ndry_run = true\n"))
    parent = desk.parent_of(desk.x.dms.send("router dead", author="kunde_klaus"))
    claim(desk, parent)
    ts = desk.reply(ANNA, parent, "We're on it.")
    desk.wait_for(lambda: bool(told(desk, parent, "Dry run: not sent")))
    assert "as a direct message to @kunde_klaus:\n>We're on it. ^AN" in told(desk, parent, "Dry run")[0]
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))  # shown as live

    _, public = claimed_case(desk, "@Telekom_hilft my DSL is down")
    desk.slack.add_reaction(ANNA, public["channel"], public["ts"], "envelope")
    desk.wait_for(lambda: bool(told(desk, public, "Dry run")))
    assert "@kunde_klaus We'd like to help with this privately" in told(desk, public, "Dry run")[0]
    drained(desk)
    assert desk.x.dms.sent == [] and dm_posts(desk.x) == [] and desk.x.posted == []


def test_xs_limit_on_sending_dms_tells_the_agent_and_the_dm_goes_once_after(dm_desk: Desk) -> None:
    desk = dm_desk
    parent = desk.parent_of(desk.x.dms.send("router dead", author="kunde_klaus"))
    claim(desk, parent)
    reset = math.ceil(time.time() + 900)  # X's 15 minutes
    desk.x.fail_next("POST", SEND_DM, status=429, headers={"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0",
                                                           "x-rate-limit-reset": str(reset)})
    ts = desk.reply(ANNA, parent, "One moment please.")
    desk.wait_for(lambda: bool(notices(desk, parent, "limit on direct messages is used up")))
    desk.hurry("x")
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    drained(desk)
    assert [s["text"] for s in desk.x.dms.sent] == ["One moment please. ^AN"]


def test_editing_a_sent_dm_reply_says_it_cant_be_changed_and_deleting_a_queued_one_stops_it(
        dm_desk: Desk) -> None:
    desk = dm_desk
    parent = desk.parent_of(desk.x.dms.send("my router is dead", author="kunde_klaus"))
    claim(desk, parent)
    ts = desk.reply(ANNA, parent, "Thanks, we reset it.")
    desk.wait_for(lambda: bool(told(desk, parent, "Sent as a direct message")))
    desk.slack.edit_message(ANNA, parent["channel"], ts, "Thanks, we reset your line.")
    desk.wait_for(lambda: any(e["user"] == ANNA for e in desk.slack.ephemerals))
    [hint] = [e["text"] for e in desk.slack.ephemerals if e["user"] == ANNA]
    assert "direct message can't be edited" in hint and "tweet" not in hint

    desk.x.rate_limit_next("POST", SEND_DM)  # X's DM limit holds the next one
    held = desk.reply(ANNA, parent, "Oops wrong customer, ignore this")
    desk.x.wait_for(lambda: any(r.status == 429 and r.method == "POST" for r in desk.x.requests))
    desk.slack.delete_message(parent["channel"], held)
    desk.hurry("x")
    desk.wait_for(lambda: bool(told(desk, parent, "before it was sent")))
    drained(desk)
    assert [s["text"] for s in desk.x.dms.sent] == ["Thanks, we reset it. ^AN"]


def test_dms_are_not_read_unless_enabled(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft hello")
    desk.parent_of(tweet_id)  # the worker has polled
    desk.x.dms.send("a private hello", author="kunde_klaus")
    desk.parent_of(desk.tweet("@Telekom_hilft hello again"))
    assert not [r for r in desk.x.requests if "dm_events" in r.path]


# -- X's budget for reading DMs: 15 requests per 15 minutes ----------------------------------------

WINDOW = 3.0  # seconds standing for X's 15 minutes


@pytest.fixture
def fast_x() -> Iterator[XEmulator]:
    with XEmulator(window_seconds=WINDOW, **harness.X_KEYS) as emu:
        yield emu


@pytest.fixture
def make_fast_desk(fast_x: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path,
                   monkeypatch) -> Iterator[Callable[[float], Desk]]:
    desks: list[Desk] = []

    def make(dm_interval: float) -> Desk:
        # Mentions are read more often: the DM poller must keep its own, slower pace.
        base = harness.BASE_SETTINGS.replace("[x]\nmin_poll_interval = 0.2", "[x]\nmin_poll_interval = 0.1")
        path = harness.write_settings(tmp_path / "settings.toml", base,
                                      extra=f"\n[dm]\nenabled = true\nmin_poll_interval = {dm_interval}\n")
        monkeypatch.setenv("BRIDGE_SETTINGS", str(path))
        desks.append(Desk(fast_x, slack_emu, harness.environment(fast_x, slack_emu, redis_url), load()))
        return desks[-1]

    yield make
    for desk in desks:
        desk.close()


@pytest.fixture
def fast_desk(make_fast_desk) -> Desk:
    """The default [dm] min_poll_interval (60 s of a 900 s window) scaled to the emulator's window."""
    return make_fast_desk(60 * WINDOW / 900)


def dm_reads(x: XEmulator) -> list:
    return [r for r in x.requests if r.path == "/2/dm_events"]


def test_dm_polling_at_the_default_pace_stays_within_xs_window(fast_desk: Desk) -> None:
    x = fast_desk.x
    x.wait_for(lambda: len(dm_reads(x)) >= 40, timeout=30)  # nearly three windows' worth
    assert [r.status for r in dm_reads(x)] == [200] * len(dm_reads(x))
    parent = fast_desk.parent_of(x.dms.send("still within budget?", author="kunde_klaus"))
    assert "still within budget" in fast_desk.parent_text(parent)


def test_after_a_429_dm_polling_waits_for_the_reset_and_the_dm_arrives_once(fast_desk: Desk) -> None:
    x = fast_desk.x
    x.wait_for(lambda: dm_reads(x))
    x.rate_limit_next("GET", DM_EVENTS)
    reset = time.time() + WINDOW
    dm_id = x.dms.send("my DSL is down", author="kunde_klaus")
    x.wait_for(lambda: any(r.status == 429 for r in dm_reads(x)))
    refused_at = len(dm_reads(x))
    x.wait_for(lambda: len(dm_reads(x)) > refused_at, timeout=WINDOW + 10)
    assert time.time() >= reset - 1  # X's reset header is whole seconds
    fast_desk.parent_of(dm_id)
    drained(fast_desk)
    shown = [m for m in fast_desk.slack.messages(DSL) if "my DSL is down" in harness.said(m)]
    assert len(shown) == 1
    eventually(lambda: fast_desk.rt.store.cursor("dms") is not None, what="the DM cursor to move")


def test_dm_polling_keeps_a_longer_min_poll_interval(make_fast_desk) -> None:
    desk = make_fast_desk(1.0)
    x = desk.x
    x.wait_for(lambda: dm_reads(x))
    start = time.monotonic()
    x.wait_for(lambda: len(dm_reads(x)) >= 4, timeout=10)
    assert time.monotonic() - start >= 3 * 1.0 - 0.2  # three waits of at least a second each


def test_a_dm_case_is_reminded_like_a_tweet_and_a_dm_answer_ends_the_wait(make_desk) -> None:
    from tests.clock_helpers import FakeClock, tick_again, top_level

    clock = FakeClock()
    desk = make_desk(DMS_ON + "\n[reminders]\nunclaimed_after = 5\nwaiting_after = 10\n", clock=clock)
    first = desk.x.dms.send("my router is dead", author="kunde_klaus")
    parent = desk.parent_of(first)
    clock.advance(minutes=6)
    desk.wait_for(lambda: top_level(desk, DSL, "without a claim"))

    claim(desk, parent)
    desk.x.dms.send("hello??", author="kunde_klaus")
    desk.wait_for(lambda: followup_shown(desk, parent, "hello??"))
    clock.advance(minutes=11)
    desk.wait_for(lambda: notices(desk, parent, "for an answer"))

    desk.x.dms.send("still there?", author="kunde_klaus")
    desk.wait_for(lambda: followup_shown(desk, parent, "still there?"))
    desk.reply(ANNA, parent, "Sorry for the wait, we're on it!")
    desk.wait_for(lambda: bool(told(desk, parent, "Sent as a direct message")))
    clock.advance(minutes=60)
    tick_again(desk)
    assert len(notices(desk, parent, "for an answer")) == 1

    desk.x.dms.send("it's broken again", author="kunde_klaus")  # a new wait: a new reminder
    desk.wait_for(lambda: followup_shown(desk, parent, "it's broken again"))
    clock.advance(minutes=11)
    desk.wait_for(lambda: len(notices(desk, parent, "for an answer")) == 2)


def test_a_dm_sent_while_the_ask_waits_for_x_still_joins_the_case(dm_desk: Desk) -> None:
    desk = dm_desk
    _, parent = claimed_case(desk)
    reset = str(math.ceil(time.time() + 900))
    desk.x.fail_next("POST", r"^/2/tweets$", status=429, headers={
        "x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset})
    desk.reply(ANNA, parent, "One moment, checking.")  # X's limit: the x lane waits, the ask behind it
    desk.x.wait_for(lambda: any(r.path == "/2/tweets" and r.status == 429 for r in desk.x.requests))
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    desk.wait_for(lambda: sum(desk.rt.store.outbox.depth(lane) for lane in desk.lanes("x")) == 2)
    desk.x.dms.send("Saw your note, here is my DM", author="kunde_klaus")
    desk.wait_for(lambda: followup_shown(desk, parent, "here is my DM"))
    desk.hurry("x")
    posted = desk.x.wait_for_posts(2)
    assert "please send us a direct message" in posted[1]["text"]


def test_a_dm_case_counts_in_the_customers_history(dm_desk: Desk) -> None:
    desk = dm_desk
    desk.parent_of(desk.x.dms.send("my router is dead", author="stammkunde"))
    later = desk.parent_of(desk.tweet("@Telekom_hilft and now my invoice is wrong", author="stammkunde"))
    assert "1 earlier case from this customer" in desk.parent_text(later)


def test_a_moved_dm_case_stays_private_and_its_replies_stay_dms(dm_desk: Desk) -> None:
    from tests.harness import MOBILE
    from tests.test_handover import move

    desk = dm_desk
    parent = desk.parent_of(desk.x.dms.send("my router is dead, and roaming too", author="kunde_klaus"))
    claim(desk, parent)
    assert move(desk, ANNA, parent, "Mobile") == {}
    desk.wait_for(lambda: any(m.get("thread_ts") in (None, m["ts"]) for m in desk.slack.messages(MOBILE)))
    [new] = [{**m, "channel": MOBILE} for m in desk.slack.messages(MOBILE) if m.get("thread_ts") in (None, m["ts"])]
    shown = desk.parent_text(new)
    assert "Private direct message" in shown and "/status/" not in shown
    desk.reply(ANNA, new, "We'll look at your roaming too.")
    [sent] = desk.x.dms.wait_for_sent(1)
    assert sent["text"] == "We'll look at your roaming too. ^AN"
    drained(desk)
    assert desk.x.posted == []


def test_a_dm_reply_goes_to_whoever_sent_the_dm_not_to_the_cases_first_customer(dm_desk: Desk) -> None:
    desk = dm_desk
    first, parent = claimed_case(desk, "@Telekom_hilft our router is dead")  # kunde_klaus opens the case
    other = desk.tweet("@Telekom_hilft same here, my flat too", author="kundin_berta", in_reply_to=first)
    desk.wait_for(lambda: followup_shown(desk, parent, "my flat too"))
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "envelope")
    [ask] = desk.x.wait_for_posts(1)
    assert ask["text"].startswith("@kundin_berta ") and ask["in_reply_to_tweet_id"] == other  # she is asked
    desk.x.dms.send("It's Berta, contract 0815", author="kundin_berta")
    desk.wait_for(lambda: followup_shown(desk, parent, "contract 0815"))
    desk.reply(ANNA, parent, "Thanks Berta, we found your contract.")
    [sent] = desk.x.dms.wait_for_sent(1)
    assert sent["to"] == "kundin_berta"  # never to kunde_klaus, who would learn what Berta wrote


def test_a_long_dm_reply_arrives_as_one_message(dm_desk: Desk) -> None:
    desk = dm_desk
    parent = desk.parent_of(desk.x.dms.send("My router is dead", author="kunde_klaus"))
    claim(desk, parent)
    text = " ".join(f"Step {i}: check the cable and the lights of the router, then wait a minute." for i in range(40))
    assert 281 < len(text) + len(" ^AN") <= 10_000
    desk.reply(ANNA, parent, text)
    [sent] = desk.x.dms.wait_for_sent(1)
    drained(desk)
    assert sent["text"] == text + " ^AN" and len(desk.x.dms.sent) == 1  # whole: X takes 10,000 in a DM


def test_a_restarted_worker_reads_no_dm_twice(make_desk) -> None:
    desk = make_desk(DMS_ON)
    sent = [desk.x.dms.send(f"DM number {n} about my router", author=f"kunde_{n}") for n in range(3)]
    parents = [desk.parent_of(dm_id) for dm_id in sent]
    drained(desk)
    desk.close()  # the worker stops; the DM cursor stays in Redis
    later = desk.x.dms.send("A fourth one, router again", author="kunde_9")
    again = make_desk(DMS_ON)
    again.parent_of(later)
    drained(again)
    for parent in parents:  # each DM shown once: as its case's parent, never again as a follow-up
        assert [m for m in again.thread(parent) if m["ts"] != parent["ts"]] == []
    shown = [m for ch in (harness.GENERAL, DSL, harness.MOBILE) for m in again.slack.messages(ch)
             if "router" in harness.said(m)]
    assert len(shown) == 4
