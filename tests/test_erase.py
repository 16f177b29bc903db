"""Erasing and exporting a customer (SPEC "Personal data"): ``python -m bridge erase|export`` as an
operator runs them, against the running bridge's Redis and Slack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from tests.harness import ANNA, DSL, GENERAL, MOBILE, Desk, block_text, claimed_case, drained, eventually

DMS_ON = "\n[dm]\nenabled = true\nmin_poll_interval = 0.2\n"
ERIKA = {"username": "kundin_erika", "name": "Erika Mustermann"}


def bridge(desk: Desk, *args: str, crash_at: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **desk.env, "BRIDGE_SETTINGS": os.environ["BRIDGE_SETTINGS"],
           **({"XDESK_CRASH_AT": crash_at} if crash_at else {})}
    return subprocess.run([sys.executable, "-m", "bridge", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def everything_in_redis(desk: Desk) -> str:
    """Every key and value in Redis, as one text."""
    r: redis.Redis = desk.rt.redis
    out = []
    for key in r.scan_iter("*", count=1000):
        kind = r.type(key)
        value = {"string": lambda k: r.get(k), "hash": lambda k: r.hgetall(k), "list": lambda k: r.lrange(k, 0, -1),
                 "set": lambda k: r.smembers(k), "zset": lambda k: r.zrange(k, 0, -1)}.get(kind, lambda k: "")(key)
        out.append(f"{key} {value}")
    return "\n".join(out)


def everything_in_slack(desk: Desk) -> str:
    """Every message in Slack, text, blocks and metadata, threads included."""
    out = []
    for channel in (GENERAL, DSL, MOBILE):
        for message in desk.slack.messages(channel):
            for m in [message, *desk.slack.thread(channel, message["ts"])]:
                out.append(json.dumps({k: m.get(k) for k in ("text", "blocks", "metadata", "attachments", "files")}))
    return "\n".join(out)


@pytest.fixture
def two_customers(make_desk) -> tuple[Desk, dict[str, str]]:
    """Erika with three cases (a follow-up and an answer in one, a DM, a tweet) and kunde_klaus with one."""
    desk = make_desk(DMS_ON)
    desk.x.add_user(ERIKA["username"], ERIKA["name"], followers=42)
    first, parent = claimed_case(desk, "@Telekom_hilft my router blinks red, Musterstrasse 5")  # kunde_klaus's
    desk.parent_of(desk.tweet("@Telekom_hilft and my 5g bill is wrong, Klaus"))  # his second case
    erika_tweets = [desk.tweet("@Telekom_hilft my dsl is gone since Monday", author=ERIKA["username"])]
    erika_parent = desk.parent_of(erika_tweets[0])
    erika_tweets.append(desk.tweet("@Telekom_hilft hello? still no dsl", author=ERIKA["username"],
                                   in_reply_to=erika_tweets[0]))
    desk.wait_for(lambda: any("still no dsl" in block_text(m.get("blocks") or []) for m in desk.thread(erika_parent)))
    desk.claim(ANNA, erika_parent)
    desk.wait_for(lambda: desk.claimed_by(erika_parent, ANNA))
    desk.reply(ANNA, erika_parent, "We are checking your line now")
    desk.x.wait_for_posts(1)
    dm = desk.x.dms.send("Erika here, my contract is 0815-4711", author=ERIKA["username"])
    desk.parent_of(dm)
    second = desk.tweet("@Telekom_hilft and my 5g roaming fails too", author=ERIKA["username"])
    desk.parent_of(second)
    drained(desk)
    erika_id = desk.x.user_id(ERIKA["username"])
    return desk, {"id": erika_id, "bert_case_tweet": first, "bert_parent_ts": parent["ts"]}


def test_erase_leaves_nothing_of_the_customer_in_redis_or_the_bots_messages(two_customers) -> None:
    desk, ids = two_customers
    traces = [ERIKA["username"], ERIKA["name"], ids["id"], "dsl is gone since Monday", "still no dsl",
              "0815-4711", "5g roaming fails"]
    assert all(t in everything_in_redis(desk) + everything_in_slack(desk) for t in traces)

    exported = bridge(desk, "export", "@kundin_erika")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    texts = [m["text"] for case in data["cases"] for m in case["messages"]]
    assert len(data["cases"]) == 3 and data["x_user_id"] == ids["id"]  # two tweet cases and the DM's
    assert "my contract is 0815-4711" in " ".join(texts) and "blinks red" not in exported.stdout  # not kunde_klaus's

    result = bridge(desk, "erase", "kundin_erika")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("erased 3 case(s) of kundin_erika and "), result.stdout
    left = everything_in_redis(desk) + everything_in_slack(desk)
    for trace in traces:
        assert trace not in left, trace
    for his in ("Musterstrasse 5", "5g bill is wrong, Klaus", "kunde_klaus"):  # the other customer is untouched
        assert his in everything_in_slack(desk) and his in everything_in_redis(desk), his
    assert "Erased on request" in everything_in_slack(desk)
    assert "We are checking your line now" in result.stdout or "not erased: 1 message(s) agents wrote" \
        in result.stdout  # the agent's own message, which a bot cannot delete
    audit = desk.rt.redis.lrange("xdesk:config:audit", 0, 0)[0]
    assert "erased 3 case(s)" in audit and "erika" not in audit.lower()

    assert bridge(desk, "export", "kundin_erika").stdout.strip() == "nothing stored for kundin_erika"
    assert bridge(desk, "erase", ids["id"]).returncode == 1

    # Not a ban: her next tweet opens a new case; an old one a search returns again is not posted again.
    new = desk.tweet("@Telekom_hilft a new question about my router", author=ERIKA["username"])
    assert desk.parent_of(new)["ts"]


def test_erase_by_numeric_id_killed_half_way_is_finished_by_a_second_run(two_customers) -> None:
    desk, ids = two_customers
    first = bridge(desk, "erase", ids["id"], crash_at="erase.after_slack")
    assert first.returncode != 0
    assert "Erased on request" in everything_in_slack(desk)  # the Slack half was done
    second = bridge(desk, "erase", ids["id"])
    assert second.returncode == 0, second.stdout + second.stderr
    for trace in (ERIKA["username"], ERIKA["name"], "0815-4711"):
        assert trace not in everything_in_redis(desk) + everything_in_slack(desk)
    assert bridge(desk, "erase", ids["id"]).stdout.strip() == f"nothing stored for {ids['id']}"


def test_resolved_cases_older_than_the_retention_are_erased_once_a_day_and_the_rest_stays(make_desk) -> None:
    from datetime import UTC, datetime

    from tests.clock_helpers import FakeClock

    clock = FakeClock(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    desk = make_desk("\n[privacy]\nretention_days = 30\n", clock=clock)
    old_tweet, old = claimed_case(desk, "@Telekom_hilft my router from October")
    desk.slack.add_reaction(ANNA, old["channel"], old["ts"], "white_check_mark")
    eventually(lambda: desk.rt.store.case_by_parent(old["channel"], old["ts"]).status == "resolved",
               what="resolved")
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    recent = desk.parent_of(desk.tweet("@Telekom_hilft my dsl from November"))  # the same customer, open
    drained(desk)

    clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))  # 31 days after the resolve
    eventually(lambda: "Erased on request" in said_all(desk, old), what="the old case erased")
    drained(desk)
    assert "router from October" not in everything_in_slack(desk) + everything_in_redis(desk)
    assert "dsl from November" in desk.parent_text(recent)  # the open case is the customer's still
    assert desk.rt.store.case_of_tweet(old_tweet) is None


def said_all(desk: Desk, parent: dict) -> str:
    """The parent's text and its thread's."""
    thread = [desk.slack.message(parent["channel"], parent["ts"]) or {}, *desk.thread(parent)]
    return " ".join(m.get("text", "") for m in thread)


def test_logs_carry_ids_never_what_customers_wrote(make_desk, caplog) -> None:
    with caplog.at_level("INFO"):
        desk = make_desk(DMS_ON)
        tweet, parent = claimed_case(desk, "@Telekom_hilft router dead at Geheimweg 7")
        desk.tweet("@Telekom_hilft still dead, Geheimweg 7", in_reply_to=tweet)
        desk.x.dms.send("My IBAN is on its way, Geheimweg 7", author="kunde_klaus")
        desk.reply(ANNA, parent, "We'll send someone")
        desk.x.wait_for_posts(1)
        drained(desk)
    assert "case.new" in caplog.text and tweet in caplog.text  # ids are there
    assert "Geheimweg" not in caplog.text and "kunde_klaus" not in caplog.text


def test_an_admin_erases_a_customer_from_slack_after_confirming(two_customers) -> None:
    from tests.harness import ADMIN, said

    desk, ids = two_customers
    assert desk.slack.command(ANNA, GENERAL, "erase kundin_erika")[1] == "Only admins may erase a customer's data."
    status, body = desk.slack.command(ADMIN, GENERAL, "erase @kundin_erika")
    prompt = json.loads(body)
    assert status == 200 and "This cannot be undone" in prompt["text"]
    [button] = [e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["value"] == "@kundin_erika" and button["confirm"]  # Slack asks once more before it sends
    assert "kundin_erika" in everything_in_redis(desk)  # nothing happens before the click

    click = {"type": "block_actions", "user": {"id": ADMIN}, "channel": {"id": GENERAL},
             "container": {"type": "message", "is_ephemeral": True, "channel_id": GENERAL},
             "actions": [{"type": "button", "action_id": "xdesk_erase_confirm", "value": button["value"]}]}
    desk.slack.interact(click)
    desk.slack.interact(click)  # a double click erases once
    desk.wait_for(lambda: any("erased 3 case(s)" in said(e) for e in desk.slack.ephemerals if e["user"] == ADMIN))
    drained(desk)
    told = [r["body"].get("text", "") for r in desk.slack.responded]
    assert "Erasing: you'll be told here when it is done." in told and any("under way already" in t for t in told)
    for trace in (ERIKA["username"], ERIKA["name"], ids["id"], "0815-4711"):
        assert trace not in everything_in_redis(desk) + everything_in_slack(desk), trace
    assert "erased 3 case(s)" in desk.rt.redis.lrange("xdesk:config:audit", 0, 0)[0]


def test_with_the_embedded_redis_the_erased_data_leaves_the_disk(two_customers, redis_socket) -> None:
    """The embedded Redis keeps an append-only file; erase has it rewritten (SPEC "Personal data")."""
    from pathlib import Path

    from tests.harness import eventually

    desk, _ = two_customers
    data_dir = Path(redis_socket).parent  # the embedded Redis the tests share, as BRIDGE_DATA_DIR has it

    def on_disk() -> bytes:
        return b"".join(f.read_bytes() for f in data_dir.rglob("*.aof*") if f.is_file())

    assert b"kundin_erika" in on_disk()
    env = {k: v for k, v in {**os.environ, **desk.env}.items() if k != "REDIS_URL"}
    env |= {"BRIDGE_DATA_DIR": str(data_dir), "BRIDGE_SETTINGS": os.environ["BRIDGE_SETTINGS"]}
    result = subprocess.run([sys.executable, "-m", "bridge", "erase", "kundin_erika"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    eventually(lambda: b"kundin_erika" not in on_disk() and b"0815-4711" not in on_disk(), timeout=30,
               what="the append-only file rewritten")
