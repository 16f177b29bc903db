"""Edits and deletes of replies, and direct messages, on the in-memory desk."""

from __future__ import annotations

from bridge.core.models import Author, UserId
from bridge.desk.edits import RESEND_ACTION  # noqa: F401 - the button the offers carry
from bridge.x.errors import RateLimited, XRefused, XUnavailable
from tests.fast.kit import FastDesk
from tests.harness import ANNA, BEN, DSL

DMS_ON = "\n[dm]\nenabled = true\n"
KLAUS = Author(UserId("4242"), "kunde_klaus", "Klaus", 12)


def tweeted(fast: FastDesk, text: str = "We restarted the port, please try again."):
    tweet = fast.tweet("@Telekom_hilft my router is dead")
    parent = fast.parent(tweet)
    fast.claim(ANNA, parent)
    ts = fast.reply(ANNA, parent, text)
    return tweet, parent, ts


def test_an_edit_of_a_tweeted_reply_is_offered_once_and_a_double_click_replaces_the_tweet_once(
        fast: FastDesk) -> None:
    tweet, parent, ts = tweeted(fast)
    [(old, _, _)] = fast.x.replies
    for _ in range(2):  # the same edit event twice
        fast.edits.changed(ANNA, parent.channel, ts, parent.ts, "We restarted the port, please try again.",
                           "Please restart the router too.", "1900000000.000001")
        fast.drain()
    [offer] = fast.offers(ANNA)
    assert "can't be edited" in fast.slack.told(ANNA)[0]
    for _ in range(2):
        fast.edits.resend(ANNA, offer)
        fast.drain()
    assert fast.x.deleted == [old] and fast.x.said() == ["Please restart the router too. ^AN"]
    assert fast.x.replies[0][2] == tweet.id
    assert fast.notices(parent, "edited their reply")


def test_an_edit_adding_personal_data_is_not_offered(fast: FastDesk) -> None:
    _, parent, ts = tweeted(fast, "Please send us your contract number.")
    fast.edit(ANNA, parent, ts, "Please send us your contract number.", "Please call me at +49 171 2345678.")
    assert fast.offers(ANNA) == [] and any("personal data" in t for t in fast.slack.told(ANNA))
    assert fast.x.said() == ["Please send us your contract number. ^AN"]


def test_when_x_refuses_to_delete_the_old_tweet_the_new_text_is_not_tweeted(fast: FastDesk) -> None:
    _, parent, ts = tweeted(fast)
    fast.edit(ANNA, parent, ts, "We restarted the port, please try again.", "Please restart the router too.")
    fast.x.fail(XRefused("X refused: You are not allowed to delete this Tweet."))
    fast.edits.resend(ANNA, fast.offers(ANNA)[0])
    fast.drain()
    [told] = fast.notices(parent, "could not be deleted on X")
    assert "The new text was not tweeted either" in told
    assert fast.x.said() == ["We restarted the port, please try again. ^AN"]


def test_only_the_author_holding_the_case_can_replace_the_tweet(fast: FastDesk) -> None:
    _, parent, ts = tweeted(fast)
    fast.edit(ANNA, parent, ts, "We restarted the port, please try again.", "Please restart the router too.")
    fast.desk.reaction_removed(ANNA, parent.channel, parent.ts, fast.settings.emoji.claim)
    fast.claim(BEN, parent)
    fast.edits.resend(ANNA, fast.offers(ANNA)[0])
    fast.drain()
    assert "you no longer hold this case" in fast.slack.told(ANNA)[-1]
    assert fast.x.deleted == []


def test_deleting_a_tweeted_reply_in_slack_deletes_its_tweet_once(fast: FastDesk) -> None:
    _, parent, ts = tweeted(fast)
    [(old, _, _)] = fast.x.replies
    fast.delete(ANNA, parent, ts)
    fast.edits.deleted(ANNA, parent.channel, ts, parent.ts)  # Slack says it again
    fast.drain()
    assert fast.x.deleted == [old] and fast.x.calls.count("delete_tweet") == 1
    assert len(fast.notices(parent, "deleted their reply in Slack")) == 1


