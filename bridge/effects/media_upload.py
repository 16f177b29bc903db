"""The files of a reply job, fetched from Slack and uploaded to X, each once.

A media id X gave is kept in Redis for the job (until shortly before X lets it expire), so a job
retried after a crash or a refusal attaches the same upload instead of sending the file again. A
crash between X's answer and that record only costs a second upload: the tweet itself is made once by
``XReplies._tweet_once``. With ``[x] dry_run`` nothing is fetched or uploaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import redis
import requests

from bridge.core.log import kv
from bridge.core.media import Attachment, from_job
from bridge.core.settings import Environment, Settings
from bridge.effects.jobs import retry_if_later
from bridge.storage.keys import Keys
from bridge.storage.lanes import Retry
from bridge.x.client import backoff
from bridge.x.errors import XError
from bridge.x.media import Uploaded
from bridge.x.port import MediaPort

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = (5.0, 60.0)
EXPIRY_MARGIN = 3600  # re-upload an hour before X would refuse the media id as expired


class MediaFailed(Exception):
    """A file cannot be attached, whatever a retry does; the message says why, for the agent."""


class ReplyMedia:
    def __init__(self, r: redis.Redis, prefix: str, media: MediaPort, env: Environment, settings: Settings) -> None:
        self.r = r
        self.keys = Keys(prefix)
        self.media = media
        self.settings = settings
        self.token = env.slack_bot_token
        # The bot token goes only to Slack: files.slack.com, or the host SLACK_API_URL names.
        self.slack_hosts = {"files.slack.com", urlsplit(env.slack_api_url).netloc}

    def media_ids(self, job: dict) -> list[str]:
        """X's media ids for the job's files, in order; raises Retry or MediaFailed."""
        if self.settings.x.dry_run:
            return []
        return [self._one(job, i, a) for i, a in enumerate(from_job(job))]

    def _one(self, job: dict, index: int, attachment: Attachment) -> str:
        key = self.keys.media(job['id'], index)
        stored = self.r.get(key)
        if stored:
            media_id, state = stored.split(":", 1)
            if state == "ready":
                return media_id
            uploaded = self._x(lambda: self.media.status(media_id), attachment)
        else:
            data = self._download(attachment)
            uploaded = self._x(lambda: self.media.upload(data, attachment.mimetype, attachment.category),
                               attachment)
            log.info(kv("media.uploaded", job=job["id"], file=attachment.id, media=uploaded.media_id,
                        size=len(data), state=uploaded.state or "ready"))
        if uploaded.state == "failed":
            self.r.delete(key)
            raise MediaFailed(f"X could not process {attachment.name}; try another file.")
        state = "ready" if uploaded.ready else "processing"
        self.r.set(key, f"{uploaded.media_id}:{state}", ex=max(60, uploaded.expires_after - EXPIRY_MARGIN))
        if not uploaded.ready:
            raise Retry(uploaded.check_after, f"X is processing {attachment.name}")
        return uploaded.media_id

    def _x(self, call: Callable[[], Uploaded], attachment: Attachment) -> Uploaded:
        try:
            return call()
        except XError as exc:
            retry_if_later(exc, attempt=2)
            raise MediaFailed(f"{attachment.name}: {exc.reason}") from None

    def _download(self, attachment: Attachment) -> bytes:
        """The file's bytes, with the bot token (https://docs.slack.dev/messaging/working-with-files)."""
        if urlsplit(attachment.url).netloc not in self.slack_hosts:
            raise MediaFailed(f"{attachment.name} is not stored in Slack, so the bridge does not fetch it.")
        try:
            with requests.get(attachment.url, headers={"Authorization": f"Bearer {self.token}"}, stream=True,
                              timeout=DOWNLOAD_TIMEOUT) as response:
                if response.status_code in (404, 410):
                    raise MediaFailed(f"{attachment.name} is no longer in Slack (deleted?). Attach it again.")
                if response.status_code >= 300:
                    raise Retry(backoff(1, 5), f"Slack answered {response.status_code} for a file")
                if response.headers.get("content-type", "").startswith("text/html"):
                    # Slack's sign-in page: the token may not read files (the files:read scope).
                    raise MediaFailed(f"Slack did not hand over {attachment.name}: the app needs the files:read "
                                      "scope (an admin can add it, see README).")
                data = bytearray()
                for chunk in response.iter_content(1024 * 1024):
                    data += chunk
                    if len(data) > attachment.limit:
                        raise MediaFailed(f"{attachment.name} is over {attachment.limit // 2**20} MB, X's limit.")
                return bytes(data)
        except requests.RequestException as exc:
            raise Retry(backoff(1, 5), f"fetching a file from Slack failed ({type(exc).__name__})") from None
