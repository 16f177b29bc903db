"""X to Slack rendering: customer text is inert, Block Kit shapes and limits hold."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.models import Author, Case, CaseId, CaseStatus, ChannelId, Media, SlackUserId, Tweet, TweetId, UserId
from bridge.core.mrkdwn import visible_controls
from bridge.slack.blocks import (
    MAX_BLOCKS,
    MAX_SECTION_TEXT,
    escape_mrkdwn,
    followup_blocks,
    format_followers,
    notice_blocks,
    parent_blocks,
    parse_block_id,
    status_line,
)

ANNA = SlackUserId("U0ANNA0001")
INJECTIONS = [
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "<@U123>",
    "<#C0GENERAL1|general>",
    "<https://evil.example|click>",
    "<!subteam^S123|@team>",
    "*bold*",
    "_it_",
    "~strike~",
    "`code`",
    "```block```",
    "\n> quote",
    "> quote",
    "\uff1e quote",
    "@here",
    "@channel",
    "@everyone",
    "@anna",
    "#general",
    ":fire:",
    "&",
    "&amp;",
    "&lt;!channel&gt;",
    "\uff0abold\uff0a",
    " ",
    "\n",
    "snake_case",
]


def author(name: str = "Klaus Kunde", username: str = "kunde_klaus", **kw: Any) -> Author:
    return Author(UserId("42"), username, name, **kw)


def tweet(text: str, who: Author | None = None, media: tuple[Media, ...] = ()) -> Tweet:
    return Tweet(TweetId("1790000000000000001"), text, who or author(), media=media)


def case(t: Tweet, **kw: Any) -> Case:
    return Case(CaseId("c-1"), ChannelId("C0DSLTEAM1"), "DSL", t.id, t.id, t.author, **kw)


# -- The checker: what Slack would turn into a ping, a link or formatting ---------------------------

_LINK_OR_MENTION = re.compile(r"<[^<>]*>")
_SHORTCODE = re.compile(r":[a-z0-9_+'\-]+:", re.IGNORECASE)
_MARKERS = "*_~`\uff0a\uff3f\uff40"


def _alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def formatting_pairs(line: str) -> list[str]:
    """Marker pairs Slack might format, judged liberally: any character but an ASCII letter or
    digit may stand before an opener or after a closer, and only real whitespace counts as space
    inside (so an invisible U+200B would not save a pair)."""
    found = []
    for marker in _MARKERS:
        spots = [i for i, c in enumerate(line) if c == marker]
        for a in spots:
            if (a and _alnum(line[a - 1])) or a + 1 >= len(line) or line[a + 1].isspace():
                continue
            for b in spots:
                if b > a + 1 and not line[b - 1].isspace() and (b + 1 == len(line) or not _alnum(line[b + 1])):
                    found.append(line[a : b + 1])
    return found


def slack_controls(mrkdwn: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Everything in ``mrkdwn`` (minus the ``allowed`` bridge-made pieces) that Slack would treat as
    a mention, a link, formatting, a quote or an emoji instead of as text."""
    for piece in allowed:
        mrkdwn = mrkdwn.replace(piece, " ")
    found = _LINK_OR_MENTION.findall(mrkdwn)
    found += [c for c in mrkdwn if c in "<>"]
    found += re.findall(r"&(?!(?:amp|lt|gt);)", mrkdwn)
    found += re.findall(r"[@#](?=[^\s\u2060])", mrkdwn)  # @here, @channel, @user, #channel
    found += _SHORTCODE.findall(mrkdwn)
    for line in mrkdwn.split("\n"):
        found += formatting_pairs(line)
        if line.lstrip(" \t").startswith(("&gt;", ">", "\uff1e")):
            found.append(line)
    return found


def rich_texts(blocks: list[dict]) -> list[str]:
    """The literal text of the ``rich_text`` blocks, each block's elements joined."""
    return ["".join(e["text"] for e in b["elements"][0]["elements"]) for b in blocks if b["type"] == "rich_text"]


def mrkdwn_texts(blocks: list[dict]) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                assert node.get("verbatim") is True  # no auto-linking or mention parsing
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return out


def bridge_pieces(t: Tweet, c: Case | None = None) -> tuple[str, ...]:
    """What the bridge itself may write: its links, its bold around the name, its mentions."""
    name = " ".join(t.author.name.split())
    handle = t.author.username
    pieces = [f"*{escape_mrkdwn(visible_controls(name))}*"] if name else []
    urls = [f"https://x.com/i/status/{t.id}"]
    if re.fullmatch(r"[A-Za-z0-9_]{1,15}", handle):
        label = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", "\u02cd", handle)
        pieces.append(f"<https://x.com/{handle}|@{label}>")
        urls.append(t.url())
    pieces += [f"<{url}|{label}>" for url in urls for label in ("View on X", "video on X", "GIF on X")]
    pieces.append(":eyes:")
    if c:
        pieces += [f"<@{u}>" for u in (c.claimer, c.resolved_by) if u]
    return tuple(pieces)


