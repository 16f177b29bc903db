"""Claims, releases, resolves and the replies they allow, on the in-memory desk."""

from __future__ import annotations

from bridge.x.errors import XRefused
from tests.fast.kit import FastDesk
from tests.harness import ANNA, BEN, CARL, DSL, MOBILE, block_text


def claimer_shown(fast: FastDesk, parent) -> str:
    return block_text(fast.slack.message(parent.channel, parent.ts).blocks or [])


def test_a_claimed_case_tweets_the_claimers_signed_reply_in_reply_to_the_customer(fast: FastDesk) -> None:
    tweet = fast.tweet("@Telekom_hilft my router drops the internet every evening")
    parent = fast.parent(tweet)
    assert parent.channel == DSL and "router drops the internet" in block_text(parent.blocks or [])

    fast.claim(ANNA, parent)
    assert f"<@{ANNA}>" in claimer_shown(fast, parent)
    fast.reply(ANNA, parent, "Sorry to hear that! Please send us a DM.")
    assert fast.x.replies[0][1:] == ("Sorry to hear that! Please send us a DM. ^AN", tweet.id)


def test_the_second_claim_is_told_who_holds_the_case_and_changes_nothing(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft DSL down in Bonn"))
    fast.claim(ANNA, parent)
    fast.claim(BEN, parent)
    assert fast.slack.told(BEN) == [f"<@{ANNA}> already has this case, so nothing changed. Ask them to hand it "
                                    "over, or remove their claim."]
    fast.reply(BEN, parent, "I'll take it")
    fast.reply(ANNA, parent, "We're on it")
    assert fast.x.said() == ["We're on it ^AN"]


def test_notes_and_replies_in_unclaimed_cases_tweet_nothing(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft my 5G is slow"))
    assert parent.channel == MOBILE
    fast.reply(BEN, parent, "Looks like the mast in Köln again")
    assert "isn't claimed yet" in fast.slack.told(BEN)[0]
    fast.claim(ANNA, parent)
    for note in ("note: customer called yesterday too", "// checking the ticket"):
        fast.reply(ANNA, parent, note)
    assert fast.x.said() == []


def test_someone_who_is_not_an_agent_cannot_claim(make_fast) -> None:
    fast = make_fast(text=_agents_only(ANNA, BEN))
    parent = fast.parent(fast.tweet("@Telekom_hilft router broken"))
    fast.claim(CARL, parent)
    assert fast.slack.told(CARL) == ["Only agents can claim cases. Ask an admin to add you."]
    assert f"<@{CARL}>" not in claimer_shown(fast, parent)


def test_releasing_lets_another_agent_claim_and_only_the_claimer_resolves(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft internet gone"))
    fast.claim(ANNA, parent)
    fast.desk.reaction_removed(ANNA, parent.channel, parent.ts, fast.settings.emoji.claim)
    fast.claim(BEN, parent)
    fast.desk.reaction_added(ANNA, parent.channel, parent.ts, fast.settings.emoji.resolve)
    fast.drain()
    assert "Only the agent who claimed this case" in fast.slack.told(ANNA)[0]
    fast.desk.reaction_added(BEN, parent.channel, parent.ts, fast.settings.emoji.resolve)
    fast.drain()
    case = fast.store.case_by_parent(parent.channel, parent.ts)
    assert case is not None and case.resolved_by == BEN


def test_a_reply_whose_event_comes_three_times_is_tweeted_once(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft is there an outage?"))
    fast.claim(ANNA, parent)
    for _ in range(3):
        fast.desk.message(ANNA, parent.channel, "1800000000.000001", parent.ts, "No outage known.")
        fast.drain()
    assert fast.x.said() == ["No outage known. ^AN"]


def test_a_reply_x_refuses_is_marked_failed_with_the_reason_in_words(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft router"))
    fast.claim(ANNA, parent)
    fast.x.fail(XRefused("X refused: You are not permitted to perform this action."))
    ts = fast.reply(ANNA, parent, "Hello")
    assert (parent.channel, ts, "x") in fast.slack.reactions
    assert any("not permitted" in text for text in fast.slack.thread(parent.channel, parent.ts))
    assert fast.x.said() == []


def test_a_reply_whose_answer_from_x_was_lost_is_found_there_not_tweeted_again(fast: FastDesk) -> None:
    tweet = fast.tweet("@Telekom_hilft router")
    parent = fast.parent(tweet)
    fast.claim(ANNA, parent)
    fast.x.lost_answers = 1  # the tweet reaches X, its answer never reaches the bridge
    ts = fast.reply(ANNA, parent, "Hello")
    assert (parent.channel, ts, "outbox_tray") not in fast.slack.reactions
    fast.hurry()
    fast.drain()
    assert fast.x.said() == ["Hello ^AN"]
    assert fast.x.calls.count("find_reply") == 1 and (parent.channel, ts, "outbox_tray") in fast.slack.reactions


def _agents_only(*agents: str) -> str:
    from tests.harness import BASE_SETTINGS

    listed = ", ".join(f'"{a}"' for a in agents)
    return BASE_SETTINGS.replace("agents = []", f"agents = [{listed}]", 1)
