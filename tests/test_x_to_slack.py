"""X to Slack: polling by the rate limit, the cursor, joining, what is skipped, Slack's 429s."""

from __future__ import annotations

import time

from bridge.intake.mentions import Poller
from bridge.sandbox.x.server import XEmulator
from tests.harness import ANNA, BASE_SETTINGS, DSL, GENERAL, Desk, block_text


def mentions_poller(desk: Desk) -> Poller:
    """A second poller on the running desk's store, to look at one poll at a time."""
    brand = desk.rt.brand()
    return Poller("mentions", lambda since, until: desk.rt.x.mentions(brand.id, since, until), desk.rt.store,
                  desk.settings, brand, answerable_by_source=True)


def mention_requests(x: XEmulator) -> list:
    return [r for r in x.requests if "/mentions" in r.path]


def test_polling_waits_for_the_rate_limit_reset_after_a_429(desk: Desk) -> None:
    # A search source of its own: the desk's running mentions poller must not take the 429.
    brand = desk.rt.brand()
    poller = Poller("search:test", lambda since, until: desk.rt.x.search("outage", since, until), desk.rt.store,
                    desk.settings, brand, answerable_by_source=False)
    desk.x.rate_limit_next("GET", r"/search/recent$", with_reset=True)
    wait = poller.poll_now()
    assert desk.x.window_seconds - 2 <= wait <= desk.x.window_seconds + 2

    desk.x.rate_limit_next("GET", r"/search/recent$", with_reset=False)
    assert poller.poll_now() >= desk.settings.x.min_poll_interval


def test_polling_follows_the_budget_and_never_beats_min_poll_interval(desk: Desk) -> None:
    poller = mentions_poller(desk)
    wait = poller.poll_now()
    # 300 calls a 60 s window in the emulator: 0.2 s apart would do, min_poll_interval is 0.2.
    assert desk.settings.x.min_poll_interval <= wait <= 1.0


def test_several_workers_share_one_polling_schedule_per_source(desk: Desk) -> None:
    calls: list[str | None] = []
    brand = desk.rt.brand()

    def fetch(since, until):
        calls.append(since)
        return desk.rt.x.mentions(brand.id, since, until)

    first, second = (Poller("shared-test", fetch, desk.rt.store, desk.settings, brand, True) for _ in range(2))
    wait = first.poll_once()
    assert calls == [None] and wait > 0
    assert second.poll_once() > 0
    assert calls == [None]  # the second worker waited for the shared turn


def test_the_cursor_moves_past_stored_tweets_only(desk: Desk) -> None:
    first = desk.tweet("@Telekom_hilft router one")
    desk.parent_of(first)
    assert desk.rt.store.cursor("mentions") == first
    since = [r.query.get("since_id") for r in mention_requests(desk.x)]
    desk.x.wait_for(lambda: any(r.query.get("since_id") == first for r in mention_requests(desk.x)))
    assert since.count(None) <= 2  # only the first polls ran without a cursor


def test_the_brands_own_tweets_and_retweets_open_no_case(desk: Desk) -> None:
    brand_tweet = desk.x.add_tweet("@Telekom_hilft internal test", author="Telekom_hilft")
    original = desk.tweet("@Telekom_hilft router broken")
    desk.x.add_tweet("RT @kunde_klaus: @Telekom_hilft router broken", author="fan_42", retweet_of=original)
    marker = desk.parent_of(desk.tweet("@Telekom_hilft internet down"))
    del marker
    tops = [m for ch in (GENERAL, DSL) for m in desk.slack.messages(ch) if m.get("thread_ts") in (None, m["ts"])]
    ids = {(m.get("metadata") or {}).get("event_payload", {}).get("tweet_id") for m in tops}
    assert brand_tweet not in ids and len(tops) == 2


