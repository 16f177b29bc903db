"""X to Slack: the Block Kit messages for a case's parent, its follow-up tweets and bridge notices.

Everything a customer wrote (text, name, alt text) goes through :func:`escape_mrkdwn`: tweet text is
data, never markup. Limits are Block Kit's: 50 blocks a message, 3,000 characters a section text,
https://api.slack.com/reference/block-kit/blocks
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from bridge.core.models import Case, CaseStatus, Media, Tweet, tweet_url
from bridge.core.mrkdwn import UNDERSCORE, escape_mrkdwn, visible_controls
from bridge.core.tweet_text import graphemes

Block = dict[str, Any]
BlockIds = Callable[[str], str]  # a block kind to its block_id

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_IMAGE_URL = 3000
MAX_ALT_TEXT = 2000
MAX_IMAGES = 4  # X attaches at most four photos, or one video or GIF
MAX_TEXT_SECTIONS = 10  # 30,000 characters: a long post past that is cut, the rest is one click away
BLOCK_ID_PREFIX = "xdesk"

DIRECT_MESSAGE = "\U0001f512 Private direct message (not public on X)"
_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")  # X usernames; anything else is not linked
_TWEET_ID = re.compile(r"^[0-9]{1,25}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMOJI_NAME = re.compile(r"^[a-z0-9_+\-']+$")

def _mrkdwn(text: str) -> Block:
    # verbatim: Slack must not auto-link URLs or turn @names and #channels into mentions:
    # https://api.slack.com/reference/block-kit/composition-objects#text
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _slack_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # never less than Slack's own count


# -- Block ids ------------------------------------------------------------------------------------


class BlockRef(NamedTuple):
    kind: str
    tweet_id: str
    case_id: str | None


def block_id(kind: str, tweet_id: str, case_id: str | None = None) -> str:
    """``xdesk:<kind>:<tweet id>[:<case id>]``, unique per message; Slack allows 255 characters."""
    if ":" in kind:
        raise ValueError(f"block kind {kind!r} must not contain ':'")
    value = ":".join([BLOCK_ID_PREFIX, kind, tweet_id, *([case_id] if case_id else [])])
    if len(value) > 255:
        raise ValueError(f"block_id {value[:40]}... is longer than Slack's 255 characters")
    return value


def parse_block_id(value: str) -> BlockRef | None:
    """The kind, tweet id and case id in a block_id made by :func:`block_id`, else None."""
    parts = value.split(":", 3)
    if len(parts) < 3 or parts[0] != BLOCK_ID_PREFIX:
        return None
    return BlockRef(parts[1], parts[2], parts[3] if len(parts) == 4 else None)


# -- Pieces ---------------------------------------------------------------------------------------


def format_followers(count: int) -> str:
    """``"12.3k followers"``; rounded down so a count is never overstated."""
    if count == 1:
        return "1 follower"
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if count >= size:
            whole, rest = divmod(count, size)
            tenth = rest * 10 // size
            shown = f"{whole}.{tenth}" if whole < 100 and tenth else str(whole)
            return f"{shown}{unit} followers"
    return f"{max(count, 0)} followers"


def _safe_url(url: str | None) -> str | None:
    ok = url and url.startswith("https://") and len(url) <= MAX_IMAGE_URL and not re.search(r"\s", url)
    return url if ok else None


def _truncate(text: str, limit: int) -> str:
    """``text`` cut at a grapheme boundary to ``limit`` Slack characters, with an ellipsis."""
    if _slack_len(text) <= limit:
        return text
    kept, size = [], 1
    for g in graphemes(text):
        size += _slack_len(g)
        if size > limit:
            break
        kept.append(g)
    return "".join(kept).rstrip() + "…"


def _tweet_link(tweet: Tweet) -> str | None:
    if tweet.direct or not _TWEET_ID.match(tweet.id):  # a direct message is private: no link to it
        return None
    user = tweet.author.username if _HANDLE.match(tweet.author.username) else "i"
    return tweet_url(user, tweet.id)


def _who(tweet: Tweet) -> str:
    """``*Name* <profile|@handle>``: the only formatting here is the bridge's own bold."""
    author = tweet.author
    name = escape_mrkdwn(visible_controls(_truncate(" ".join(author.name.split()), 100)))
    handle = author.username
    if _HANDLE.match(handle):
        # Only the underscores need care in a label (a handle like _a_ would italicise itself).
        label = UNDERSCORE.sub("\u02cd", handle)
        at = f"<https://x.com/{handle}|@{label}>"
    else:
        at = escape_mrkdwn("@" + _truncate(handle, 30))
    return f"*{name}* {at}" if name else at


