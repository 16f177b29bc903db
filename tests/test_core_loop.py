"""The main path through the real bridge: tweet -> Slack thread -> claim -> thread reply -> tweet."""

from __future__ import annotations

import threading

from twitter_text import parse_tweet

from tests.harness import ANNA, BEN, CARL, DSL, GENERAL, MOBILE, Desk, block_text, drained, markup_of


def test_a_customer_tweet_becomes_a_thread_and_the_claimers_reply_is_tweeted(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft my router drops the internet every evening", author="kunde_klaus")
    parent = desk.parent_of(tweet_id)
    assert parent["channel"] == DSL
    shown = desk.parent_text(parent)
    assert "router drops the internet" in shown
    assert "@kunde_klaus" in shown
    assert f"https://x.com/kunde_klaus/status/{tweet_id}" in shown

    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))

    reply_ts = desk.reply(ANNA, parent, "Sorry to hear that! Please send us a DM with your customer number.")
    [posted] = desk.x.wait_for_posts(1)
    assert posted["text"] == "Sorry to hear that! Please send us a DM with your customer number. ^AN"
    assert posted["in_reply_to_tweet_id"] == tweet_id

    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], reply_ts))
    link = f"https://x.com/Telekom_hilft/status/{posted['id']}"
    desk.wait_for(lambda: any(link in block_text(m.get("blocks") or []) + m.get("text", "")
                              for m in desk.thread(parent)))


def test_two_agents_claiming_at_once_get_exactly_one_claim(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft DSL down in Bonn"))
    barrier = threading.Barrier(2)

    def react(user: str) -> None:
        barrier.wait()
        desk.claim(user, parent)

    threads = [threading.Thread(target=react, args=(u,)) for u in (ANNA, BEN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    desk.wait_for(lambda: len(desk.slack.ephemerals) == 1)
    [told] = desk.slack.ephemerals
    winner = ANNA if told["user"] == BEN else BEN
    assert told["user"] in (ANNA, BEN) and f"<@{winner}>" in told["text"]
    desk.wait_for(lambda: desk.claimed_by(parent, winner))
    assert not desk.claimed_by(parent, told["user"])


def test_the_same_message_event_delivered_three_times_is_tweeted_once(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft is there an outage?"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    ts = desk.slack.post_user_message(ANNA, parent["channel"], "No outage known, we're checking.",
                                      thread_ts=parent["ts"], retries=2)
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], ts))
    assert len(desk.x.posted) == 1


def test_notes_other_agents_and_unclaimed_cases_tweet_nothing(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my 5G is slow"))
    assert parent["channel"] == MOBILE

    desk.reply(BEN, parent, "Looks like the mast in Köln again")
    desk.wait_for(lambda: any(e["user"] == BEN and "claim" in e["text"] for e in desk.slack.ephemerals))

    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.reply(BEN, parent, "I think it's the mast")
    desk.reply(ANNA, parent, "note: customer called yesterday too")
    desk.reply(ANNA, parent, "// checking the ticket")
    last = desk.reply(ANNA, parent, "We're on it!")
    desk.wait_for(lambda: "outbox_tray" in desk.slack.reactions(parent["channel"], last))
    assert [p["text"] for p in desk.x.posted] == ["We're on it! ^AN"]


def test_a_long_reply_becomes_a_numbered_chain(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft router question")
    parent = desk.parent_of(tweet_id)
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    words = "Please restart the router, wait two minutes, then check the DSL light. " * 5
    desk.reply(ANNA, parent, words.strip())
    posted = desk.x.wait_for_posts(2)
    assert len(posted) == 2
    assert posted[0]["in_reply_to_tweet_id"] == tweet_id
    assert posted[1]["in_reply_to_tweet_id"] == posted[0]["id"]
    for i, part in enumerate(posted, start=1):
        assert parse_tweet(part["text"]).valid
        assert part["text"].endswith(f"{i}/2 ^AN")


def test_a_long_reply_with_long_refuse_is_not_tweeted_and_the_agent_told_the_count(make_desk) -> None:
    desk = make_desk(extra="", text=_with_refuse())
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router question"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    ts = desk.reply(ANNA, parent, "x" * 300)
    desk.wait_for(lambda: any("304" in e["text"] and e["user"] == ANNA for e in desk.slack.ephemerals))
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    assert desk.x.posted == []


def _with_refuse() -> str:
    from tests.harness import BASE_SETTINGS

    return BASE_SETTINGS.replace("[agents.", '[replies]\nlong = "refuse"\n\n[agents.', 1)


def test_a_follow_up_joins_the_thread_and_reopens_a_resolved_case(desk: Desk) -> None:
    first = desk.tweet("@Telekom_hilft my internet is gone", author="kunde_klaus")
    parent = desk.parent_of(first)
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.reply(ANNA, parent, "Please restart the router.")
    [ours] = desk.x.wait_for_posts(1)

    follow = desk.tweet("@Telekom_hilft did that, still nothing", author="kunde_klaus", in_reply_to=ours["id"])
    desk.wait_for(lambda: any("still nothing" in block_text(m.get("blocks") or []) for m in desk.thread(parent)))

    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "white_check_mark")
    desk.wait_for(lambda: "Resolved" in desk.parent_text(parent))

    desk.tweet("@Telekom_hilft it broke again", author="kunde_klaus", in_reply_to=follow)
    desk.wait_for(lambda: any("broke again" in block_text(m.get("blocks") or []) for m in desk.thread(parent)))
    desk.wait_for(lambda: any(f"<@{ANNA}>" in m.get("text", "") and "open again" in m.get("text", "")
                              for m in desk.thread(parent)))
    desk.wait_for(lambda: "Resolved" not in desk.parent_text(parent))
    tops = [m for m in desk.slack.messages(parent["channel"]) if m.get("thread_ts") in (None, m["ts"])]
    assert len(tops) == 1


def test_tweet_text_with_slack_markup_renders_inert(desk: Desk) -> None:
    text = "@Telekom_hilft <!channel> <@U123> <https://evil|click> *bold* hi"
    parent = desk.parent_of(desk.tweet(text))
    message = desk.slack.message(parent["channel"], parent["ts"])
    markup = markup_of(message)  # what Slack would parse: none of it may ping, link or format
    for live in ("<!channel>", "<@U123>", "<https://evil|click>", "*bold*"):
        assert live not in markup
    assert "&lt;!channel&gt;" in message["text"]  # the notification text, escaped
    literal = [e for b in message["blocks"] if b["type"] == "rich_text" for e in b["elements"][0]["elements"]]
    assert [e["type"] for e in literal] == ["text"] and literal[0]["text"] == text  # shown as written


def test_a_forged_or_stale_signature_gets_401_and_changes_nothing(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    # Slack shows the parent a moment before the worker records it: wait for the record and the lane.
    drained(desk)
    event = {"type": "reaction_added", "user": ANNA, "reaction": "eyes", "item_user": "U0XDESKBOT",
             "item": {"type": "message", "channel": parent["channel"], "ts": parent["ts"]},
             "event_ts": "1700000000.000200"}
    for signature in ("bad", "stale", "missing"):
        assert desk.slack.deliver(event, signature=signature) == [401]
    assert desk.rt.store.case_by_parent(parent["channel"], parent["ts"]).claimer is None
    assert desk.rt.store.outbox.pending() == 0 and desk.slack.ephemerals == []
    assert desk.slack.deliver(event) == [200]  # the same event, signed: it works
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))


