"""Admins change the desk from Slack (SPEC "Admins at work in Slack"): each command a signed,
form-encoded slash-command request to the real ``web``; each change seen in what the desk then does."""

from __future__ import annotations

import re
import tomllib

import pytest

from bridge.core.models import Author, Tweet, TweetId, UserId
from bridge.core.rules import route
from bridge.core.settings import load
from tests.harness import (
    ADMIN,
    ANNA,
    BASE_SETTINGS,
    BEN,
    CARL,
    DSL,
    GENERAL,
    MOBILE,
    WS_ADMIN,
    Desk,
    drained,
    said,
)

BILLING, PRIVATE, OLD = "C0BILLING1", "G0PRIVATE1", "C0ARCHIVE1"


@pytest.fixture
def desk(make_desk, slack_emu) -> Desk:
    slack_emu.add_channel(BILLING, "billing")  # public, the bot not in it yet
    slack_emu.add_channel(PRIVATE, "vip")  # private, the bot not invited
    slack_emu.add_channel(OLD, "old-team", bot_is_member=True)
    slack_emu.archive(OLD)
    return make_desk()


def xdesk(desk: Desk, user: str, text: str, retries: int = 0) -> str:
    """What ``user`` is shown after typing ``/xdesk <text>`` (Slack sends the text escaped)."""
    status, body = desk.slack.command(user, GENERAL, text, retries=retries)
    assert status == 200
    return body


def routed_to(desk: Desk, text: str) -> str:
    """The channel the case of a new tweet saying ``text`` is posted in."""
    tweet_id = desk.tweet(text)
    found: list[str] = []

    def posted() -> bool:
        for channel in (GENERAL, DSL, MOBILE, BILLING):
            for message in desk.slack.messages(channel):
                if (message.get("metadata") or {}).get("event_payload", {}).get("tweet_id") == tweet_id:
                    found.append(channel)
                    return True
        return False

    desk.wait_for(posted)
    return found[0]


def test_a_topic_added_in_slack_routes_the_next_tweet_and_the_bot_joins_its_channel(desk: Desk) -> None:
    assert routed_to(desk, "@Telekom_hilft my invoice is wrong") == GENERAL
    answer = xdesk(desk, ADMIN, f"topic add Billing <#{BILLING}|billing> keywords=invoice,bill")
    assert "Added topic *Billing*" in answer and "checked last (place 3)" in answer, answer
    assert desk.slack.bot_is_member(BILLING)  # else claims and replies there would never be heard
    assert routed_to(desk, "@Telekom_hilft another invoice problem") == BILLING
    listing = xdesk(desk, ANNA, "topics")  # anyone may look
    assert re.search(r"3\. \*Billing\* → <#C0BILLING1> \(keywords: invoice, bill\) _\(changed in Slack by "
                     r"<@U0ADMIN001>, \d{4}-\d\d-\d\d \d\d:\d\d UTC\)_", listing), listing
    assert "1. *DSL* → <#C0DSLTEAM1>" in listing and "_(from settings.toml)_" in listing