# -- Block Kit shapes (https://api.slack.com/reference/block-kit/blocks) ----------------------------


def slack_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_text(obj: dict) -> None:
    assert obj["type"] in ("mrkdwn", "plain_text") and set(obj) <= {"type", "text", "verbatim", "emoji"}
    assert isinstance(obj["text"], str) and 0 < slack_len(obj["text"]) <= MAX_SECTION_TEXT


def check_image(obj: dict, *, block: bool) -> None:
    assert obj["type"] == "image" and set(obj) <= {"type", "image_url", "alt_text", "block_id", "title"}
    assert obj["image_url"].startswith("https://") and len(obj["image_url"]) <= 3000
    assert 0 < slack_len(obj["alt_text"]) <= 2000
    assert block or "block_id" not in obj


def check_blocks(blocks: list[dict]) -> None:
    assert 0 < len(blocks) <= MAX_BLOCKS
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)) and all(len(i) <= 255 for i in ids)
    for b in blocks:
        if b["type"] == "section":
            assert set(b) <= {"type", "block_id", "text", "accessory"}
            check_text(b["text"])
            if "accessory" in b:
                check_image(b["accessory"], block=False)
        elif b["type"] == "image":
            check_image(b, block=True)
        elif b["type"] == "context":
            assert set(b) <= {"type", "block_id", "elements"} and 0 < len(b["elements"]) <= 10
            for e in b["elements"]:
                check_image(e, block=False) if e["type"] == "image" else check_text(e)
        elif b["type"] == "rich_text":
            # Only plain text elements: Slack parses nothing in them (no user, channel, broadcast or
            # link element, which would be the ones that ping or link).
            assert set(b) <= {"type", "block_id", "elements"}
            [section] = b["elements"]
            assert section["type"] == "rich_text_section" and section["elements"]
            for e in section["elements"]:
                assert e["type"] == "text" and set(e) <= {"type", "text", "style"}
            assert 0 < slack_len("".join(e["text"] for e in section["elements"])) <= MAX_SECTION_TEXT
        else:
            raise AssertionError(f"unexpected block type {b['type']}")


# -- escape_mrkdwn ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Fish & chips", "Fish &amp; chips"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("@here now", "@\u2060here now"),
        ("mail a@b.de", "mail a@\u2060b.de"),
        ("#general", "#\u2060general"),
        ("*bold*", "\u2217bold\u2217"),
        ("_it_ but snake_case", "\u02cdit\u02cd but snake_case"),
        ("~strike~", "\u223cstrike\u223c"),
        ("`code`", "\u02cbcode\u02cb"),
        ("> quote", "\u00ad&gt; quote"),
        ("a\n  > b", "a\n  \u00ad&gt; b"),
        ("1 > 0", "1 &gt; 0"),
        (":fire: :)", ":\u2060fire: :)"),
        ("caf\u00e9 \u65e5\u672c \U0001f600", "caf\u00e9 \u65e5\u672c \U0001f600"),
    ],
)
def test_escape_mrkdwn(text: str, shown: str) -> None:
    assert escape_mrkdwn(text) == shown
    assert slack_controls(shown) == []


def test_the_checker_sees_live_markup() -> None:
    for live in ["<!channel>", "<@U1>", "<https://a|b>", "*b*", "_i_", "~s~", "`c`", "@here", "&x", "> q", ":fire:"]:
        assert slack_controls(live), live


# -- parent_blocks ----------------------------------------------------------------------------------

EVIL = "@Telekom_hilft <!channel> <@U123> <https://evil|click> *bold* @here _it_ ~s~ `c`\n> quote &"


def render(t: Tweet, c: Case) -> tuple[list[dict], str]:
    blocks, fallback = parent_blocks(c, t, brand_username="Telekom_hilft")
    check_blocks(blocks)
    return blocks, fallback


def test_a_tweet_full_of_slack_markup_renders_inert() -> None:
    t = tweet(EVIL, author(name="<!here> *Klaus*", followers=12_345))
    c = case(t)
    blocks, fallback = render(t, c)
    for text in [*mrkdwn_texts(blocks), fallback]:
        assert slack_controls(text, bridge_pieces(t, c)) == [], text
    assert rich_texts(blocks) == [EVIL.strip()]  # inert because Slack parses nothing there, and exact
    shown = "\n".join(mrkdwn_texts(blocks))
    assert "<!channel>" not in shown and "<https://evil|click>" not in shown  # nowhere as markup
    assert "<https://x.com/kunde_klaus|@kunde_klaus>" in shown and "12.3k followers" in shown


