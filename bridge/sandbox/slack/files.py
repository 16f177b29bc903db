"""Files in the Slack emulator: a person shares files in a message, the app downloads them.

A shared file is a message with subtype ``file_share`` whose ``files`` are file objects (the
``objs_file`` shape of the Web API OpenAPI in tests/reference/slack-specs). Their
``url_private_download`` points at this emulator's own host, which serves the bytes to a request
with ``Authorization: Bearer <bot token>`` (https://docs.slack.dev/messaging/working-with-files#authenticating);
without it Slack answers 200 with its HTML sign-in page, and so does the emulator.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bridge.sandbox.slack.store import ApiError, Workspace

SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


@dataclass
class StoredFile:
    meta: dict[str, Any]
    content: bytes


class FileActions:
    """Mixed into :class:`~bridge.sandbox.slack.server.SlackEmulator`, whose state it uses."""

    _cond: threading.Condition
    _ws: Workspace
    _files: dict[str, StoredFile]
    _uploads: dict[str, tuple[str, int, bytes | None]]  # file id -> (name, length, bytes once POSTed)
    bot_token: str
    base: str

    post_user_message: Callable[..., str]  # UserActions'
    _downloads: list[str]

    def share_files(self, user: str, channel: str, text: str, files: list[tuple[str, bytes] | tuple[str, bytes, str]],
                    thread_ts: str | None = None, **delivery: Any) -> str:
        """``user`` uploads ``files`` ((name, content) or (name, content, mimetype)) with ``text``,
        in the thread of ``thread_ts``: Slack sends a ``message`` event of subtype ``file_share``."""
        objects = [self.add_file(user, *f) for f in files]
        return self.post_user_message(user, channel, text, thread_ts=thread_ts, subtype="file_share",
                                      files=objects, **delivery)

    def add_file(self, user: str, name: str, content: bytes, mimetype: str | None = None,
                 file_id: str | None = None) -> dict[str, Any]:
        """Store a file and return its file object, as Slack shows it in a ``file_share`` message."""
        file_id = file_id or "F" + "".join(secrets.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10))
        mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        now = int(time.time())
        with self._cond:
            team, domain = self._ws.team_id, self._ws.team_domain
            where = f"{self.base}/files-pri/{team}-{file_id}"
            meta = {
                "id": file_id, "created": now, "timestamp": now, "name": name, "title": name,
                "mimetype": mimetype, "filetype": filetype, "pretty_type": filetype.upper(), "user": user,
                "user_team": team, "editable": False, "size": len(content), "mode": "hosted",
                "is_external": False, "external_type": "", "is_public": True, "public_url_shared": False,
                "display_as_bot": False, "username": "",
                "url_private": f"{where}/{quote(name)}", "url_private_download": f"{where}/download/{quote(name)}",
                "permalink": f"https://{domain}.slack.com/files/{user}/{file_id}/{quote(name)}",
                "permalink_public": f"https://slack-files.com/{team}-{file_id}-{secrets.token_hex(5)}",
                "has_rich_preview": False,
            }
            self._files[file_id] = StoredFile(meta, content)
        return dict(meta)

    # -- the app uploads a file (https://docs.slack.dev/messaging/working-with-files#upload) --------------

    def upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        """``files.getUploadURLExternal``: where to POST the bytes of a file of ``length`` bytes."""
        name, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not name or not length.isdigit():
            raise ApiError("invalid_arguments")
        file_id = "F" + "".join(secrets.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10))
        self._uploads[file_id] = (name, int(length), None)
        return {"upload_url": f"{self.base}/upload/v1/{file_id}", "file_id": file_id}

    def handle_upload(self, path: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """The POST of a file's bytes to its upload URL."""
        file_id = path.rsplit("/", 1)[-1]
        with self._cond:
            if file_id not in self._uploads:
                return 404, b"unknown upload", {"Content-Type": "text/plain"}
            name, length, _ = self._uploads[file_id]
            self._uploads[file_id] = (name, length, body)
        return 200, f"OK - {len(body)}".encode(), {"Content-Type": "text/plain"}

    def complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        """``files.completeUploadExternal``: the uploaded files, shared in ``channel_id`` when given."""
        try:
            wanted = json.loads(params["files"]) if isinstance(params.get("files"), str) else params.get("files")
        except (KeyError, json.JSONDecodeError):
            raise ApiError("invalid_arguments") from None
        shared = []
        for item in wanted or []:
            name, _, content = self._uploads.get(str(item.get("id")), ("", 0, None))
            if content is None:
                raise ApiError("file_not_found")
            meta = self.add_file(self._ws.bot_user_id, name, content, file_id=str(item["id"]))
            meta["title"] = str(item.get("title") or name)
            self._files[meta["id"]].meta["title"] = meta["title"]
            del self._uploads[str(item["id"])]
            shared.append(meta)
        channel = params.get("channel_id")
        if channel:
            with self._cond:
                target = self._ws.channel(str(channel))
                message = {"type": "message", "subtype": "file_share", "user": self._ws.bot_user_id,
                           "bot_id": self._ws.bot_id, "text": str(params.get("initial_comment") or ""),
                           "files": shared, "ts": self._ws.next_ts(), "upload": True}
                if params.get("thread_ts"):
                    message["thread_ts"] = str(params["thread_ts"])
                self._ws.messages[target.id][message["ts"]] = message
                self._cond.notify_all()
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def delete_file(self, file_id: str) -> None:
        """Someone deletes the file: its URLs answer 404 from now on."""
        with self._cond:
            del self._files[file_id]
            self._cond.notify_all()

    @property
    def downloads(self) -> list[str]:
        """Ids of the files handed out to a request with the bot token, in order."""
        with self._cond:
            return list(self._downloads)

    def handle_file(self, path: str, authorization: str) -> tuple[int, bytes, dict[str, str]]:
        """A GET of ``url_private`` or ``url_private_download``."""
        # /files-pri/<team>-<file id>/[download/]<name>
        parts = path.split("/")
        file_id = parts[2].rsplit("-", 1)[-1] if len(parts) > 3 else ""
        with self._cond:
            stored = self._files.get(file_id)
            if authorization != f"Bearer {self.bot_token}":
                return 200, SIGN_IN_PAGE, {"Content-Type": "text/html; charset=utf-8"}
            if stored is None:
                return 404, b"file not found", {"Content-Type": "text/plain"}
            self._downloads.append(file_id)
            self._cond.notify_all()
            return 200, stored.content, {"Content-Type": stored.meta["mimetype"]}