def test_set_order_and_remove_change_routing_and_leave_open_cases_where_they_are(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router and 5g are both down"))
    assert parent["channel"] == DSL  # first match wins: DSL is checked first
    assert "Routing order now: 1. Mobile, 2. DSL." in xdesk(desk, ADMIN, "topic order Mobile 1")
    assert routed_to(desk, "@Telekom_hilft router and 5g again") == MOBILE
    answer = xdesk(desk, ADMIN, "topic set DSL keywords=glasfaser hashtags=")
    assert "keywords: dsl, router, internet → glasfaser" in answer, answer
    assert routed_to(desk, "@Telekom_hilft my router is dead") == GENERAL
    assert routed_to(desk, "@Telekom_hilft glasfaser when?") == DSL
    answer = xdesk(desk, ADMIN, "topic remove dsl")  # names are matched whatever their case
    assert "Removed topic *DSL*" in answer and "its open cases stay where they are" in answer, answer
    assert routed_to(desk, "@Telekom_hilft glasfaser please") == GENERAL
    # The case opened in DSL's channel stays there, and its thread still works.
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.reply(ANNA, parent, "We are on it")
    desk.wait_for(lambda: any(t["text"].startswith("We are on it") for t in desk.x.posted))
    assert desk.x.posted[-1]["text"] == "We are on it ^AN"


def test_a_command_delivered_twice_changes_once_and_is_answered_alike(desk: Desk) -> None:
    xdesk(desk, ADMIN, f"topic add Billing <#{BILLING}> keywords=invoice", retries=1)
    answers = desk.slack.deliveries[-1].responses
    assert len(answers) == 2 and answers[0] == answers[1], answers
    assert xdesk(desk, ADMIN, "audit").count("topic add Billing") == 1
    assert xdesk(desk, ADMIN, "topics").count("*Billing*") == 1


def test_anyone_but_an_admin_changes_nothing(desk: Desk) -> None:
    before = xdesk(desk, ADMIN, "config")
    for user in (ANNA, CARL):
        for text in ("topic remove DSL", f"topic add Billing <#{BILLING}>", f"agent add <@{CARL}> ^CO",
                     "hours monday closed", "holiday add 2026-12-24", "topic order Mobile 1"):
            assert "Only admins may change the desk" in xdesk(desk, user, text)
        assert "Only admins" in xdesk(desk, user, "audit")
        assert "Only admins" in xdesk(desk, user, "config")
    assert xdesk(desk, ADMIN, "config") == before
    assert routed_to(desk, "@Telekom_hilft router down") == DSL
    # A Slack workspace admin who is not in settings.toml may (SPEC: "and Slack workspace admins").
    assert "Removed topic *Mobile*" in xdesk(desk, WS_ADMIN, "topic remove Mobile")


@pytest.mark.parametrize(("text", "told"), [
    ("topic add Billing notachannel", "Use `/xdesk topic add NAME #channel"),
    ("topic add DSL <#C0BILLING1|billing>", "a topic named 'DSL' exists already"),
    ("topic add Billing <#C0BILLING1> colour=red", "Use `/xdesk topic add NAME #channel"),
    ("topic set Nope keywords=a", "there is no topic named 'Nope' (topics: DSL, Mobile)"),
    ("topic set DSL", "Use `/xdesk topic set NAME [#channel]"),
    ("topic set DSL languages=x", "topics.languages.0: String should have at least 2 characters"),
    ("topic order DSL 9", "place 9 is not between 1 and 2"),
    ("topic order DSL first", "Use `/xdesk topic order NAME N`"),
    ("topic remove", "Use `/xdesk topic remove NAME`"),
    ("topic rename DSL Fibre", "Use `/xdesk topic add"),
    # Slack does not show the bot a private channel it was not invited to.
    (f"topic add VIP <#{PRIVATE}|vip>", "if the channel is private, invite the bot there with `/invite @xdesk` first"),
    (f"topic add Old <#{OLD}|old-team>", "is archived: unarchive it or choose another channel"),
    ("topic add Ghost C0NOWHERE1", "Slack finds no channel C0NOWHERE1 the bot can see"),
    ("agent add <@U0CARL0003>", "an agent needs a signature"),
    ("agent add someone ^SO", "Use `/xdesk agent add @user SIGNATURE`"),
    ("agent remove <@U0CARL0003>", "<@U0CARL0003> is not an agent"),
    ("hours monday 20:00-08:00", "expected opening hours like \"08:00-20:00\", got '20:00-08:00'"),
    ("hours someday 08:00-20:00", "Use `/xdesk hours monday 08:00-20:00`"),
    ("holiday add tomorrow", "Use `/xdesk holiday add 2026-12-24`"),
    ("holiday remove 2026-12-24", "2026-12-24 is not a holiday"),
])
def test_bad_input_is_answered_with_the_correct_form_and_changes_nothing(desk: Desk, text: str, told: str) -> None:
    before = xdesk(desk, ADMIN, "config")
    answer = xdesk(desk, ADMIN, text)
    assert told in answer, answer
    assert answer.startswith(("Nothing changed", "That is not a form I know")), answer
    assert xdesk(desk, ADMIN, "config") == before
    assert xdesk(desk, ADMIN, "audit") == "No changes were made in Slack yet."


def test_agents_added_and_removed_in_slack_sign_and_may_act_or_not(desk: Desk) -> None:
    answer = xdesk(desk, ADMIN, f"agent add <@{CARL}|carl> ^CO")
    # The file let anyone act; now only the listed agents may (those it gave a signature, and Carl).
    assert f"<@{CARL}> is an agent, signing `^CO`" in answer and "<@U0ANNA0001>, <@U0BEN00002>" in answer, answer
    parent = desk.parent_of(desk.tweet("@Telekom_hilft my router blinks"))
    desk.claim(CARL, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, CARL))
    desk.reply(CARL, parent, "Please restart it")
    desk.wait_for(lambda: any(t["text"] == "Please restart it ^CO" for t in desk.x.posted))
    answer = xdesk(desk, ADMIN, f"agent remove <@{CARL}>")
    assert "no longer an agent" in answer and "case 1 in <#C0DSLTEAM1>" in answer, answer  # theirs to hand over
    assert desk.claimed_by(parent, CARL)  # removing releases nothing by itself
    desk.reply(CARL, parent, "One more thing")
    desk.wait_for(lambda: any("You are no longer an agent on this desk, so nothing was tweeted" in said(e)
                              for e in desk.slack.ephemerals if e.get("user") == CARL))
    drained(desk)
    assert not any(t["text"].startswith("One more thing") for t in desk.x.posted)
    listing = xdesk(desk, BEN, "agents")
    assert "<@U0CARL0003>" not in listing and "• <@U0ANNA0001>: `^AN`" in listing, listing