def test_the_customers_text_arrives_byte_for_byte_as_tweeted() -> None:
    """What an agent copies is what the customer wrote: no lookalike for "_", "*" or "~" (KDˍ123)."""
    written = "Order KD_123, ref *A-7*, PIN ~42~ & <b>  x\n> quoted `c` caf\u00e9 \U0001f600 \u0663\u0661 \u05e9\u05dc"
    t = tweet(written)
    blocks, _ = render(t, case(t))
    assert rich_texts(blocks) == [written.strip()]  # right-to-left scripts and emoji too
    blocks, _ = followup_blocks(t)
    assert rich_texts(blocks) == [written.strip()]


RTL_AND_EMOJI = "\U0001f468\u200d\U0001f4bb \u0645\u0631\u062d\u0628\u0627"  # a joined emoji, Arabic


@pytest.mark.parametrize(("written", "shown"), [
    ("pay \u202egnp.exe", "pay <U+202E>gnp.exe"),  # an override that would read the rest backwards
    ("a\u2067b\u2069c", "a<U+2067>b<U+2069>c"),  # isolates
    ("ring\x07 \x1b[31mred", "ring<U+0007> <U+001B>[31mred"),  # BEL and ESC
    ("c1\x85x", "c1<U+0085>x"),
    ("lines\nand\ttabs stay", "lines\nand\ttabs stay"),
    (RTL_AND_EMOJI, RTL_AND_EMOJI),
])
def test_characters_that_hide_or_reorder_text_are_shown_not_obeyed(written: str, shown: str) -> None:
    t = tweet(written, author(name=f"Klaus{written[:6]}"),
              (Media("3_1", "photo", "https://pbs.twimg.com/a.jpg", f"alt {written}"),))
    blocks, fallback = render(t, case(t))
    assert rich_texts(blocks) == [shown]
    everything = json.dumps([blocks, fallback], ensure_ascii=False)
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f-\x9f]", everything)


def test_the_parent_shows_author_text_media_link_topic_and_status() -> None:
    media = (
        Media("3_1", "photo", "https://pbs.twimg.com/media/a.jpg", "A router with a red light"),
        Media("7_1", "video", "https://pbs.twimg.com/ext_tw_video_thumb/v.jpg"),
    )
    t = tweet("@Telekom_hilft my router blinks red", author(profile_image_url="https://pbs.twimg.com/p.jpg"), media)
    blocks, fallback = render(t, case(t))
    assert blocks[0]["accessory"]["image_url"] == "https://pbs.twimg.com/p.jpg"
    images = [b for b in blocks if b["type"] == "image"]
    assert [i["image_url"] for i in images] == [m.url for m in media]
    assert images[0]["alt_text"] == "A router with a red light"
    shown = "\n".join(mrkdwn_texts(blocks))
    assert f"<{t.url()}|video on X>" in shown and f"<{t.url()}|View on X>" in shown
    assert "Topic: DSL" in shown and "react :eyes: to claim" in shown
    assert "router blinks red" in fallback and "Klaus Kunde" in fallback
    assert "won't let" not in shown


def test_images_can_be_left_out() -> None:
    media = (Media("3_1", "photo", "https://pbs.twimg.com/media/a.jpg"),)
    t = tweet("hi", author(profile_image_url="https://pbs.twimg.com/p.jpg"), media)
    blocks, _ = parent_blocks(case(t), t, brand_username="Telekom_hilft", images=False)
    assert not any(b["type"] == "image" or "accessory" in b for b in blocks)
    assert "1 more photo on X" in "\n".join(mrkdwn_texts(blocks))


def test_a_case_x_will_not_let_the_brand_answer_says_so() -> None:
    t = tweet("my router is broken again")
    blocks, _ = render(t, case(t, answerable=False))
    assert "X won't let @\u2060Telekom_hilft answer" in "\n".join(mrkdwn_texts(blocks))


def test_block_ids_carry_the_case_and_the_tweet() -> None:
    t = tweet("hi", media=(Media("3_1", "photo", "https://pbs.twimg.com/media/a.jpg"),))
    blocks, _ = render(t, case(t))
    refs = [parse_block_id(b["block_id"]) for b in blocks]
    assert all(r and (r.case_id, r.tweet_id) == ("c-1", t.id) for r in refs)
    assert parse_block_id("something_else") is None


