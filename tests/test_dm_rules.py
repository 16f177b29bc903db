"""The rules of direct messages without servers: which case a DM joins, when a reply goes as a DM, and
how a DM is shown in Slack."""

from __future__ import annotations

import pytest
import redis

from bridge.core.models import Author, Case, CaseId, ChannelId, Tweet, TweetId, UserId
from bridge.slack.blocks import followup_blocks, parent_blocks
from bridge.storage.dms import DmStore, dm_recipient
from bridge.storage.store import Outcome, Store
from tests.harness import block_text, markup_of

KLAUS = Author(UserId("2001"), "kunde_klaus", "Klaus <!channel>", 3)
GENERAL = ChannelId("C0GENERAL1")


def dm(event_id: str, text: str = "hello", author: Author = KLAUS) -> Tweet:
    return Tweet(TweetId(event_id), text, author, conversation_id=TweetId(f"1000-{author.id}"), direct=True)


def tweet(tweet_id: str, replied_to: str | None = None) -> Tweet:
    return Tweet(TweetId(tweet_id), "@Telekom_hilft help", KLAUS, conversation_id=TweetId(replied_to or tweet_id),
                 replied_to=TweetId(replied_to) if replied_to else None)


@pytest.fixture
def store(redis_url: str) -> Store:
    return Store(redis.Redis.from_url(redis_url, decode_responses=True))


def test_a_dm_joins_the_asking_case_then_the_open_dm_case_else_opens_one(store: Store) -> None:
    dms = DmStore(store)
    first = dms.ingest(dm("11"), GENERAL, None)
    assert first.outcome is Outcome.NEW
    assert dms.ingest(dm("12"), GENERAL, None) == (Outcome.JOINED, first.case_id, GENERAL)
    assert dms.ingest(dm("12"), GENERAL, None).outcome is Outcome.DUPLICATE

    public = store.ingest(tweet("20"), ChannelId("C0DSLTEAM1"), "DSL", True)
    dms.record_ask(public.case_id, KLAUS.id)
    assert dms.ingest(dm("21"), GENERAL, None) == (Outcome.JOINED, public.case_id, "C0DSLTEAM1")
    assert dms.ingest(dm("22"), GENERAL, None).case_id == public.case_id  # the ask is used, the case stays

    store.resolve(public.case_id, "U0ANNA0001")
    assert dms.ingest(dm("23"), GENERAL, None).outcome is Outcome.NEW  # a resolved case is not joined


def test_the_next_reply_is_a_dm_while_the_customers_latest_message_is_one(store: Store) -> None:
    dms = DmStore(store)
    dm_case = dms.ingest(dm("11"), GENERAL, None).case_id
    assert dm_recipient(store, dm_case) == KLAUS.id

    public = store.ingest(tweet("20"), GENERAL, None, True).case_id
    assert dm_recipient(store, public) is None
    dms.record_ask(public, KLAUS.id)
    dms.ingest(dm("21"), GENERAL, None)
    assert dm_recipient(store, public) == KLAUS.id
    store.link_brand_tweet(public, TweetId("22"))
    store.ingest(tweet("23", replied_to="22"), GENERAL, None, True)  # the customer tweets again
    assert dm_recipient(store, public) is None
    dms.ingest(dm("24"), GENERAL, None)
    assert dm_recipient(store, public) == KLAUS.id


def test_a_dm_case_parent_says_private_and_links_nowhere() -> None:
    message = dm("1234567890", "call me on <@U0ANNA0001> *now* @here")
    case = Case(CaseId("5"), GENERAL, None, message.id, message.id, KLAUS)
    blocks, fallback = parent_blocks(case, message, brand_username="Telekom_hilft")
    shown, markup = block_text(blocks), markup_of({"blocks": blocks})
    assert "Private direct message" in shown
    assert "/status/" not in shown and "View on X" not in shown
    # The customer's words are literal rich text: nothing in what Slack parses may ping or format.
    assert "<@U0ANNA0001>" not in markup and "<!channel>" not in markup and "*now*" not in markup
    assert "call me on <@U0ANNA0001> *now* @here" in shown
    assert fallback.startswith("New direct message from")
    follow, _ = followup_blocks(message)
    assert "Private direct message" in block_text(follow) and "/status/" not in block_text(follow)


def test_a_dm_backlog_past_the_page_bound_is_read_on_at_the_next_poll(
        store: Store, x_emu, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.core.settings import Environment
    from bridge.intake import dms as dms_module
    from bridge.x.client import XClient
    from bridge.x.direct import DM_FIELDS, XDirect
    from tests import harness

    monkeypatch.setitem(DM_FIELDS, "max_results", 2)
    monkeypatch.setattr(dms_module, "MAX_PAGES", 2)
    settings = harness.load_settings(harness.write_settings(tmp_path / "settings.toml"))
    keys = harness.X_KEYS
    x = XClient(Environment(x_api_key=keys["consumer_key"], x_api_secret=keys["consumer_secret"],
                            x_access_token=keys["access_token"], x_access_token_secret=keys["access_token_secret"],
                            x_api_url=x_emu.url))
    poller = dms_module.DmPoller(XDirect(x), store, settings, x.me())

    old = [x_emu.dms.send(f"old {i}", author=f"old_{i}") for i in range(3)]
    poller.poll_now()  # DMs just switched on: the newest page only
    assert [store.case_of_tweet(TweetId(i)) is not None for i in old] == [False, True, True]
    assert store.cursor("dms") == old[-1]

    new = [x_emu.dms.send(f"new {i}", author=f"new_{i}") for i in range(7)]
    poller.poll_now()  # four read, the cursor not reached: the rest waits
    assert store.cursor("dms") == old[-1]
    poller.poll_now()
    assert all(store.case_of_tweet(TweetId(i)) for i in new)
    assert store.cursor("dms") == new[-1]
    assert not store.r.exists(f"{store.p}dmbacklog")


def test_the_deletion_watch_leaves_dm_cases_alone(store: Store, x_emu) -> None:
    from bridge.core.settings import Environment
    from bridge.intake.deletions import DeletionWatch
    from bridge.x.client import XClient
    from tests.harness import X_KEYS

    x = XClient(Environment(x_api_key=X_KEYS["consumer_key"], x_api_secret=X_KEYS["consumer_secret"],
                            x_access_token=X_KEYS["access_token"], x_access_token_secret=X_KEYS["access_token_secret"],
                            x_api_url=x_emu.url))
    dm_case = DmStore(store).ingest(dm(x_emu.dms.send("hello", author="kunde_klaus")), GENERAL, None).case_id
    DeletionWatch(store, x, interval=0.01).check_once()
    case = store.case(dm_case)
    assert case is not None and "customer_deleted" not in case.extra  # a DM is no deleted tweet
    assert not [r for r in x_emu.requests if r.path == "/2/tweets"]