def test_hours_and_holidays_from_slack(desk: Desk) -> None:
    assert "No service hours: the desk is always open" in xdesk(desk, ANNA, "hours")
    assert "Monday: closed, from now on." in xdesk(desk, ADMIN, "hours monday closed")
    assert "Tuesday: 08:00-12:00, 13:00-20:00" in xdesk(desk, ADMIN, "hours tuesday 08:00-12:00,13:00-20:00")
    assert "2026-12-24 is a holiday now" in xdesk(desk, ADMIN, "holiday add 2026-12-24")
    shown = xdesk(desk, ANNA, "hours")
    for line in ("• Monday: closed", "• Tuesday: 08:00-12:00, 13:00-20:00", "• Wednesday: 00:00-24:00",
                 "Holidays: 2026-12-24"):
        assert line in shown, shown
    assert desk.rt.current.hours is not None and desk.rt.current.hours.monday == []
    assert "no holiday any more" in xdesk(desk, ADMIN, "holiday remove 2026-12-24")


def test_config_is_settings_toml_text_that_gives_the_same_routing(desk: Desk, tmp_path, monkeypatch) -> None:
    xdesk(desk, ADMIN, f"topic add Billing <#{BILLING}> keywords=invoice hashtags=rechnung languages=de")
    xdesk(desk, ADMIN, "topic order Billing 1")
    xdesk(desk, ADMIN, f"agent add <@{CARL}> ^CO")
    xdesk(desk, ADMIN, "hours friday 08:00-16:00")
    answer = xdesk(desk, ADMIN, "config")
    text = answer.split("```\n", 1)[1].rsplit("```", 1)[0]
    tomllib.loads(text)
    (tmp_path / "exported.toml").write_text(text)
    monkeypatch.setenv("BRIDGE_SETTINGS", str(tmp_path / "exported.toml"))
    exported, live = load(), desk.rt.current
    assert exported.topics == live.topics and [t.name for t in exported.topics] == ["Billing", "DSL", "Mobile"]
    assert exported.agents == live.agents and exported.slack.agents == live.slack.agents
    assert exported.hours == live.hours
    customer = Author(UserId("42"), "kunde", "Kunde")
    tweets = [Tweet(TweetId(str(i)), text, customer, lang=lang) for i, (text, lang) in enumerate([
        ("invoice for my router", "en"), ("#rechnung 5g", "en"), ("nothing at all", "en"), ("roaming and dsl", "en"),
        ("nichts", "de")])]
    routes = [route(t, exported.topics, exported.slack.default_channel) for t in tweets]
    assert routes == [route(t, live.topics, live.slack.default_channel) for t in tweets]
    assert [name for name, _ in routes] == ["Billing", "Billing", None, "DSL", "Billing"]


def test_changes_are_posted_to_the_audit_channel_once(make_desk, slack_emu) -> None:
    slack_emu.add_channel(BILLING, "billing")
    desk = make_desk(text=_with_audit_channel())
    xdesk(desk, ADMIN, "topic order Mobile 1", retries=2)
    desk.wait_for(lambda: any("changed the desk: topic order Mobile 1" in said(m) for m in slack_emu.messages(MOBILE)))
    drained(desk)
    posts = [m for m in slack_emu.messages(MOBILE) if "changed the desk" in said(m)]
    assert len(posts) == 1 and f"<@{ADMIN}> changed the desk" in said(posts[0])


def _with_audit_channel() -> str:
    return BASE_SETTINGS.replace('agents = []\n', f'agents = []\naudit_channel = "{MOBILE}"\n', 1)


def test_with_admin_changes_off_the_file_alone_counts(make_desk, desk: Desk) -> None:
    xdesk(desk, ADMIN, "topic remove DSL")
    assert routed_to(desk, "@Telekom_hilft router down") == GENERAL
    desk.close()
    off = make_desk(text=BASE_SETTINGS.replace('agents = []\n', 'agents = []\nadmin_changes = false\n', 1))
    assert routed_to(off, "@Telekom_hilft router still down") == DSL  # the earlier change no longer applies
    assert "Changes from Slack are turned off" in xdesk(off, ADMIN, "topic remove Mobile")
    assert "*Mobile*" in xdesk(off, ANNA, "topics")


