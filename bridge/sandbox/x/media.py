"""Media upload in the X emulator, and media attached to a tweet the brand creates.

Endpoints (OpenAPI 2.162, https://docs.x.com/x-api/media/quickstart/media-upload-chunked):
``POST /2/media/upload`` (one shot, images only: ``MediaUploadRequestOneShot``), the chunked
``POST /2/media/upload/initialize`` (``MediaUploadConfigRequest``), ``/{id}/append``
(``MediaUploadAppendRequest``: ``media`` + ``segment_index``, multipart or JSON with base64) and
``/{id}/finalize``, and ``GET /2/media/upload?command=STATUS&media_id=`` while a video or GIF is
processed. Answers are ``MediaUploadResponse`` as in X's doc examples (``data`` only). Plain data, no
locking: the emulator holds its lock around every use.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox.x.store import StoredMedia, StoredTweet, World
from bridge.sandbox.x.wire import Reply, check_id, invalid_request, problem

MB = 1024 * 1024
# What each category takes: https://docs.x.com/x-api/media/quickstart/best-practices
CATEGORIES: dict[str, tuple[frozenset[str], int]] = {
    "tweet_image": (frozenset({"image/jpeg", "image/pjpeg", "image/png", "image/webp"}), 5 * MB),
    "tweet_gif": (frozenset({"image/gif"}), 15 * MB),
    "tweet_video": (frozenset({"video/mp4", "video/quicktime"}), 512 * MB),
}
ONE_SHOT = frozenset({"tweet_image"})  # MediaCategoryOneShot, as far as tweets go
_KIND = {"tweet_image": ("photo", "3"), "tweet_gif": ("animated_gif", "16"), "tweet_video": ("video", "7")}
_MAGIC: list[tuple[str, Callable[[bytes], bool]]] = [
    ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("image/gif", lambda b: b.startswith((b"GIF87a", b"GIF89a"))),
    ("image/webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
    ("video/mp4", lambda b: b[4:8] == b"ftyp"),
]
EXPIRES_AFTER = 86400  # a media id can be attached for 24 hours
INVALID_IDS = "Your media IDs are invalid."


@dataclass
class Upload:
    id: str
    category: str
    media_type: str
    total_bytes: int
    expires_at: float
    chunks: dict[int, bytes] = field(default_factory=dict)
    finalized: bool = False
    checks_left: int = 0  # STATUS calls until processing has succeeded

    @property
    def key(self) -> str:
        return f"{_KIND[self.category][1]}_{self.id}"

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks.values())


def sniff(data: bytes) -> str | None:
    """The type the bytes say they are, as X decides, whatever the request claimed."""
    return next((kind for kind, test in _MAGIC if test(data[:16])), None)


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """A JSON body (``media`` base64) or a multipart one (``media`` raw bytes)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if isinstance(name, str):
                fields[name] = payload if name == "media" else payload.decode("utf-8", "replace")
        return fields
    try:
        fields = json.loads(body or b"null")
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise invalid_request([("body", body[:80].decode(errors="replace"), "The body is not JSON")])
    if isinstance(fields.get("media"), str):
        try:
            fields["media"] = base64.b64decode(fields["media"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid_request([("media", "", "The `media` field is not valid base64")]) from None
    return fields


class MediaUploads:
    """Upload sessions of the brand account, and their media once attached to a tweet."""

    def __init__(self, next_id: Callable[[], str]) -> None:
        self.next_id = next_id
        self.uploads: dict[str, Upload] = {}
        self.processing_checks = 1  # STATUS answers "in_progress" this many times for a video or GIF
        self.check_after_secs = 1
        # X's OpenAPI answers APPEND with 200 and a JSON body; X itself (v1.1, its playground) answers
        # 204 with none. True: answer as X does.
        self.append_answers_204 = False

    # -- endpoints -----------------------------------------------------------------------------

    def one_shot(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        fields = parse_body(body, _content_type(headers))
        category, media = fields.get("media_category"), fields.get("media")
        if category not in ONE_SHOT or not isinstance(media, bytes) or not media:
            raise invalid_request([("media_category", str(category), "One-shot uploads take `media` and a "
                                    "`media_category` of tweet_image; use /2/media/upload/initialize otherwise")])
        upload = self._new(category, _type_of(media, fields.get("media_type"), category), len(media))
        upload.chunks[0] = media
        return self._finalize(upload)

    def initialize(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        fields = parse_body(body, "application/json")
        category, media_type, total = fields.get("media_category"), fields.get("media_type"), fields.get("total_bytes")
        if category not in CATEGORIES or not isinstance(total, int) or total <= 0:
            raise invalid_request([("media_category", str(category), "initialize takes `media_category` "
                                    "(tweet_image, tweet_gif or tweet_video), `media_type` and `total_bytes`")])
        types, limit = CATEGORIES[category]
        if media_type not in types:
            raise invalid_request([("media_type", str(media_type), f"`media_type` must be one of {sorted(types)} "
                                    f"for {category}")])
        _check_size(total, limit, category)
        upload = self._new(category, media_type, total)
        return Reply(200, {"data": {"id": upload.id, "media_key": upload.key,
                                    "expires_after_secs": _left(upload)}})

    def append(self, media_id: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        upload = self._open(media_id)
        fields = parse_body(body, _content_type(headers))
        index, media = fields.get("segment_index"), fields.get("media")
        index = int(index) if isinstance(index, str) and index.isdigit() else index
        if not isinstance(index, int) or not 0 <= index <= 999 or not isinstance(media, bytes):
            raise invalid_request([("segment_index", str(index), "append takes `media` and a `segment_index` "
                                    "from 0 to 999")])
        upload.chunks[index] = media
        if self.append_answers_204:
            return Reply(204, None)
        return Reply(200, {"data": {"expires_at": int(upload.expires_at)}})

    def finalize(self, media_id: str) -> Reply:
        upload = self._open(media_id)
        if upload.size != upload.total_bytes:
            raise invalid_request([("id", media_id, f"Segments add up to {upload.size} bytes, not the "
                                    f"{upload.total_bytes} announced in initialize")])
        data = b"".join(upload.chunks[i] for i in sorted(upload.chunks))
        if sniff(data) != _canonical(upload.media_type):
            raise invalid_request([("media", "", "media type unrecognized.")])
        return self._finalize(upload)

    def status(self, query: dict[str, str]) -> Reply:
        media_id = check_id("media_id", query.get("media_id"))
        if query.get("command", "STATUS") != "STATUS":
            raise invalid_request([("command", query["command"], "The `command` must be STATUS")])
        upload = self.uploads.get(media_id)
        if upload is None or not upload.finalized:
            raise invalid_request([("media_id", media_id, "Invalid media_id")])
        if upload.checks_left > 0:
            upload.checks_left -= 1
        return Reply(200, {"data": self._data(upload)})

    # -- tweets --------------------------------------------------------------------------------

    def check_attachable(self, media_ids: list[str]) -> None:
        """X's refusals of ``media.media_ids`` in ``POST /2/tweets``, before anything is created."""
        uploads = [self.uploads.get(m) for m in media_ids]
        if any(u is None or not u.finalized or u.checks_left or u.expires_at < time.time() for u in uploads):
            raise invalid_request([("media.media_ids", ",".join(media_ids), INVALID_IDS)])
        kinds = {u.category for u in uploads if u}
        if len(media_ids) > 4 or (kinds - {"tweet_image"} and len(media_ids) > 1):
            raise problem(400, "A Post may carry up to 4 photos, or 1 video or GIF, not both.")

    def attach(self, world: World, tweet: StoredTweet, media_ids: list[str], brand: str) -> None:
        """Give the new tweet its media, and the ``pic.x.com`` link X appends to the text of such a tweet."""
        for media_id in media_ids:
            upload = self.uploads[media_id]
            kind = _KIND[upload.category][0]
            url = (f"https://pbs.twimg.com/media/{media_id}.jpg" if kind == "photo"
                   else f"https://pbs.twimg.com/ext_tw_video_thumb/{media_id}/pu/img/{media_id}.jpg")
            world.media[upload.key] = StoredMedia(upload.key, kind, url)
            tweet.media_keys.append(upload.key)
        if media_ids:
            tco = f"https://t.co/m{tweet.id[-9:]}"
            start = len(tweet.text) + (1 if tweet.text else 0)
            tweet.text = f"{tweet.text} {tco}" if tweet.text else tco
            tweet.urls.append((start, start + len(tco), tco, f"https://x.com/{brand}/status/{tweet.id}/photo/1"))

    # -- inside --------------------------------------------------------------------------------

    def _new(self, category: str, media_type: str, total: int) -> Upload:
        upload = Upload(self.next_id(), category, media_type, total, time.time() + EXPIRES_AFTER)
        self.uploads[upload.id] = upload
        return upload

    def _open(self, media_id: str) -> Upload:
        upload = self.uploads.get(check_id("id", media_id))
        if upload is None or upload.finalized:
            raise invalid_request([("id", media_id, "Invalid media id: no upload in progress with this id")])
        return upload

    def _finalize(self, upload: Upload) -> Reply:
        upload.finalized = True
        upload.checks_left = self.processing_checks if upload.category != "tweet_image" else 0
        return Reply(200, {"data": self._data(upload)})

    def _data(self, upload: Upload) -> dict[str, Any]:
        data: dict[str, Any] = {"id": upload.id, "media_key": upload.key, "size": upload.size,
                                "expires_after_secs": _left(upload)}
        if upload.category != "tweet_image":  # X processes videos and GIFs after finalize
            state = "succeeded" if upload.checks_left == 0 else "in_progress"
            data["processing_info"] = {"state": state, "progress_percent": 100 if state == "succeeded" else 50}
            if state != "succeeded":
                data["processing_info"]["check_after_secs"] = self.check_after_secs
        return data


def _content_type(headers: Mapping[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), "")


def _canonical(media_type: str) -> str:
    return {"image/pjpeg": "image/jpeg", "video/quicktime": "video/mp4"}.get(media_type, media_type)


def _type_of(media: bytes, claimed: object, category: str) -> str:
    found = sniff(media)
    types, limit = CATEGORIES[category]
    if found not in types or (claimed is not None and _canonical(str(claimed)) != found):
        raise invalid_request([("media", "", "media type unrecognized.")])
    _check_size(len(media), limit, category)
    return found


def _check_size(size: int, limit: int, category: str) -> None:
    if size > limit:
        raise invalid_request([("total_bytes", str(size), f"File size exceeds {limit // MB} MB for {category}")])


def _left(upload: Upload) -> int:
    return max(0, int(upload.expires_at - time.time()))


# -- the emulator's handlers (``XEmulator`` routes them after OAuth and rate limits) -------------


def _upload(emu: Any, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
    with emu._cond:
        return emu.media.one_shot(body, emu._local.headers)


def _initialize(emu: Any, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
    with emu._cond:
        return emu.media.initialize(body, emu._local.headers)


def _append(emu: Any, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
    with emu._cond:
        return emu.media.append(args[0], body, emu._local.headers)


def _finalize(emu: Any, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
    with emu._cond:
        return emu.media.finalize(args[0])


def _status(emu: Any, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
    with emu._cond:
        return emu.media.status(query)


ROUTES: list[tuple[str, re.Pattern[str], str, Callable[..., Reply]]] = [
    ("POST", re.compile(r"^/2/media/upload$"), "POST /2/media/upload", _upload),
    ("GET", re.compile(r"^/2/media/upload$"), "GET /2/media/upload", _status),
    ("POST", re.compile(r"^/2/media/upload/initialize$"), "POST /2/media/upload/initialize", _initialize),
    ("POST", re.compile(r"^/2/media/upload/([^/]+)/append$"), "POST /2/media/upload/:id/append", _append),
    ("POST", re.compile(r"^/2/media/upload/([^/]+)/finalize$"), "POST /2/media/upload/:id/finalize", _finalize),
]
