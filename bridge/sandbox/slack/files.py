"""Files in the Slack emulator: a person shares files in a message, the app downloads them.

A shared file is a message with subtype ``file_share`` whose ``files`` are file objects (the
``objs_file`` shape of the Web API OpenAPI in tests/reference/slack-specs). Their
``url_private_download`` points at this emulator's own host, which serves the bytes to a request
with ``Authorization: Bearer <bot token>`` (https://docs.slack.dev/messaging/working-with-files#authenticating);
without it Slack answers 200 with its HTML sign-in page, and so does the emulator.
"""

from __future__ import annotations

import mimetypes
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bridge.sandbox.slack.store import Workspace

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

    def add_file(self, user: str, name: str, content: bytes, mimetype: str | None = None) -> dict[str, Any]:
        """Store a file and return its file object, as Slack shows it in a ``file_share`` message."""
        file_id = "F" + "".join(secrets.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10))
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