def test_admins_make_the_same_changes_by_clicking_in_the_app_home(desk: Desk, slack_emu) -> None:
    assert slack_emu.open_home(ANNA)[0] == 200
    desk.wait_for(lambda: slack_emu.home(ANNA) is not None)
    assert not [b for b in slack_emu.home(ANNA)["blocks"] if b["type"] == "actions"]  # an agent only looks
    assert slack_emu.open_home(ADMIN)[0] == 200
    desk.wait_for(lambda: slack_emu.home(ADMIN) is not None)
    buttons = [e["text"]["text"] for b in slack_emu.home(ADMIN)["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert buttons == ["Topics…", "Agents…", "Service hours…"]

    def modal(action_id: str) -> dict:
        assert slack_emu.click_in_home(ADMIN, action_id)[0] == 200
        desk.wait_for(lambda: slack_emu.open_view(ADMIN) is not None)
        return slack_emu.open_view(ADMIN)

    view = modal("xdesk_admin_topic")
    slack_emu.type_in_view(ADMIN, view["id"], "name", "value", "DSL")  # "Add a topic" is chosen first
    slack_emu.choose_conversation(ADMIN, view["id"], "channel", BILLING)
    slack_emu.submit_view(ADMIN, view["id"])
    assert "a topic named 'DSL' exists already" in slack_emu.view_errors(view["id"])["action"]  # stays open
    slack_emu.type_in_view(ADMIN, view["id"], "name", "value", "Billing")
    slack_emu.type_in_view(ADMIN, view["id"], "keywords", "value", "invoice, bill")
    slack_emu.submit_view(ADMIN, view["id"])
    shown = said({"blocks": slack_emu.open_view(ADMIN)["blocks"]})
    assert "Added topic *Billing* → <#C0BILLING1> (keywords: invoice, bill)" in shown, shown
    assert routed_to(desk, "@Telekom_hilft invoice trouble") == BILLING

    view = modal("xdesk_admin_agent")
    slack_emu.choose_user(ADMIN, view["id"], "user", CARL)
    slack_emu.type_in_view(ADMIN, view["id"], "signature", "value", "^CO")
    slack_emu.submit_view(ADMIN, view["id"])
    assert "• <@U0CARL0003>: `^CO`" in xdesk(desk, ANNA, "agents")

    view = modal("xdesk_admin_hours")
    slack_emu.choose_option(ADMIN, view["id"], "day", "sunday")
    slack_emu.type_in_view(ADMIN, view["id"], "value", "value", "10:00-14:00")
    slack_emu.submit_view(ADMIN, view["id"])
    assert "• Sunday: 10:00-14:00" in xdesk(desk, ANNA, "hours")
    audit = xdesk(desk, ADMIN, "audit")
    assert audit.index("hours sunday") < audit.index("agent add") < audit.index("topic add Billing")


def test_the_manifest_asks_for_what_the_desk_uses_and_not_for_posting_where_the_bot_is_no_member() -> None:
    from pathlib import Path

    manifest = (Path(__file__).resolve().parent.parent / "slack-manifest.yml").read_text()
    scopes_block = manifest.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    scopes = set(re.findall(r"^\s+- ([a-z_.:]+)", scopes_block, re.MULTILINE))
    assert {"channels:join", "channels:read", "groups:read", "commands", "users:read"} <= scopes
    # The bot joins every channel it posts in (else it would not hear claims there): no posting as an outsider.
    assert "chat:write.public" not in scopes
    events = set(re.findall(r"^\s+- ([a-z_.]+)$", manifest.split("bot_events:\n", 1)[1].split("interactivity", 1)[0],
                            re.MULTILINE))
    assert {"app_home_opened", "message.channels", "message.groups", "reaction_added", "reaction_removed"} == events
    assert re.search(r"should_escape: true", manifest) and re.search(r"home_tab_enabled: true", manifest)


def test_at_start_the_bot_joins_every_public_channel_of_the_desk_and_names_those_it_cannot_use(
        make_desk, slack_emu, caplog) -> None:
    slack_emu.add_channel(BILLING, "billing")
    slack_emu.add_channel(OLD, "old-team", bot_is_member=True)
    slack_emu.archive(OLD)
    topics = f'\n[[topics]]\nname = "Billing"\nchannel = "{BILLING}"\nkeywords = ["invoice"]\n' \
             f'\n[[topics]]\nname = "Old"\nchannel = "{OLD}"\nkeywords = ["fax"]\n'
    with caplog.at_level("ERROR"):
        make_desk(topics)
    assert slack_emu.bot_is_member(BILLING)  # before any case goes there: claims in it are heard
    assert f"slack.channel_unusable channel={OLD}" in caplog.text and "is archived" in caplog.text
