"""The one check of an agent's public reply: a note, held back by the personal-data guard, or the tweets.

Used wherever a thread message may become tweets: a new reply (:class:`bridge.desk.desk.Desk`), an edit
offered as a replacement (:mod:`bridge.desk.edits`), a saved reply (sent through the desk), and the reply
job itself, which plans the same tweets again when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.core import privacy
from bridge.core.media import Attachment, MediaRefused, attachments
from bridge.core.settings import Settings
from bridge.core.tweet_text import EmptyReply, ReplyTooLong, is_note, plan_reply


def plan(text: str, user: str, settings: Settings, with_media: bool = False) -> list[str]:
    """The tweets for an agent's thread message: planned alike where it is checked and where it is sent.

    With media (bridge/core/media.py) a message with no text is fine: the tweet is the files and the signature.
    """
    try:
        return plan_reply(privacy.plain_reply(text, settings.privacy), settings.signature_of(user),
                          settings.replies.long)
    except EmptyReply:
        if with_media:
            return [settings.signature_of(user)]
        raise


@dataclass(frozen=True)
class Checked:
    """What may happen to a reply. ``refused``: the agent's message in words, None when it may go out."""

    note: bool = False
    refused: str | None = None
    guard: privacy.Review | None = None
    media: list[Attachment] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str | None:
        """Why it cannot be tweeted, without the "Not tweeted: " an agent is told it with."""
        return self.refused.removeprefix("Not tweeted: ") if self.refused else None

    @property
    def held_by_guard(self) -> bool:
        return bool(self.guard and self.guard.message)


def check_reply(text: str, user: str, settings: Settings, files: list[dict[str, Any]] | None = None,
                with_media: bool = False) -> Checked:
    """A note, or the guard's verdict (an edit must not get round it either), then the files and the tweets.

    ``files``: the Slack file objects of a file_share message (None: a message without files), checked
    here; ``with_media``: files already checked go with the text.
    """
    if is_note(text, settings.replies.note_prefixes):
        return Checked(note=True)
    guard = privacy.review(text, settings)
    if guard.message:
        return Checked(refused=guard.message, guard=guard)
    try:
        media = attachments(files) if files is not None else []  # a file_share without its files is refused
        parts = plan(text, user, settings, bool(media) or with_media)
    except (ReplyTooLong, EmptyReply, MediaRefused) as exc:
        return Checked(refused=f"Not tweeted: {exc}", guard=guard)
    return Checked(guard=guard, media=media, parts=parts)