def test_topics_route_to_their_channels_and_the_rest_to_default(desk: Desk) -> None:
    dsl = desk.parent_of(desk.tweet("@Telekom_hilft DSL is slow"))
    mobile = desk.parent_of(desk.tweet("@Telekom_hilft roaming in Spain? #Mobilfunk"))
    other = desk.parent_of(desk.tweet("@Telekom_hilft where is my invoice?"))
    assert (dsl["channel"], mobile["channel"], other["channel"]) == (DSL, MOBILE, GENERAL)


def test_someone_who_is_not_an_agent_cannot_claim(make_desk) -> None:
    from tests.harness import BASE_SETTINGS

    desk = make_desk(text=BASE_SETTINGS.replace("agents = []", 'agents = ["S0AGENTS01"]'))
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(CARL, parent)
    desk.wait_for(lambda: any(e["user"] == CARL for e in desk.slack.ephemerals))
    desk.claim(BEN, parent)  # in the agents user group
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    assert not desk.claimed_by(parent, CARL)


def test_a_reply_x_refuses_is_marked_failed_with_the_reason_in_words(make_desk) -> None:
    from tests.harness import BASE_SETTINGS

    searching = BASE_SETTINGS.replace("min_poll_interval = 0.2", 'min_poll_interval = 0.2\nsearch = ["Glasfaser"]')
    desk = make_desk(text=searching)
    parent = desk.parent_of(desk.x.add_tweet("Glasfaser in Bonn is a joke", author="grumpy"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    ts = desk.reply(ANNA, parent, "Sorry! Which street are you in?")
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    desk.wait_for(lambda: any("Not tweeted" in m.get("text", "") and "mention" in m.get("text", "")
                              for m in desk.thread(parent)))
    assert desk.x.posted == []
    assert "outbox_tray" not in desk.slack.reactions(parent["channel"], ts)


def test_a_reply_to_a_deleted_tweet_says_so(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft router")
    parent = desk.parent_of(tweet_id)
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.x.delete_tweet(tweet_id)
    ts = desk.reply(ANNA, parent, "Hello?")
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    desk.wait_for(lambda: any("deleted" in m.get("text", "") for m in desk.thread(parent)))


def test_a_retried_event_is_handled_once(desk: Desk) -> None:
    """Slack's retries of an event already handled change nothing, even effects without their own key."""
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.slack.add_reaction(BEN, parent["channel"], parent["ts"], "eyes", retries=3)
    desk.wait_for(lambda: len(desk.slack.ephemerals) >= 1)
    desk.reply(ANNA, parent, "note: marker")  # the outbox is worked in order: ephemerals were sent before
    desk.slack.add_reaction(ANNA, parent["channel"], parent["ts"], "white_check_mark")
    desk.wait_for(lambda: "Resolved" in desk.parent_text(parent))
    assert len(desk.slack.ephemerals) == 1
