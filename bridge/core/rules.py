"""The desk's rules as plain functions: which tweets become cases, where they go, who may act."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bridge.core.models import Case, ChannelId, Tweet
from bridge.core.settings import Settings, Topic

# X also accepts the full-width number sign (U+FF03) as a hashtag sign.
_HASHTAG = re.compile(r"(?:^|[^\w&])[#\uff03](\w+)", re.UNICODE)


def should_ingest(tweet: Tweet, brand_id: str, include_retweets: bool) -> bool:
    """The brand's own tweets never open cases; retweets only when asked for."""
    if tweet.author.id == brand_id:
        return False
    return include_retweets or tweet.retweeted is None


def hashtags(text: str) -> set[str]:
    return {tag.casefold() for tag in _HASHTAG.findall(text)}


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Whole words, any case: "dsl" matches "DSL-Anschluss" and "dsl?", not "dslr".
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE | re.UNICODE)


def matches(topic: Topic, tweet: Tweet) -> bool:
    if any(_keyword_pattern(k).search(tweet.text) for k in topic.keywords):
        return True
    if topic.hashtags and hashtags(tweet.text) & {h.casefold() for h in topic.hashtags}:
        return True
    return bool(tweet.lang and tweet.lang.casefold() in {lang.casefold() for lang in topic.languages})


def route(tweet: Tweet, topics: Sequence[Topic], default_channel: str) -> tuple[str | None, ChannelId]:
    """The first topic in file order that matches wins; none matching: the default channel."""
    for topic in topics:
        if matches(topic, tweet):
            return topic.name, ChannelId(topic.channel)
    return None, ChannelId(default_channel)


def desk_channels(settings: Settings) -> list[str]:
    """Every channel the desk posts in: the default one, the topics', the audit channel."""
    return sorted({settings.slack.default_channel, *(t.channel for t in settings.topics),
                   *([settings.slack.audit_channel] if settings.slack.audit_channel else [])})


def is_answerable(tweet: Tweet, brand_username: str) -> bool:
    """X lets an app reply only to a post whose author mentioned (or quoted) the brand.

    https://docs.x.com/x-api/posts/manage-tweets/integrate (reply restrictions)
    """
    return brand_username.casefold() in tweet.mentions or f"@{brand_username}".casefold() in tweet.text.casefold()


def is_agent(user: str, groups_of_user: Iterable[str], settings: Settings) -> bool:
    """Empty ``[slack] agents`` means anyone; otherwise the user or one of their groups is listed."""
    allowed = set(settings.slack.agents)
    if not allowed:
        return True
    return user in allowed or bool(allowed & set(groups_of_user))

def is_old_parent(case: Case, channel: str, ts: str) -> bool:
    """``ts`` was the case's parent before it moved: reactions and replies there change nothing."""
    return case.channel != channel or case.parent_ts != ts


def moved_hint(case: Case) -> str:
    return (f"This case moved to <#{case.channel}>, so nothing here is tweeted. "
            "Please write in its new thread there.")