def test_a_reply_deleted_while_it_waits_for_xs_rate_limit_is_never_tweeted(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft my router is dead"))
    fast.claim(ANNA, parent)
    fast.x.fail(RateLimited(None, daily=False))
    ts = fast.reply(ANNA, parent, "This waits for X")
    fast.delete(ANNA, parent, ts)
    fast.hurry()
    fast.drain()
    assert fast.x.said() == [] and fast.x.calls.count("post_reply") == 1


def test_a_dm_opens_a_private_case_and_the_claimers_reply_goes_back_as_a_dm(make_fast) -> None:
    fast = make_fast(DMS_ON)
    message = fast.dm("My router is dead since Monday, my customer number is 4711", KLAUS)
    parent = fast.parent(message)
    assert parent.channel == DSL
    fast.claim(ANNA, parent)
    ts = fast.reply(ANNA, parent, "Thanks, we'll reset your line now.")
    [(_, to, text, _)] = fast.direct.sent
    assert (to, text) == (KLAUS.id, "Thanks, we'll reset your line now. ^AN")
    assert (parent.channel, ts, "outbox_tray") in fast.slack.reactions
    assert fast.x.said() == []

    fast.dm("It works again, thank you!", KLAUS)
    assert len(fast.slack.parents(DSL)) == 1  # the same case
    too_long = fast.reply(ANNA, parent, "a" * 9_998)
    assert (parent.channel, too_long, "x") in fast.slack.reactions
    assert any("10,000 characters" in t for t in fast.slack.told(ANNA)) and len(fast.direct.sent) == 1


def test_a_dm_reply_cannot_be_edited_and_deleting_it_while_queued_stops_it(make_fast) -> None:
    fast = make_fast(DMS_ON)
    parent = fast.parent(fast.dm("Router dead", KLAUS))
    fast.claim(ANNA, parent)
    ts = fast.reply(ANNA, parent, "We'll call you.")
    fast.edit(ANNA, parent, ts, "We'll call you.", "We'll call you tomorrow.")
    assert "A direct message can't be edited" in fast.slack.told(ANNA)[-1]

    fast.direct.fail(RateLimited(None, daily=False))
    queued = fast.reply(ANNA, parent, "One more thing")
    fast.delete(ANNA, parent, queued)
    fast.hurry()
    fast.drain()
    assert [text for _, _, text, _ in fast.direct.sent] == ["We'll call you. ^AN"]


def test_asking_for_a_dm_tweets_once_and_the_dm_joins_the_public_case(make_fast) -> None:
    fast = make_fast(DMS_ON)
    tweet = fast.x.customer_tweets("@Telekom_hilft my router is dead", author="kunde_klaus")
    fast.poller.poll_now()
    fast.drain()
    parent = fast.parent(tweet)
    fast.claim(ANNA, parent)
    for _ in range(2):
        fast.desk.reaction_added(ANNA, parent.channel, parent.ts, fast.settings.emoji.ask_dm)
        fast.drain()
    assert fast.x.said() == ["@kunde_klaus We'd like to help with this privately: please send us a direct "
                             "message. ^AN"]
    fast.dm("Here I am, customer number 4711", tweet.author)
    assert len(fast.slack.parents(parent.channel)) == 1
    fast.reply(ANNA, parent, "Thanks, found your contract. Call us on 0228 1234567.")
    assert [text for _, _, text, _ in fast.direct.sent] == ["Thanks, found your contract. Call us on 0228 1234567. ^AN"]


def test_a_split_reply_deleted_while_its_first_part_is_sent_tweets_no_second_part(fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft router question"))
    fast.claim(ANNA, parent)
    words = "Please restart the router, wait two minutes, then check the DSL light. " * 5
    seen: list[str] = []

    def agent_deletes_it(text: str) -> None:  # X is busy with part 1 when the agent deletes the message
        seen.append(text)
        if len(seen) == 1:
            fast.slack.messages[parent.channel].remove(fast.slack.message(parent.channel, ts))
            fast.edits.deleted(ANNA, parent.channel, ts, parent.ts)

    fast.x.while_posting = agent_deletes_it
    ts = fast.slack.say(ANNA, parent.channel, words.strip(), parent.ts)
    fast.desk.message(ANNA, parent.channel, ts, parent.ts, words.strip())
    fast.drain()
    assert len(seen) == 1 and seen[0].endswith("1/2 ^AN")  # part 2 was never sent
    assert fast.x.said() == [] and len(fast.x.deleted) == 1
    assert fast.notices(parent, "deleted their reply in Slack")


def test_a_split_reply_deleted_while_its_second_part_waits_after_a_lost_answer_tweets_no_more(
        fast: FastDesk) -> None:
    parent = fast.parent(fast.tweet("@Telekom_hilft router question"))
    fast.claim(ANNA, parent)
    words = ("Please restart the router, wait two minutes, then check the DSL light. " * 5).strip()
    attempts: list[str] = []

    def second_part_times_out(text: str) -> None:
        attempts.append(text)
        if len(attempts) == 2:  # X never answers part 2's first attempt (nor takes it)
            raise XUnavailable("X did not answer POST /2/tweets in time; the bridge will retry")

    fast.x.while_posting = second_part_times_out
    ts = fast.reply(ANNA, parent, words)
    assert len(fast.x.said()) == 1  # part 1 is out, part 2 waits to be looked for
    fast.delete(ANNA, parent, ts)
    fast.hurry()
    fast.drain()
    assert len(attempts) == 2 and fast.x.said() == []  # looked for, not found, not sent: and part 1 deleted
    assert fast.notices(parent, "deleted their reply in Slack")
