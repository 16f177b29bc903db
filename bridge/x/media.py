"""Uploading a file to X for a tweet: X API v2 media upload, OAuth 1.0a user context.

tweepy 4.17 has no v2 media upload (only v1.1's ``API.media_upload``), so these calls go through
:meth:`XClient.signed_json`: the same session, signing, timeouts and errors as every other X call.
Images go up in one request (``POST /2/media/upload``, ``media_category=tweet_image``); GIFs and
videos in chunks (``initialize``, ``append`` per chunk, ``finalize``), after which X processes them and
the media id can be attached only once ``GET /2/media/upload?command=STATUS`` says ``succeeded``:
https://docs.x.com/x-api/media/quickstart/media-upload-chunked
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.x.client import XClient
from bridge.x.errors import XUnavailable

CHUNK = 4 * 1024 * 1024  # X takes segments of up to 5 MB
UPLOAD = "POST /2/media/upload"


@dataclass(frozen=True)
class Uploaded:
    """A media id and whether X is done with it. ``state`` None or ``"succeeded"``: attachable."""

    media_id: str
    state: str | None = None  # X's processing_info.state: pending, in_progress, succeeded, failed
    check_after: float = 1.0
    expires_after: int = 86400

    @property
    def ready(self) -> bool:
        return self.state in (None, "succeeded")


class XMedia:
    def __init__(self, x: XClient) -> None:
        self.x = x

    def upload(self, data: bytes, media_type: str, category: str) -> Uploaded:
        if category == "tweet_image":
            return _uploaded(UPLOAD, self.x.signed_json(
                UPLOAD, "POST", "/2/media/upload", data={"media_category": category, "media_type": media_type},
                files={"media": ("media", data, media_type)}))
        started = _uploaded("POST /2/media/upload/initialize", self.x.signed_json(
            "POST /2/media/upload/initialize", "POST", "/2/media/upload/initialize",
            json={"media_category": category, "media_type": media_type, "total_bytes": len(data)}))
        media_id = started.media_id
        for index, start in enumerate(range(0, len(data), CHUNK)):
            # Any 2xx: X answers 204 with no body, its OpenAPI 200 with JSON; nothing in it is needed.
            self.x.signed("POST /2/media/upload/:id/append", "POST", f"/2/media/upload/{media_id}/append",
                          data={"segment_index": str(index)},
                          files={"media": ("media", data[start:start + CHUNK], "application/octet-stream")})
        return _uploaded("POST /2/media/upload/:id/finalize", self.x.signed_json(
            "POST /2/media/upload/:id/finalize", "POST", f"/2/media/upload/{media_id}/finalize"))

    def status(self, media_id: str) -> Uploaded:
        endpoint = "GET /2/media/upload"
        return _uploaded(endpoint, self.x.signed_json(endpoint, "GET", "/2/media/upload",
                                                      params={"command": "STATUS", "media_id": media_id}))


def _uploaded(endpoint: str, body: dict[str, Any]) -> Uploaded:
    data = body.get("data") or {}
    if not isinstance(data.get("id"), str):
        raise XUnavailable(f"X answered {endpoint} without a media id; the bridge will retry")
    info = data.get("processing_info") or {}
    return Uploaded(data["id"], info.get("state"), float(info.get("check_after_secs") or 1),
                    int(data.get("expires_after_secs") or 86400))