def test_a_quote_and_a_tweet_in_the_same_conversation_join_the_case(desk: Desk) -> None:
    first = desk.tweet("@Telekom_hilft router lost sync")
    parent = desk.parent_of(first)
    desk.tweet("@Telekom_hilft see this", author="other_user", quote_of=first)
    desk.x.add_tweet("@Telekom_hilft same here", author="neighbour", conversation_id=first)
    desk.wait_for(lambda: len(desk.thread(parent)) == 2)
    texts = [block_text(m.get("blocks") or []) for m in desk.thread(parent)]
    assert any("see this" in t for t in texts) and any("same here" in t for t in texts)


def test_a_search_hit_that_does_not_mention_the_brand_says_so(make_desk) -> None:
    searching = BASE_SETTINGS.replace("min_poll_interval = 0.2", 'min_poll_interval = 0.2\nsearch = ["T-Online"]')
    desk = make_desk(text=searching)
    hit = desk.x.add_tweet("T-Online mail is down again", author="someone")
    parent = desk.parent_of(hit)
    assert "won't let" in desk.parent_text(parent) and "doesn't mention" in desk.parent_text(parent)


def test_slack_429s_on_posting_are_waited_out_and_the_case_posted_once(desk: Desk) -> None:
    desk.slack.fail_next("chat.postMessage", status=429, error="ratelimited", retry_after=1, times=2)
    started = time.monotonic()
    tweet_id = desk.tweet("@Telekom_hilft internet gone")
    parent = desk.parent_of(tweet_id)
    assert time.monotonic() - started >= 2  # Retry-After was honoured twice
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    tops = [m for m in desk.slack.messages(parent["channel"]) if m.get("thread_ts") in (None, m["ts"])]
    assert len(tops) == 1


def test_releasing_the_claim_lets_another_agent_claim(desk: Desk) -> None:
    from tests.harness import BEN

    parent = desk.parent_of(desk.tweet("@Telekom_hilft router"))
    desk.claim(ANNA, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, ANNA))
    desk.slack.remove_reaction(ANNA, parent["channel"], parent["ts"], "eyes")
    desk.wait_for(lambda: not desk.claimed_by(parent, ANNA))
    desk.claim(BEN, parent)
    desk.wait_for(lambda: desk.claimed_by(parent, BEN))
    assert desk.slack.ephemerals == []


def test_a_backlog_larger_than_one_read_is_stored_whole_before_the_cursor_moves(
    x_emu: XEmulator, redis_url: str, settings_path, monkeypatch
) -> None:
    """A poll that stops before reaching the cursor reads the rest below what it read, then moves on."""
    import redis as redis_lib

    from bridge.core.settings import Environment, load
    from bridge.storage.store import Store
    from bridge.x.client import XClient
    from tests.harness import X_KEYS

    monkeypatch.setenv("BRIDGE_SETTINGS", str(settings_path))
    store = Store(redis_lib.Redis.from_url(redis_url, decode_responses=True))
    env = Environment(x_api_key=X_KEYS["consumer_key"], x_api_secret=X_KEYS["consumer_secret"],
                      x_access_token=X_KEYS["access_token"], x_access_token_secret=X_KEYS["access_token_secret"],
                      x_api_url=x_emu.url)
    x = XClient(env, max_pages=1)  # one page of 100 per poll
    brand = x.me()
    ids = [x_emu.add_tweet(f"@Telekom_hilft outage report {i}", author=f"k{i}") for i in range(250)]
    untils: list[str | None] = []

    def fetch(since, until):
        untils.append(until)
        return x.mentions(brand.id, since, until)

    poller = Poller("mentions", fetch, store, load(), brand, answerable_by_source=True)
    poller.poll_now()
    assert store.cursor("mentions") is None  # 150 older tweets are unread: the cursor must not move
    poller.poll_now()
    poller.poll_now()
    assert store.cursor("mentions") == ids[-1]
    assert untils == [None, ids[150], ids[50]]
    assert all(store.case_of_tweet(t) for t in ids)
    poller.poll_now()
    assert untils[-1] is None
