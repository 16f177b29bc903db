"""Slack to X text rules: counting, Slack wire format to plain text, signing, splitting."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet
from twitter_text.extract_urls import extract_urls_with_indices

from bridge.core.tweet_text import (
    EmptyReply,
    ReplyTooLong,
    compose,
    graphemes,
    is_note,
    plan_reply,
    slack_to_plain,
    split_reply,
    weighted_length,
)

# -- Counting: the examples of https://docs.x.com/fundamentals/counting-characters ---------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Hello, world! \U0001f44b", 16),
        ("\U0001f47e", 2),  # single emoji
        ("\U0001f64b\U0001f3fd", 2),  # with skin tone
        ("\U0001f468\u200d\U0001f3a4", 2),  # ZWJ
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 2),  # family: 4 emoji, 3 ZWJ
        ("https://example.com", 23),
        ("https://example.com/very/long/path", 23),
        ("caf\u00e9", 4),  # NFC
        ("cafe\u0301", 4),  # NFD counts as its NFC form
        ("\u65e5\u672c\u8a9e", 6),  # CJK weigh 2
        ("english text \u65e5\u672c\u8a9e \U0001f637 https://example.com", 46),  # twitter-text's own
        ("#tag @user", 10),
        ("a" * 280, 280),
        # Quirks of X's rules worth knowing when a reply comes out longer than typed:
        ("example.com", 23),  # a bare domain is a link too
        ("\u00a9", 2),  # (c) is an emoji
        ("a\r\nb", 3),  # CRLF is one newline
    ],
)
def test_weighted_length_follows_x(text: str, length: int) -> None:
    assert weighted_length(text) == length


def test_280_is_valid_and_281_is_not() -> None:
    assert parse_tweet("a" * 280).valid and not parse_tweet("a" * 281).valid


# -- Slack wire format to what is tweeted -----------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "plain"),
    [
        ("Fish &amp; chips &lt;3 &gt;", "Fish & chips <3 >"),
        ("See <https://example.com/a?b=1&amp;c=2|our status page>", "See https://example.com/a?b=1&c=2"),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:a@b.de|a@b.de>", "a@b.de"),
        ("<#C0123|general> news", "#general news"),
        ("<@U0ANNA0001> calls you", "Anna calls you"),
        ("Thanks <@U0OTHER001|ben>!", "Thanks ben!"),
        ("<@U0NOBODY01> calls you", "calls you"),
        ("<!here> hello <!channel>", "hello"),
        ("Hi <!everyone>, done", "Hi, done"),
        ("Hi <!here> there", "Hi there"),
        ("<!subteam^S0123|@support> knows", "support knows"),
        ("since <!date^1392734382^{date}|Feb 18, 2014>", "since Feb 18, 2014"),
        ("*bold* _italic_ ~strike~", "bold italic strike"),
        ("*_both_*", "both"),
        ("2*3*4 = 24 and a * b * c", "2*3*4 = 24 and a * b * c"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("<https://example.com/_x_/|link> _now_", "https://example.com/_x_/ now"),
        ("`*not bold*` here", "`*not bold*` here"),
        ("&lt;!channel&gt; typed literally", "<!channel> typed literally"),
        ("  cafe\u0301\ufeff  ", "caf\u00e9"),
    ],
)
def test_slack_to_plain(wire: str, plain: str) -> None:
    assert slack_to_plain(wire, {"U0ANNA0001": "Anna"}) == plain


@pytest.mark.parametrize(
    ("body", "signature", "composed"),
    [("Thanks!", "^AN", "Thanks! ^AN"), ("Thanks!", "", "Thanks!"), ("  Thanks! ", " ^AN ", "Thanks! ^AN")],
)
def test_compose(body: str, signature: str, composed: str) -> None:
    assert compose(body, signature) == composed


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("note: call him back", True),
        ("NOTE: call him back", True),
        ("   // internal", True),
        ("\n\tNote:x", True),
        ("Thanks, noted: done", False),
        ("/ not quite", False),
        ("", False),
    ],
)
def test_is_note(text: str, note: bool) -> None:
    assert is_note(text, ["note:", "//"]) is note


def test_is_note_ignores_empty_prefixes() -> None:
    assert not is_note("hello", ["", "  "])


# -- Splitting ----------------------------------------------------------------------------------


def chunk_of(part: str, i: int, n: int, signature: str) -> str:
    suffix = f" {i}/{n}" + (f" {signature}" if signature else "")
    assert part.endswith(suffix), (part, suffix)
    return part[: -len(suffix)]


def chunks_of(parts: list[str], signature: str) -> list[str]:
    return [chunk_of(p, i, len(parts), signature) for i, p in enumerate(parts, 1)]


def test_a_300_character_reply_becomes_two_signed_numbered_tweets() -> None:
    words = [f"word{k:02d}" for k in range(43)]  # 43 * 7 - 1 = 300 characters
    body = " ".join(words)
    assert len(body) == 300
    parts = split_reply(body, "^AN")
    assert len(parts) == 2
    for i, part in enumerate(parts, 1):
        assert parse_tweet(part).valid and weighted_length(part) <= 280
        assert part.endswith(f" {i}/2 ^AN")
    assert " ".join(chunks_of(parts, "^AN")).split() == words


def test_a_reply_that_fits_is_one_tweet_without_numbering() -> None:
    assert split_reply("Thanks, it works again!", "^AN") == ["Thanks, it works again! ^AN"]
    # 23 for the link: 300 characters of URL still fit
    url = "https://example.com/" + "a" * 300
    assert split_reply(f"See {url}", "^AN") == [f"See {url} ^AN"]


def test_without_signature_there_is_no_trailing_space() -> None:
    parts = split_reply("x " * 200, "")
    assert [p[-4:] for p in parts] == [" 1/2", " 2/2"]


def test_a_sentence_end_is_preferred_when_it_wastes_little() -> None:
    sentence = "Your router needs the new firmware version from our website today."
    parts = split_reply(" ".join([sentence] * 5), "^AN")
    assert all(c.endswith(".") for c in chunks_of(parts, "^AN"))


@pytest.mark.parametrize(
    "word",
    [
        "a" * 700,
        "\U0001f600" * 200,
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466" * 150,
        "\U0001f1e9\U0001f1ea" * 150,  # flags: regional indicator pairs
        "\u65e5" * 300,
        "e\u0301" * 400,
    ],
)
def test_a_word_longer_than_a_tweet_is_cut_between_graphemes(word: str) -> None:
    parts = split_reply(word, "^AN")
    chunks = chunks_of(parts, "^AN")
    assert all(weighted_length(p) <= 280 for p in parts)
    body = unicodedata.normalize("NFC", word)
    assert "".join(chunks) == body
    assert [g for c in chunks for g in graphemes(c)] == graphemes(body)


def test_urls_are_never_cut() -> None:
    url = "https://example.com/" + "path/" * 20
    body = " ".join(["Please see", url, "and"] * 20)
    parts = split_reply(body, "^AN")
    assert all(weighted_length(p) <= 280 for p in parts)
    assert sum(p.count(url) for p in parts) == 20


def test_the_label_growing_from_9_to_10_is_counted() -> None:
    # With one-digit labels (" i/9 ^AN" weighs 8) this packs into 10 parts: eight pairs of 271, a
    # pair of 272, and the last word. Ten parts need "i/10", one wider, and the pair of 272 no
    # longer fits part 9: labelling that packing "i/10" would make part 9 weigh 281.
    body = " ".join(["a" * 135, "b" * 135] * 8 + ["c" * 135, "d" * 136, "e" * 100])
    assert weighted_length("c" * 135 + " " + "d" * 136 + " 9/10 ^AN") == 281
    parts = split_reply(body, "^AN")
    assert [p.rsplit(" ", 2)[1] for p in parts] == [f"{i}/10" for i in range(1, 11)]
    assert all(weighted_length(p) <= 280 for p in parts)
    chunks = chunks_of(parts, "^AN")
    assert chunks[8:] == ["c" * 135, "d" * 136 + " " + "e" * 100]
    assert " ".join(chunks).split() == body.split()


@pytest.mark.parametrize("count", range(140, 200, 7))
def test_numbering_is_consistent_around_ten_parts(count: int) -> None:
    body = " ".join(f"w{k:011d}" for k in range(count))  # 13 characters a word
    parts = split_reply(body, "^AN")
    assert all(weighted_length(p) <= 280 for p in parts)
    assert " ".join(chunks_of(parts, "^AN")).split() == body.split()


def test_refuse_mode_says_how_long_the_reply_is() -> None:
    with pytest.raises(ReplyTooLong) as caught:
        plan_reply("x" * 300, "^AN", "refuse")
    assert (caught.value.length, caught.value.limit) == (304, 280)
    assert str(caught.value) == "Your reply is 304 characters as X counts them (280 max, signature included)."


def test_plan_reply() -> None:
    assert plan_reply("Thanks!", "^AN", "refuse") == ["Thanks! ^AN"]
    assert len(plan_reply("x " * 200, "^AN", "split")) == 2


@pytest.mark.parametrize("text", ["", "   ", "\n\u200b\u2060", slack_to_plain("<!here> <@U0NOBODY01>")])
def test_nothing_to_tweet_is_an_empty_reply(text: str) -> None:
    with pytest.raises(EmptyReply):
        plan_reply(text, "^AN", "split")


# -- The property: every part fits, nothing is lost, reordered, or cut inside a URL or grapheme ----

WORDS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\ufeff\ufffe\uffff")),
    st.sampled_from(
        [
            "\U0001f600",
            "\U0001f44b\U0001f3fd",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "\U0001f1e9\U0001f1ea",
            "1\ufe0f\u20e3",
            "\u65e5\u672c\u8a9e\u3067\u3059",
            "https://example.com/a_b?c=d",
            "www.example.org",
            "example.com",
            "cafe\u0301",
            "\n\n",
            "Done.",
        ]
    ),
    st.text(alphabet="abc\u65e5\U0001f600", min_size=100, max_size=300),  # a word longer than a part
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(WORDS, max_size=40),
    seps=st.lists(st.sampled_from([" ", "  ", "\n", "\t"]), min_size=40, max_size=40),
    signature=st.sampled_from(["^AN", "", "\U0001f916"]),
    limit=st.sampled_from([280, 120, 60]),
)
def test_split_property(words: list[str], seps: list[str], signature: str, limit: int) -> None:
    raw = "".join(w + s for w, s in zip(words, seps, strict=False))
    body = unicodedata.normalize("NFC", raw).strip()
    try:
        parts = split_reply(raw, signature, limit)
    except EmptyReply:
        assert not any(unicodedata.category(c) not in ("Zs", "Zl", "Zp", "Cc", "Cf") for c in body)
        return
    for part in parts:
        assert weighted_length(part) <= limit
        assert parse_tweet(part).valid
    if len(parts) == 1 and parts[0] == compose(body, signature):
        return
    chunks = chunks_of(parts, signature)
    # Chunks are the body in order, cut only at whitespace or, inside a word, at grapheme
    # boundaries outside any URL.
    edges, at = {0}, 0
    for g in graphemes(body):
        at += len(g)
        edges.add(at)
    urls = [u["indices"] for u in extract_urls_with_indices(body)]
    pos = 0
    for chunk in chunks:
        start = body.index(chunk, pos)
        assert body[pos:start].strip() == ""
        for cut in (start, start + len(chunk)):
            if cut < len(body) and cut > 0 and not (body[cut - 1].isspace() or body[cut].isspace()):
                assert cut in edges
                assert not any(a < cut < b for a, b in urls)
        pos = start + len(chunk)
    assert body[pos:].strip() == ""
    assert re.sub(r"\s", "", "".join(chunks)) == re.sub(r"\s", "", body)