def _plain_who(tweet: Tweet) -> str:
    who = f"{_truncate(tweet.author.name, 100)} (@{_truncate(tweet.author.username, 30)})"
    return escape_mrkdwn(visible_controls(who))


_CUT = " … (cut here: the whole post is on X)"


def _text_sections(text: str, ids: BlockIds, budget: int) -> list[Block]:
    """The tweet text as it was written, in as many blocks as it needs (at most ``budget``).

    A ``rich_text`` block's ``text`` element is shown literally: Slack parses no mrkdwn, no mention and
    no link in it, so the customer's words need no escaping and are shown, and copied, byte for byte
    (``KD_123`` stays ``KD_123``; X's terms forbid altering content beyond display formatting).
    https://docs.slack.dev/reference/block-kit/blocks/rich-text-block
    """
    # A letter under hundreds of combining marks must not outgrow a block on its own.
    rest = [c for g in graphemes(visible_controls(text.strip())) for c in (g if len(g) > 64 else [g])]
    chunks: list[str] = []
    while rest and len(chunks) < budget:
        take = _fit(rest, MAX_SECTION_TEXT)
        if take < len(rest):  # prefer a line break, then a space, in the last quarter
            for stop in ("\n", " "):
                cut = next((k for k in range(take, take * 3 // 4, -1) if rest[k - 1] == stop), None)
                if cut:
                    take = cut
                    break
        chunks.append("".join(rest[:take]))
        rest = rest[take:]
    pieces = [[{"type": "text", "text": c}] for c in chunks]
    if rest and chunks:
        last = graphemes(chunks[-1])
        pieces[-1] = [{"type": "text", "text": "".join(last[: _fit(last, MAX_SECTION_TEXT - len(_CUT))])},
                      {"type": "text", "text": _CUT, "style": {"italic": True}}]
    return [{"type": "rich_text", "block_id": ids(f"text.{k}"),
             "elements": [{"type": "rich_text_section", "elements": p}]}
            for k, p in enumerate(pieces) if "".join(e["text"] for e in p).strip()]


def _fit(chars: list[str], limit: int) -> int:
    """How many of ``chars`` fit in ``limit`` as Slack counts."""
    if _slack_len("".join(chars)) <= limit:
        return len(chars)  # a tweet fits whole: no search
    lo, hi = 1, len(chars)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _slack_len("".join(chars[:mid])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- Messages -------------------------------------------------------------------------------------


def _image(url: str, alt: str) -> Block:
    # alt_text is plain text (never parsed as mrkdwn) and required, at most 2,000 characters.
    return {"type": "image", "image_url": url,
            "alt_text": _truncate(visible_controls(alt.strip()) or "image", MAX_ALT_TEXT)}


def _media_blocks(tweet: Tweet, ids: BlockIds, images: bool) -> list[Block]:
    """Photos, and the preview image of a video or GIF, as image blocks; Slack cannot play X's
    videos, so those also get a link to the post. What is not shown is a click away on X."""
    blocks: list[Block] = []
    moving: list[str] = []  # the types of videos and GIFs
    hidden = 0
    for k, media in enumerate(tweet.media):
        url = _safe_url(media.url) if images else None
        if media.type != "photo":
            moving.append(media.type)
        if url is None or len(blocks) >= MAX_IMAGES:
            hidden += media.type == "photo"
            continue
        blocks.append({**_image(url, _alt(media)), "block_id": ids(f"media.{k}")})
    link = _tweet_link(tweet)
    notes = []
    if moving:
        word = "GIF" if all(t == "animated_gif" for t in moving) else "video"
        label = f"{word} on X" if len(moving) == 1 else f"{len(moving)} {word}s on X"
        notes.append(f"\U0001f3ac <{link}|{label}>" if link else f"\U0001f3ac {label}")
    if hidden:
        notes.append(f"\U0001f4f7 {hidden} more photo{'s' if hidden > 1 else ''} on X")
    if notes:
        blocks.append({"type": "context", "block_id": ids("media.note"), "elements": [_mrkdwn(" · ".join(notes))]})
    return blocks


def _alt(media: Media) -> str:
    if media.type == "photo":
        return media.alt_text or "Photo attached to the post"
    kind = "GIF" if media.type == "animated_gif" else "video"
    return f"Preview of a {kind} (play it on X): {media.alt_text}" if media.alt_text else \
        f"Preview of a {kind}: play it on X"


def _by(user: str | None) -> str:
    return f" by <@{user}>" if user and _SLACK_USER.match(user) else ""


def status_line(case: Case, claim_emoji: str) -> str:
    """The parent's state: open (and how to claim), claimed by whom, or resolved by whom."""
    if case.status is CaseStatus.RESOLVED:
        return f"\u2705 Resolved{_by(case.resolved_by)}"
    if case.status is CaseStatus.CLAIMED:
        return f"\U0001f440 Claimed{_by(case.claimer)}"
    how = f"react :{claim_emoji}: to claim" if _EMOJI_NAME.match(claim_emoji) else "react to claim"
    return f"\U0001f7e2 Open \u2014 {how}"


def parent_blocks(
    case: Case, tweet: Tweet, *, brand_username: str, claim_emoji: str = "eyes", images: bool = True
) -> tuple[list[Block], str]:
    """The case's parent message: (blocks, notification text).

    ``images=False`` leaves out every image (avatar, photos, previews): Slack refuses the whole
    message when it cannot fetch one, and the case must still be posted.
    """
    author = tweet.author

    def ids(kind: str) -> str:
        return block_id(kind, tweet.id, case.id)

    head: Block = {
        "type": "section",
        "block_id": ids("author"),
        "text": _mrkdwn(f"{_who(tweet)} \u00b7 {format_followers(author.followers)}"),
    }
    avatar = _safe_url(author.profile_image_url) if images else None
    if avatar:
        head["accessory"] = _image(avatar, f"Profile picture of @{author.username}")
    tail: list[Block] = []
    if not case.answerable:
        brand = escape_mrkdwn("@" + brand_username)
        warning = (
            f"\u26a0\ufe0f X won't let {brand} answer this from here: the post doesn't mention {brand}. "
            f"Reply in the X app, or ask the customer to mention {brand}."
        )
        tail.append({"type": "section", "block_id": ids("warn"), "text": _mrkdwn(warning)})
    facts = [status_line(case, claim_emoji)]
    if case.after_hours:
        facts.append("\U0001f319 Came in after hours")
    gone = case.extra.get("customer_deleted")  # bridge/intake/deletions.py; older than their latest: past
    if gone in (tweet.id, case.latest_customer_tweet):
        which = "this" if gone == tweet.id else "their latest"
        facts.append(f"\U0001f5d1\ufe0f The customer deleted {which} tweet on X")
    if case.topic:
        facts.insert(0, "Topic: " + escape_mrkdwn(_truncate(case.topic, 200)))
    link = _tweet_link(tweet)
    if link:
        facts.insert(0, f"<{link}|View on X>")
    if tweet.direct:
        facts.insert(0, DIRECT_MESSAGE)
    tail.append(
        {
            "type": "context",
            "block_id": ids("status"),
            "elements": [_mrkdwn(f) for f in facts],
        }
    )
    media = _media_blocks(tweet, ids, images)
    budget = min(MAX_TEXT_SECTIONS, MAX_BLOCKS - 1 - len(media) - len(tail))
    text = _gone(ids) if tweet.gone else _text_sections(tweet.text, ids, budget)
    what = "direct message" if tweet.direct else "case"
    fallback = f"New {what} from {tweet.author.name} (@{author.username}): {GONE if tweet.gone else tweet.text}"
    return [head, *text, *media, *tail], escape_mrkdwn(visible_controls(_truncate(" ".join(fallback.split()), 300)))


GONE = "The customer deleted this tweet on X."


def _gone(ids: BlockIds) -> list[Block]:
    """In place of a tweet X no longer shows: its text and media leave Slack (X's developer terms)."""
    return [{"type": "section", "block_id": ids("text0"), "text": _mrkdwn(f"_{GONE}_")}]


def followup_blocks(tweet: Tweet, *, images: bool = True) -> tuple[list[Block], str]:
    """A customer's follow-up tweet, posted in the case's thread: (blocks, notification text)."""

    def ids(kind: str) -> str:
        return block_id(kind, tweet.id)

    who: list[Block] = []
    avatar = _safe_url(tweet.author.profile_image_url) if images else None
    if avatar:
        who.append(_image(avatar, f"Profile picture of @{tweet.author.username}"))
    who.append(_mrkdwn(_who(tweet)))
    if tweet.direct:
        who.append(_mrkdwn(DIRECT_MESSAGE))
    blocks: list[Block] = [{"type": "context", "block_id": ids("author"), "elements": who}]
    media = _media_blocks(tweet, ids, images)
    link = _tweet_link(tweet)
    foot = [
        {
            "type": "context",
            "block_id": ids("link"),
            "elements": [_mrkdwn(f"<{link}|View on X>")],
        }
    ]
    foot = foot if link else []
    budget = min(MAX_TEXT_SECTIONS, MAX_BLOCKS - 1 - len(media) - len(foot))
    text = _gone(ids) if tweet.gone else _text_sections(tweet.text, ids, budget)
    blocks += [*text, *media, *foot]
    fallback = f"{tweet.author.name} (@{tweet.author.username}): {GONE if tweet.gone else tweet.text}"
    return blocks, escape_mrkdwn(visible_controls(_truncate(" ".join(fallback.split()), 300)))


def notice_blocks(text: str) -> tuple[list[Block], str]:
    """A bridge notice in a case's thread; ``text`` is the bridge's own mrkdwn, used as is."""
    chunks = _split_own(text.strip() or "\u2026")[:MAX_BLOCKS]
    return [{"type": "section", "text": _mrkdwn(c)} for c in chunks], chunks[0]


def _split_own(text: str) -> list[str]:
    """``text`` in pieces of at most 3,000, cut at a line break or space and never inside <...>."""
    chunks: list[str] = []
    while _slack_len(text) > MAX_SECTION_TEXT:
        end, size = 0, 0
        while size + _slack_len(text[end]) <= MAX_SECTION_TEXT:
            size += _slack_len(text[end])
            end += 1
        spans = [m.span() for m in re.finditer(r"<[^<>]*>", text) if m.start() < end]
        inside = [s for s, e in spans if s < end < e]
        cut = inside[0] if inside and inside[0] > 0 else end
        for stop in ("\n", " "):
            free = [k for k in range(cut - 1, cut // 2, -1) if text[k] == stop]
            at = next((k for k in free if not any(s < k < e for s, e in spans)), None)
            if at:
                cut = at
                break
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*chunks, text] if text else chunks


# -- Case history and actions on the parent ---------------------------------------------------------

ACTION_HANDOVER = "xdesk_handover"
ACTION_TAKEOVER = "xdesk_takeover"
ACTION_MOVE = "xdesk_move"


def history_block(earlier: list[tuple[str, str | None]], total: int, block_id: str) -> Block:
    """"N earlier cases" of the customer, the latest ones as (label, permalink or None).

    Labels are the bridge's own words; a link that could break out of ``<url|label>`` is dropped.
    """
    shown = [f"<{url}|{label}>" if url and _safe_url(url) and not re.search("[<>|]", url) else label
             for label, url in earlier]
    word = "case" if total == 1 else "cases"
    more = f" (the latest {len(shown)})" if total > len(shown) else ""
    text = f"\U0001f5c2\ufe0f {total} earlier {word} from this customer{more}: " + ", ".join(shown)
    return {"type": "context", "block_id": block_id, "elements": [_mrkdwn(text[:MAX_SECTION_TEXT])]}


def case_actions_block(case_id: str, block_id: str) -> Block:
    """The parent's buttons. Everyone sees them; each click is authorised by the bridge."""

    def button(action_id: str, label: str) -> Block:
        return {"type": "button", "action_id": action_id, "value": case_id,
                "text": {"type": "plain_text", "text": label, "emoji": True}}

    return {"type": "actions", "block_id": block_id, "elements": [
        button(ACTION_HANDOVER, "Hand over\u2026"), button(ACTION_TAKEOVER, "Take over (admins)"),
        button(ACTION_MOVE, "Move\u2026"),
    ]}
