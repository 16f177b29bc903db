"""Slack to X: from an agent's thread message to the text of one tweet, or of a numbered chain.

Length is X's weighted length, counted by twitter-text-parser, the Python port of the twitter-text
library that X's docs point to (280 weighted, URLs 23, emoji 2, CJK 2, NFC):
https://docs.x.com/fundamentals/counting-characters
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Literal, NamedTuple

from twitter_text import parse_tweet
from twitter_text.extract_urls import extract_urls_with_indices

MAX_WEIGHTED = 280
ReplyMode = Literal["split", "refuse"]


class ReplyTooLong(Exception):
    """The composed reply does not fit and the settings say to refuse rather than split."""

    def __init__(self, length: int, limit: int = MAX_WEIGHTED) -> None:
        self.length = length
        self.limit = limit
        super().__init__(f"Your reply is {length} characters as X counts them ({limit} max, signature included).")


class EmptyReply(Exception):
    """The message holds nothing X could show (only mentions, whitespace, invisible characters)."""

    def __init__(self) -> None:
        super().__init__("Your message has nothing to tweet once Slack mentions and formatting are removed.")


# -- Slack wire format to plain text ------------------------------------------------------------
# Slack sends `text` with &, <, > escaped and links, mentions and dates as <...> tokens:
# https://api.slack.com/reference/surfaces/formatting#retrieving-messages

_DROP = "\x00"  # stands for a token that tweets as nothing; the spaces around it are fixed afterwards
_CODE = r"```.*?```|`[^`\n]+`"  # code spans: Slack formats nothing inside, neither do we strip
_TOKEN = r"<[^<>\n]*>"


def _pair(marker: str) -> str:
    # Slack formats *x* only at word boundaries with no space just inside the markers, so
    # 2*3*4 and snake_case_name stay as typed: https://slack.com/help/articles/202288908
    m = re.escape(marker)
    return rf"(?<![\w{m}]){m}(?=\S)((?:{_TOKEN}|[^{m}\n<])+?)(?<=\S){m}(?![\w{m}])"


_FORMAT = re.compile(rf"({_CODE}|{_TOKEN})|{_pair('*')}|{_pair('_')}|{_pair('~')}", re.DOTALL)
_WIRE = re.compile(r"<([^<>]*)>|&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_DROPPED = re.compile(rf"([ \t]*){_DROP}(?:[ \t]*{_DROP})*([ \t]*)")
# X refuses a tweet holding these (twitter-text's invalid_chars).
_INVALID = re.compile("[\ufeff\ufffe\uffff]")
_INVISIBLE = {"Zs", "Zl", "Zp", "Cc", "Cf"}  # separators, controls, format characters (ZWSP, ZWJ...)


def _unescape(text: str) -> str:
    return re.sub(r"&(amp|lt|gt);", lambda m: _ENTITIES[m[1]], text)


def _unformat(match: re.Match[str]) -> str:
    protected = match[1]
    return protected if protected is not None else next(g for g in match.groups()[1:] if g is not None)


def _token(inner: str, users: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    label = _unescape(label).strip()
    if target.startswith("@"):
        # A Slack user is nobody on X: tweet their name, never "@name", which would mention
        # whoever owns that handle on X.
        return (users.get(target[1:]) or label).strip().lstrip("@") or _DROP
    if target.startswith("#"):
        return f"#{label}" if label else _DROP
    if target.startswith("!"):
        # <!here>, <!channel>, <!everyone> are Slack pings; a user group tweets as its name and a
        # <!date^...|fallback> as its fallback text.
        if target.startswith(("!subteam^", "!date^")):
            return label.lstrip("@") or _DROP
        return _DROP
    target = _unescape(target)
    if target.lower().startswith("mailto:"):
        return target[len("mailto:") :].split("?", 1)[0]
    if re.match(r"https?://", target, re.IGNORECASE):
        return target  # a tweet cannot hide a link behind a label
    return label or target.partition(":")[2] or target


def slack_to_plain(text: str, users: Mapping[str, str] | None = None) -> str:
    """The text to tweet for a Slack message's ``text``; ``users`` maps Slack user IDs to names."""
    names = users or {}
    text = text.replace(_DROP, "")
    for _ in range(4):  # nested pairs such as *_both_* come off one layer per pass
        stripped = _FORMAT.sub(_unformat, text)
        if stripped == text:
            break
        text = stripped
    text = _WIRE.sub(lambda m: _ENTITIES[m[2]] if m[2] else _token(m[1], names), text)
    text = _DROPPED.sub(lambda m: " " if m[1] and m[2] else "", text)
    return _clean(text)


