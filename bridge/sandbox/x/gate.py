"""What stands before an X endpoint in the emulator: the HTTP server, injected faults, OAuth 1.0a,
rate limits.

Each class is thread-safe on its own; the HTTP threads of the emulator share them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint

from bridge.sandbox.x.wire import Reply

log = logging.getLogger(__name__)

DAILY_WINDOWS = 96  # the 24-hour cap lasts 96 windows: 24 h when a window is X's 15 minutes


class OAuthVerifier:
    """Checks OAuth 1.0a HMAC-SHA1 signatures (RFC 5849) for one consumer and one access token."""

    def __init__(self, consumer: tuple[str, str], token: tuple[str, str]) -> None:
        self._endpoint = ResourceEndpoint(_Validator(consumer, token))

    def verify(self, method: str, path_and_query: str, headers: Mapping[str, str]) -> bool:
        """Whether the request was signed for the URL it was sent to, as X checks: its scheme (plain
        HTTP here), the Host it names and its path and query (RFC 5849 section 3.4.1.2)."""
        host = next((v for k, v in headers.items() if k.lower() == "host"), "")
        if not host:
            return False
        valid, _request = self._endpoint.validate_protected_resource_request(
            f"http://{host}{path_and_query}", method, None, dict(headers))
        return valid


class _Validator(RequestValidator):
    def __init__(self, consumer: tuple[str, str], token: tuple[str, str]) -> None:
        super().__init__()
        self.consumer, self.token = consumer, token
        self._nonces: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    # X's keys and tokens ("12345-AbC...") fall outside oauthlib's default of 20-30 alphanumerics.
    def check_client_key(self, client_key: str) -> bool:
        return 0 < len(client_key) <= 200

    def check_access_token(self, request_token: str) -> bool:
        return 0 < len(request_token) <= 200

    def check_nonce(self, nonce: str) -> bool:
        return 0 < len(nonce) <= 200

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return ("HMAC-SHA1",)  # the one method X accepts

    @property
    def enforce_ssl(self) -> bool:
        return False  # the emulator listens on plain HTTP on this machine; X itself is HTTPS only

    @property
    def dummy_client(self) -> str:
        return "dummy-client"

    @property
    def dummy_access_token(self) -> str:
        return "dummy-token"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key == self.consumer[0]

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return token == self.token[0]

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self.consumer[1] if client_key == self.consumer[0] else "dummy-secret"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self.token[1] if token == self.token[0] else "dummy-secret"

    def validate_timestamp_and_nonce(self, client_key: str, timestamp: str, nonce: str, request: Any,
                                     request_token: str | None = None, access_token: str | None = None,
                                     ) -> bool:
        with self._lock:  # a replayed request is refused (oauthlib already bounds the timestamp)
            key = (client_key, timestamp, nonce)
            fresh = key not in self._nonces
            self._nonces.add(key)
            return fresh

    def validate_realms(self, client_key: str, token: str, request: Any, uri: str | None = None,
                        realms: Any = None) -> bool:
        return True


@dataclass
class _Window:
    limit: int
    remaining: int
    reset: float


class RateLimits:
    """Fixed windows per endpoint, plus the 24-hour user cap on posting, with X's headers.

    https://docs.x.com/x-api/fundamentals/rate-limits
    """

    def __init__(self, limits: Mapping[str, int], window_seconds: float, daily_post_limit: int) -> None:
        self.limits = dict(limits)
        self.window_seconds = window_seconds
        self.daily_post_limit = daily_post_limit
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> tuple[bool, dict[str, str]]:
        """Spend one call of ``key`` (e.g. ``"POST /2/tweets"``) if the budget allows."""
        with self._lock:
            windows = [("x-rate-limit", self._window(key, self.limits[key], self.window_seconds, now))]
            if key == "POST /2/tweets":
                windows.append(("x-user-limit-24hour", self._window(
                    "24h " + key, self.daily_post_limit, DAILY_WINDOWS * self.window_seconds, now)))
            allowed = all(w.remaining > 0 for _, w in windows)
            headers = {}
            for prefix, w in windows:
                w.remaining -= 1 if allowed else 0
                headers.update({f"{prefix}-limit": str(w.limit), f"{prefix}-remaining": str(w.remaining),
                                f"{prefix}-reset": str(math.ceil(w.reset))})
            return allowed, headers

    def _window(self, key: str, limit: int, length: float, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.reset:
            window = self._windows[key] = _Window(limit, limit, now + length)
        return window


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None  # None: the real answer, maybe late or cut off
    headers: dict[str, str]
    body: bytes | dict[str, Any] | None
    times: int
    delay: float
    truncate: bool
    body_pattern: re.Pattern[bytes] | None = None  # only requests whose body matches


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, body: bytes = b"") -> Fault | None:
        """The first fault planned for this request, used up once."""
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path.search(path) and (
                        fault.body_pattern is None or fault.body_pattern.search(body)):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class Emulator(Protocol):
    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply: ...


class HttpServer(ThreadingHTTPServer):
    """Hands every request to ``emulator.handle`` and sends its :class:`Reply` the way X would."""

    daemon_threads = True

    def __init__(self, emulator: Emulator, *args: Any) -> None:
        self.emulator = emulator
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, _HttpHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close kept-alive connections too, so that a stopped emulator answers nothing."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like X; every answer carries content-length
    timeout = 60  # for idle keep-alive connections
    server: HttpServer

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        data = reply.payload()
        # X sends problems as application/json too (not application/problem+json).
        headers = {"content-type": "application/json; charset=utf-8", "api-version": "2.162",
                   **{k.lower(): v for k, v in reply.headers.items()}, "content-length": str(len(data))}
        try:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if reply.truncate else data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. on its read timeout
        if reply.truncate:
            self.close_connection = True

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("x_emulator " + format, *args)