def test_at_most_50_blocks_and_3000_characters_a_section() -> None:
    media = tuple(Media(f"k{i}", "photo", f"https://pbs.twimg.com/{i}.jpg") for i in range(100))
    t = tweet("& <x> " * 8_000, media=media)  # 48,000 characters, 128,000 once escaped
    blocks, fallback = render(t, case(t, answerable=False))
    assert len(blocks) <= MAX_BLOCKS and len(fallback) < 1000
    texts = rich_texts(blocks)
    assert len(texts) == 10 and texts[-1].endswith("(cut here: the whole post is on X)")
    assert "96 more photos on X" in "\n".join(mrkdwn_texts(blocks))


def test_a_long_post_is_split_into_sections_without_losing_words() -> None:
    words = [f"word{i}" for i in range(2500)]  # 21,390 characters
    t = tweet(" ".join(words))
    blocks, _ = render(t, case(t))
    texts = rich_texts(blocks)
    assert len(texts) > 1 and " ".join(texts).split() == words


@pytest.mark.parametrize(
    ("status", "claimer", "resolver", "line"),
    [
        (CaseStatus.OPEN, None, None, "\U0001f7e2 Open \u2014 react :eyes: to claim"),
        (CaseStatus.CLAIMED, ANNA, None, "\U0001f440 Claimed by <@U0ANNA0001>"),
        (CaseStatus.RESOLVED, ANNA, ANNA, "\u2705 Resolved by <@U0ANNA0001>"),
        (CaseStatus.CLAIMED, SlackUserId("<!channel>"), None, "\U0001f440 Claimed"),
    ],
)
def test_status_line(status: CaseStatus, claimer: SlackUserId | None, resolver: SlackUserId | None, line: str) -> None:
    t = tweet("hi")
    assert status_line(case(t, status=status, claimer=claimer, resolved_by=resolver), "eyes") == line


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 followers"),
        (1, "1 follower"),
        (999, "999 followers"),
        (1_000, "1k followers"),
        (12_345, "12.3k followers"),
        (99_999, "99.9k followers"),
        (123_456, "123k followers"),
        (1_250_000, "1.2M followers"),
    ],
)
def test_format_followers(count: int, shown: str) -> None:
    assert format_followers(count) == shown


def test_followup_and_notice() -> None:
    t = tweet(EVIL, media=(Media("3_1", "photo", "https://pbs.twimg.com/media/a.jpg"),))
    blocks, fallback = followup_blocks(t)
    check_blocks(blocks)
    for text in [*mrkdwn_texts(blocks), fallback]:
        assert slack_controls(text, bridge_pieces(t)) == [], text
    assert any(b["type"] == "image" for b in blocks)

    blocks, fallback = notice_blocks("<@U0ANNA0001> X refused the reply: *rate limit*.")
    check_blocks(blocks)
    assert fallback == blocks[0]["text"]["text"] == "<@U0ANNA0001> X refused the reply: *rate limit*."
    long = " ".join(["<https://docs.x.com/x-api|the X docs say so>"] * 300)
    blocks, _ = notice_blocks(long)
    check_blocks(blocks)
    texts = [b["text"]["text"] for b in blocks]
    assert len(texts) > 1 and all(t.count("<") == t.count(">") for t in texts)


# -- The property: nothing a customer writes pings, links or formats --------------------------------

CUSTOMER = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(INJECTIONS)), max_size=15).map("".join)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=CUSTOMER,
    name=CUSTOMER.map(lambda s: s[:50]),
    handle=st.one_of(st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True), st.text(max_size=20)),
    alt=CUSTOMER,
    topic=st.one_of(st.none(), CUSTOMER),
    status=st.sampled_from(list(CaseStatus)),
    answerable=st.booleans(),
)
def test_nothing_the_customer_writes_is_markup(
    text: str, name: str, handle: str, alt: str, topic: str | None, status: CaseStatus, answerable: bool
) -> None:
    who = author(name=name, username=handle, profile_image_url="https://pbs.twimg.com/p.jpg")
    t = tweet(text, who, (Media("3_1", "photo", "https://pbs.twimg.com/a.jpg", alt), Media("7_1", "video")))
    c = case(t, status=status, claimer=ANNA, resolved_by=ANNA, answerable=answerable)
    c.topic = topic
    blocks, fallback = render(t, c)
    for rendered in [*mrkdwn_texts(blocks), fallback]:
        assert slack_controls(rendered, bridge_pieces(t, c)) == [], rendered
    assert "".join(rich_texts(blocks)).split() == visible_controls(text.strip()).split()  # and shown as written
    blocks, fallback = followup_blocks(t)
    check_blocks(blocks)
    for rendered in [*mrkdwn_texts(blocks), fallback]:
        assert slack_controls(rendered, bridge_pieces(t)) == [], rendered
