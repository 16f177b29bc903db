"""The rules of admins' changes, on the in-memory desk: who wins when two admins change the same thing,
the settings every process works with, and what the file's rules refuse."""

from __future__ import annotations

import threading

import pytest

from bridge.core.desk_config import Overlay, TopicChange, effective
from bridge.core.settings import Topic
from bridge.storage.desk_config import DeskConfig, LiveSettings
from tests.fast.kit import FastDesk
from tests.harness import ADMIN, ANNA, BASE_SETTINGS, BEN, DSL, WS_ADMIN


def test_two_admins_changing_one_topic_at_the_same_moment_one_wins_whole_the_other_is_told(
        fast: FastDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    fast.slack.admins.add(WS_ADMIN)
    config = fast.desk.admin.config
    first_reads = threading.Barrier(2)
    read = DeskConfig.snapshot
    seen: set[int] = set()

    def together(self: DeskConfig):  # both read the desk before either commits: the same moment
        snap = read(self)
        if threading.get_ident() not in seen:
            seen.add(threading.get_ident())
            first_reads.wait(timeout=10)
        return snap

    monkeypatch.setattr(DeskConfig, "snapshot", together)
    answers: dict[str, str] = {}

    def change(user: str, words: list[str]) -> None:
        answers[user] = fast.desk.admin.command(user, "topic", ["set", "DSL", *words], f"cmd-{user}").text

    threads = [threading.Thread(target=change, args=(ADMIN, ["keywords=glasfaser", "hashtags=fibre"])),
               threading.Thread(target=change, args=(WS_ADMIN, ["keywords=vdsl", "languages=de"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    monkeypatch.setattr(DeskConfig, "snapshot", read)
    won = [user for user, text in answers.items() if text.startswith("Changed topic *DSL*")]
    lost = [user for user, text in answers.items() if "changed this at the same moment" in text]
    assert len(won) == 1 and len(lost) == 1, answers
    assert f"<@{won[0]}> changed this at the same moment, and their change stands" in answers[lost[0]]
    topic = next(t for t in fast.live.now.topics if t.name == "DSL")
    whole = {ADMIN: (["glasfaser"], ["fibre"], []), WS_ADMIN: (["vdsl"], [], ["de"])}[won[0]]
    assert (topic.keywords, topic.hashtags, topic.languages) == whole  # the winner's, nothing of the other's
    assert len(config.audit()) == 1


def test_changes_to_different_things_at_the_same_moment_both_land(fast: FastDesk) -> None:
    config = fast.desk.admin.config
    stale = config.snapshot()
    assert fast.desk.admin.command(ADMIN, "topic", ["set", "Mobile", "keywords=lte"], "one").changed
    # Made from the version before the other: it is made again on the newest, since it touches DSL only.
    answer = fast.desk.admin.command(ADMIN, "topic", ["set", "DSL", "keywords=adsl"], "two")
    assert answer.changed and config.snapshot().version == stale.version + 2
    assert [t.keywords for t in fast.live.now.topics] == [["adsl"], ["lte"]]


def test_the_last_agent_is_not_removed_since_none_listed_means_anyone(make_fast) -> None:
    fast = make_fast(text=BASE_SETTINGS.replace('agents = []', f'agents = ["{ANNA}"]', 1))
    answer = fast.desk.admin.command(ADMIN, "agent", ["remove", f"<@{ANNA}>"], "rm")
    assert answer.text.startswith("Nothing changed: <@U0ANNA0001> is the last agent"), answer
    assert fast.live.now.slack.agents == [ANNA]
    assert fast.desk.admin.command(ADMIN, "agent", ["add", f"<@{BEN}>", "^BK"], "add").changed
    assert fast.desk.admin.command(ADMIN, "agent", ["remove", f"<@{ANNA}>"], "rm2").changed
    assert fast.live.now.slack.agents == [BEN]


def test_a_process_takes_each_new_version_whole_and_the_file_alone_when_changes_are_off(fast: FastDesk) -> None:
    other = LiveSettings(fast.live.base, DeskConfig(fast.store))  # another process on the same Redis
    other.refresh()
    assert other.version == 0 and other.topics == fast.live.base.topics
    fast.desk.admin.command(ADMIN, "topic", ["remove", "DSL"], "rm")
    other.refresh()
    assert other.version == 1 and [t.name for t in other.topics] == ["Mobile"]
    off = LiveSettings(fast.live.base.model_copy(update={"slack": fast.live.base.slack.model_copy(
        update={"admin_changes": False})}), DeskConfig(fast.store))
    off.refresh()
    assert [t.name for t in off.topics] == ["DSL", "Mobile"]


def test_a_stored_change_the_file_no_longer_allows_leaves_the_file_in_charge(fast: FastDesk, caplog) -> None:
    # Made in Slack when the file had no such topic; then the file gained a topic of that name elsewhere.
    clash = Topic(name="dsl", channel="C0OTHER001")
    overlay = Overlay(topics={"dsl": TopicChange(topic=clash, by=ADMIN, at=0.0)})
    with pytest.raises(Exception, match="two topics are named 'dsl'"):
        effective(fast.live.base, overlay)
    fast.store.r.hset(fast.store.keys.config, mapping={"version": 7, "overlay": overlay.dump()})
    fast.live.refresh()
    assert fast.live.version == 7 and fast.live.topics == fast.live.base.topics
    assert "config.overlay_refused" in caplog.text and "fix the file or undo the change in Slack" in caplog.text
    assert {t.channel for t in fast.live.topics} == {DSL, "C0MOBILE01"}