def _clean(text: str) -> str:
    # X counts and stores NFC and treats CRLF as one newline (twitter-text's parse_tweet).
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _INVALID.sub("", text).strip()


def _tweetable(text: str) -> bool:
    return any(unicodedata.category(c) not in _INVISIBLE for c in text)


def is_note(text: str, prefixes: Sequence[str]) -> bool:
    """Whether a thread message starts with a note prefix (case-insensitive, after whitespace)."""
    head = text.lstrip().casefold()
    return any(head.startswith(p.strip().casefold()) for p in prefixes if p.strip())


# -- Counting -------------------------------------------------------------------------------------


def weighted_length(text: str) -> int:
    """The length X counts for ``text``."""
    return parse_tweet(text).weightedLength


@lru_cache(maxsize=16384)
def _w(text: str) -> int:
    return parse_tweet(text).weightedLength if text else 0


def graphemes(text: str) -> list[str]:
    """``text`` cut into user-perceived characters, close enough to UAX #29 for splitting text.

    Never cuts an emoji sequence (ZWJ, skin tone, flag, keycap, tag) or a letter from its marks.
    https://unicode.org/reports/tr29/#Grapheme_Cluster_Boundary_Rules
    """
    out: list[str] = []
    for ch in text:
        if out and _joins(out[-1], ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _hangul(cp: int) -> str:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _is_ri(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _joins(cluster: str, ch: str) -> bool:
    prev, cp = cluster[-1], ord(ch)
    if prev == "\r":
        return ch == "\n"
    if unicodedata.category(prev) == "Cc":
        return False
    if (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp in (0x200C, 0x200D)
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
        or 0xE0100 <= cp <= 0xE01EF
        or prev == "\u200d"
    ):
        return True
    if _is_ri(cp) and _is_ri(ord(prev)):
        return sum(_is_ri(ord(c)) for c in cluster) % 2 == 1
    before, after = _hangul(ord(prev)), _hangul(cp)
    return (
        (before == "L" and after in ("L", "V", "LV", "LVT"))
        or (before in ("V", "LV") and after in ("V", "T"))
        or (before in ("LVT", "T") and after == "T")
    )


# -- Composing and splitting ----------------------------------------------------------------------


def compose(body: str, signature: str) -> str:
    """``body`` signed: ``"Thanks! ^AN"``; unchanged when there is no signature."""
    body, signature = _clean(body), _clean(signature)
    return f"{body} {signature}" if signature else body


class _Item(NamedTuple):
    sep: str  # whitespace before the word in the original; "" between pieces of a hard-split word
    text: str
    sep_w: int
    w: int


# Whitespace to split at; no-break spaces are meant to hold their neighbours together.
_SPACE = re.compile(r"([^\S\u00a0\u2007\u202f]+)")
# A sentence ends in . ! ? or an ellipsis (CJK full stops too), maybe then closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]\u00bb]*$")


def split_reply(body: str, signature: str, limit: int = MAX_WEIGHTED) -> list[str]:
    """The tweets for a reply: one if it fits, else ``"{chunk} {i}/{n} {signature}"`` parts.

    Every part fits ``limit`` as X counts it. Parts break at whitespace, at a sentence end when
    that wastes little room, and inside a word only when the word alone is longer than a part,
    then at grapheme boundaries and never inside a URL.
    """
    body, signature = _clean(body), _clean(signature)
    if not _tweetable(body):
        raise EmptyReply()
    single = compose(body, signature)
    if _w(single) <= limit:
        return [single]
    sig = f" {signature}" if signature else ""
    words = _SPACE.split(body)  # word, space, word, ..., word
    # Find n: a label "i/n" one digit wider can push the chain past 9, 99... parts, so pack with
    # labels d digits wide and keep the first d whose part count needs no more than d digits.
    for digits in range(1, 8):
        chunks = _pack(words, sig, limit, digits)
        if chunks is not None:
            n = len(chunks)
            return [f"{chunk} {i}/{n}{sig}" for i, chunk in enumerate(chunks, 1)]
    raise ValueError("the reply needs more than a million tweets")


def _label_w(i: int, digits: int) -> int:
    return len(f" {i}/") + digits  # ASCII digits and "/" weigh 1 each


def _pack(words: list[str], sig: str, limit: int, digits: int) -> list[str] | None:
    """The chunks for labels ``digits`` wide, or None when that needs more than 9, 99... parts."""
    fixed = _w(sig) + _label_w(10**digits - 1, digits)
    if limit - fixed < 1:
        raise ValueError(f"a {limit}-character limit leaves no room next to the signature {sig!r}")
    items = _items(words, limit - fixed)
    chunks: list[str] = []
    start = 0
    while start < len(items):
        i = len(chunks) + 1
        if i >= 10**digits:
            return None
        label = f" {i}/{'9' * digits}{sig}"  # the real label is never wider
        cap = limit - _w(sig) - _label_w(i, digits)
        end, total, best = start, 0, None
        while end < len(items):
            item = items[end]
            add = item.w + (item.sep_w if end > start else 0)
            if total + add > cap:
                break
            total += add
            end += 1
            if end < len(items) and (_SENTENCE_END.search(item.text) or "\n" in items[end].sep):
                best = (end, total)
        if end < len(items) and best and best[1] * 3 >= cap * 2:
            end = best[0]  # a sentence ends close enough to the limit: break there
        end = max(end, start + 1)
        # Weights add up across whitespace, but X has the last word: check and back off.
        while weighted_length(_join(items, start, end) + label) > limit:
            if end == start + 1:
                raise RuntimeError(f"cannot fit {items[start].text!r} in {limit} characters")
            end -= 1
        chunks.append(_join(items, start, end))
        start = end
    return chunks


def _join(items: list[_Item], start: int, end: int) -> str:
    return items[start].text + "".join(it.sep + it.text for it in items[start + 1 : end])


def _items(words: list[str], cap: int) -> list[_Item]:
    items: list[_Item] = []
    for k in range(0, len(words), 2):
        sep = words[k - 1] if k else ""
        word = words[k]
        pieces = [word] if _w(word) <= cap else _hard_split(word, cap)
        for j, piece in enumerate(pieces):
            piece_sep = sep if j == 0 else ""
            items.append(_Item(piece_sep, piece, _w(piece_sep), _w(piece)))
    return items


def _units(word: str) -> list[str]:
    """The pieces a word may be cut between: whole URLs, and graphemes elsewhere."""
    units: list[str] = []
    pos = 0
    for url in extract_urls_with_indices(word):
        start, end = url["indices"]
        units += graphemes(word[pos:start])
        units.append(word[start:end])
        pos = end
    return units + graphemes(word[pos:])


def _hard_split(word: str, cap: int) -> list[str]:
    units: list[str] = []
    for unit in _units(word):
        # A letter with dozens of combining marks can outweigh a part: cut it by code point.
        units += list(unit) if _w(unit) > cap and not extract_urls_with_indices(unit) else [unit]
    weights = [_w(u) for u in units]
    pieces: list[str] = []
    start = 0
    while start < len(units):
        end, total, best = start, 0, None
        while end < len(units) and total + weights[end] <= cap:
            total += weights[end]
            end += 1
            if _SENTENCE_END.search(units[end - 1]):
                best = (end, total)
        if end == start:
            raise ValueError(f"a {cap}-character part cannot hold the link {units[start]!r}")
        if end < len(units) and best and best[1] * 3 >= cap * 2:
            end = best[0]
        while end > start + 1 and weighted_length("".join(units[start:end])) > cap:
            end -= 1
        pieces.append("".join(units[start:end]))
        start = end
    return pieces


def plan_reply(text: str, signature: str, mode: ReplyMode = "split", limit: int = MAX_WEIGHTED) -> list[str]:
    """The tweets to send for an agent's (already plain, see :func:`slack_to_plain`) reply.

    Raises :class:`EmptyReply` when nothing is left to tweet, and :class:`ReplyTooLong` when the
    signed reply is over ``limit`` and ``mode`` is ``"refuse"``.
    """
    body = _clean(text)
    if not _tweetable(body):
        raise EmptyReply()
    composed = compose(body, signature)
    length = weighted_length(composed)
    if length <= limit:
        return [composed]
    if mode == "refuse":
        raise ReplyTooLong(length, limit)
    if mode != "split":
        raise ValueError(f"unknown reply mode {mode!r}, expected 'split' or 'refuse'")
    return split_reply(body, signature, limit)


MAX_DM = 10_000  # characters of one direct message: https://docs.x.com/x-api/direct-messages/manage/introduction


def dm_text(text: str, signature: str) -> str:
    """The DM for a Slack reply: plain text, signed; one message, never split."""
    return plan_reply(slack_to_plain(text), signature, "refuse", limit=sys.maxsize)[0]
