"""Files an agent attaches to a thread reply: which ones X takes, and the tweets they go out with.

X attaches to one tweet up to 4 photos (JPEG, PNG, WEBP; 5 MB each), or one animated GIF (15 MB), or
one MP4 video (512 MB), never a mix: https://docs.x.com/x-api/media/quickstart/best-practices.
Anything else is refused here, before a reply is queued, with the reason in words. Every GIF counts
as animated (uploaded as ``tweet_gif``): whether a GIF moves is not known without reading it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MB = 1024 * 1024
MAX_PHOTOS = 4
# Slack's mimetype -> (what it is, X's media category, X's size limit)
KINDS: dict[str, tuple[str, str, int]] = {
    "image/jpeg": ("photo", "tweet_image", 5 * MB),
    "image/png": ("photo", "tweet_image", 5 * MB),
    "image/webp": ("photo", "tweet_image", 5 * MB),
    "image/gif": ("GIF", "tweet_gif", 15 * MB),
    "video/mp4": ("video", "tweet_video", 512 * MB),
}
TAKES = "X takes JPEG, PNG and WEBP photos (up to 5 MB), GIFs (up to 15 MB) and MP4 videos (up to 512 MB)"


class MediaRefused(Exception):
    """The files cannot go out with a tweet; the message says why, for the agent."""


@dataclass(frozen=True)
class Attachment:
    """One file of a Slack message, as a reply job carries it."""

    id: str
    name: str
    mimetype: str
    size: int
    url: str  # url_private_download: fetched with the bot token

    @property
    def kind(self) -> str:
        return KINDS[self.mimetype][0]

    @property
    def category(self) -> str:
        return KINDS[self.mimetype][1]

    @property
    def limit(self) -> int:
        return KINDS[self.mimetype][2]

    def as_job(self) -> dict[str, Any]:
        return asdict(self)


def attachments(files: list[dict[str, Any]]) -> list[Attachment]:
    """The Slack file objects of a message as attachments for one tweet, or :class:`MediaRefused`.

    File object: https://docs.slack.dev/reference/objects/file-object
    """
    if not files:
        raise MediaRefused("Slack sent this message without its file. Attach it again.")
    found = [_one(f) for f in files]
    photos = [a for a in found if a.kind == "photo"]
    moving = [a for a in found if a.kind != "photo"]
    if moving and len(found) > 1:
        what = f"a {moving[0].kind}" if len(moving) == 1 else f"{len(moving)} videos or GIFs"
        raise MediaRefused(f"you attached {what} and {len(found) - 1} more file(s); a tweet takes one video or "
                           f"GIF alone, or up to {MAX_PHOTOS} photos. Send them in separate replies.")
    if len(photos) > MAX_PHOTOS:
        raise MediaRefused(f"you attached {len(photos)} photos; a tweet takes at most {MAX_PHOTOS}. "
                           "Send the rest in another reply.")
    return found


def _one(f: dict[str, Any]) -> Attachment:
    name = str(f.get("name") or f.get("title") or "the file")
    mimetype = str(f.get("mimetype") or "")
    url = f.get("url_private_download") or f.get("url_private")
    if f.get("mode") in ("external", "tombstone", "hidden_by_limit") or not url or not f.get("id"):
        raise MediaRefused(f"{name} is not a file stored in Slack that the bridge can fetch. {TAKES}.")
    if not mimetype:  # e.g. file_access "check_file_info": Slack left the details out of the event
        raise MediaRefused(f"Slack did not say what kind of file {name} is. Attach it again.")
    if mimetype not in KINDS:
        what = f.get("pretty_type") or f.get("filetype") or mimetype or "unknown"
        raise MediaRefused(f"{name} is a {what} file. {TAKES}.")
    attachment = Attachment(str(f["id"]), name, mimetype, int(f.get("size") or 0), str(url))
    if attachment.size > attachment.limit:
        raise MediaRefused(f"{name} is {_mb(attachment.size)}; X takes a {attachment.kind} of up to "
                           f"{attachment.limit // MB} MB.")
    return attachment


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def from_job(job: dict[str, Any]) -> list[Attachment]:
    return [Attachment(**f) for f in job.get("files") or []]


def describe(job: dict[str, Any]) -> str:
    """``"photo.png, plan.jpg"``: the files a reply carries, for a notice."""
    return ", ".join(a.name for a in from_job(job))
