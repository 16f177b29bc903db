"""The Slack emulator's HTTP front: parses Web API requests the way Slack accepts them, writes answers.

Slack takes arguments in the query string, as a form, as multipart or as JSON, with the token in an
``Authorization: Bearer`` header or a ``token`` argument: https://docs.slack.dev/apis/web-api/#basics
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from bridge.sandbox.slack.store import ApiError

# (HTTP status, JSON body, extra headers)
Answer = tuple[int, dict[str, Any], dict[str, str]]


def parse_params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    """Arguments from the query string and a form, multipart or JSON body, as Slack accepts them."""
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError("invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError("json_not_object")
        params.update(data)
    elif kind == "multipart/form-data":
        header = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                params[name] = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    elif body:
        try:
            form = parse_qs(body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ApiError("invalid_form_data") from None
        params.update({k: v[-1] for k, v in form.items()})
    return params


class Backend(Protocol):
    def handle_api(self, method: str, params: dict[str, Any], token: str | None) -> Answer: ...

    def handle_response_url(self, path: str, body: bytes) -> Answer: ...

    def handle_file(self, path: str, authorization: str) -> tuple[int, bytes, dict[str, str]]: ...

    def handle_upload(self, path: str, body: bytes) -> tuple[int, bytes, dict[str, str]]: ...


class ApiHttpServer(ThreadingHTTPServer):
    """127.0.0.1 on a free port; ``/api/<method>`` and ``response_url`` POSTs go to ``backend``."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 would reset connections Slack itself would take

    def __init__(self, backend: Backend) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.backend = backend


class _Handler(BaseHTTPRequestHandler):
    server: ApiHttpServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator records every call in its ``api_log`` instead."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        backend = self.server.backend
        if split.path.startswith("/files-pri/"):  # a shared file's url_private(_download)
            self._send_bytes(*backend.handle_file(split.path, self.headers.get("Authorization", "")))
            return
        if split.path.startswith("/upload/v1/") and self.command == "POST":  # files.getUploadURLExternal's URL
            self._send_bytes(*backend.handle_upload(split.path, body))
            return
        if split.path.startswith("/respond/"):
            status, payload, headers = backend.handle_response_url(self.path, body)
        elif split.path.startswith("/api/"):
            try:
                params = parse_params(split.query, self.headers.get("Content-Type", ""), body)
            except ApiError as error:
                self._send(200, {"ok": False, "error": error.error}, {})
                return
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
            params.pop("token", None)
            status, payload, headers = backend.handle_api(split.path[len("/api/") :], params, token)
        else:
            status, payload, headers = 404, {"ok": False, "error": "unknown_method"}, {}
        self._send(status, payload, headers)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        self._send_bytes(status, json.dumps(payload).encode(),
                         {"Content-Type": "application/json; charset=utf-8", **headers})

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a planned delay outlasted its timeout)
