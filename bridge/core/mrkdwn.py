"""Customer text made inert for Slack: it shows the same words and mentions, links or formats nothing."""

from __future__ import annotations

import re

# Slack reads &, < and > as control characters and wants them as entities, which it shows as the
# characters: https://api.slack.com/reference/surfaces/formatting#escaping
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Slack has no escape for *bold* _italic_ ~strike~ `code` (a backslash shows up and still formats:
# https://github.com/slackhq/slack-api-docs/issues/34), and whether it treats an inserted U+200B as
# a space or as punctuation decides whether "\u200b*\u200bx\u200b*\u200b" formats. So the markers
# become look-alikes that no Slack version parses, as jsx-slack's <Escape> does (its doc "About
# escape and exact mode", https://github.com/yhatt/jsx-slack); Slack formats full-width forms too.
_MARKERS = str.maketrans({"*": "\u2217", "\uff0a": "\ufe61", "~": "\u223c", "`": "\u02cb", "\uff40": "\u02cb"})
# An underscore between two ASCII letters or digits can never open or close italics, and
# order_1234 or snake_case should stay copyable; every other one becomes U+02CD.
UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\uff3f")
# A line starting with > is a quote. A soft hyphen before it is invisible and ends that.
_QUOTE = re.compile(r"^([ \t]*)(&gt;|\uff1e)", re.MULTILINE)
# @here, @channel, @everyone and @name: a WORD JOINER after "@" (and after "#" for channel
# names) keeps the text readable but matches no name. :name: would show a workspace emoji.
_AT = re.compile(r"([@#])(?=\S)")
_SHORTCODE = re.compile(r":(?=[a-z0-9_+'\-]+:)", re.IGNORECASE)


def escape_mrkdwn(text: str) -> str:
    """``text`` as Slack mrkdwn that shows the same words and mentions, links or formats nothing."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_ENTITIES)
    text = UNDERSCORE.sub(lambda m: "\u2e0f" if m[0] == "\uff3f" else "\u02cd", text)
    text = text.translate(_MARKERS)
    text = _AT.sub("\\1\u2060", text)
    text = _SHORTCODE.sub(":\u2060", text)
    return _QUOTE.sub("\\1\u00ad\\2", text)


# Characters that change how the text around them reads without being seen: the bidirectional
# overrides and isolates (U+202A-U+202E, U+2066-U+2069; "Trojan Source", CVE-2021-42574), the
# marks U+200E, U+200F and U+061C, and the C0 and C1 controls but line feed and tab. Right-to-left
# scripts and emoji (with their joiners) are left alone.
_HIDDEN = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_controls(text: str) -> str:
    """``text`` with every character that could make it read other than it is shown as ``<U+202E>``."""
    return _HIDDEN.sub(lambda m: f"<U+{ord(m[0]):04X}>", text)


def unescape(text: str) -> str:
    """A slash command's text as the user typed it: Slack escapes ``&``, ``<`` and ``>`` in it
    (https://docs.slack.dev/messaging/formatting-message-text#escaping)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

