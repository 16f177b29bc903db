"""Who may act: only agents claim and reply, only the claimer or an admin resolves; others are told."""

from __future__ import annotations

import pytest

from tests.harness import ADMIN, ANNA, BASE_SETTINGS, BEN, CARL, WS_ADMIN, Desk, drained

AGENTS_ONLY = BASE_SETTINGS.replace("agents = []", 'agents = ["S0AGENTS01", "U0ADMIN001"]')


def test_only_the_claimer_or_an_admin_resolves(make_desk) -> None:
    desk = make_desk(text=AGENTS_ONLY)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.slack.add_reaction(BEN, parent["channel"], parent["ts"], "white_check_mark")
    desk.slack.add_reaction(CARL, parent["channel"], parent["ts"], "white_check_mark")
    desk.wait_for(lambda: {e["user"] for e in desk.slack.ephemerals} == {BEN, CARL})
    assert "Resolved" not in desk.parent_text(parent)
    desk.slack.add_reaction(ADMIN, parent["channel"], parent["ts"], "white_check_mark")
    desk.wait_for(lambda: "Resolved" in desk.parent_text(parent))


def test_a_workspace_admin_not_listed_in_settings_may_resolve(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.slack.add_reaction(WS_ADMIN, parent["channel"], parent["ts"], "white_check_mark")
    desk.wait_for(lambda: "Resolved" in desk.parent_text(parent))


def test_someone_not_an_agent_writing_in_an_unclaimed_case_changes_nothing(make_desk) -> None:
    desk = make_desk(text=AGENTS_ONLY)
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.reply(CARL, parent, "I can help!")
    desk.claim(CARL, parent)
    desk.wait_for(lambda: any(e["user"] == CARL and "agents" in e["text"] for e in desk.slack.ephemerals))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    assert desk.x.posted == [] and not desk.claimed_by(parent, CARL)


@pytest.mark.parametrize("subtype", ["thread_broadcast", "file_share"])
def test_a_claimers_reply_of_a_kind_not_tweeted_is_explained_not_sent(desk: Desk, subtype: str) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.slack.post_user_message(ANNA, parent["channel"], "Here you go", thread_ts=parent["ts"], subtype=subtype)
    desk.wait_for(lambda: any(e["user"] == ANNA and "Not tweeted" in e["text"] for e in desk.slack.ephemerals))
    assert desk.x.posted == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "subtype": "message_changed", "channel": "C0DSLTEAM1", "hidden": True,
         "message": {"type": "message", "user": ANNA, "text": "edited", "ts": "1.1"}},
        {"type": "message", "subtype": "some_future_subtype", "channel": "C0DSLTEAM1", "ts": "1.2"},
        {"type": "message", "channel": "C0DSLTEAM1"},
        {"type": "message", "user": ANNA, "channel": "C0DSLTEAM1", "ts": "1.3", "thread_ts": "1.0", "text": None},
        {"type": "reaction_added", "user": ANNA, "reaction": "eyes", "item": {"type": "message"}},
        {"type": "message", "bot_id": "B0OTHER01", "channel": "C0DSLTEAM1", "text": "bot", "ts": "1.4",
         "thread_ts": "1.0"},
    ],
)
def test_malformed_or_unexpected_events_are_acknowledged_and_change_nothing(desk: Desk, event: dict) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    drained(desk)  # Slack shows the parent a moment before its job is done: count from an empty outbox
    event = {k: (parent["ts"] if v == "1.0" else v) for k, v in event.items()}
    assert desk.slack.deliver(event) == [200]
    assert desk.rt.store.outbox.pending() == 0
    assert desk.slack.ephemerals == [] and desk.x.posted == []
