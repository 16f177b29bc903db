"""Socket Mode, Slack's side: a WebSocket server that says ``hello``, sends envelopes, records acks.

Protocol: https://docs.slack.dev/apis/events-api/using-socket-mode — the app calls
``apps.connections.open`` with its app-level token, connects to the returned URL, receives
``{"type": "hello", ...}`` and then envelopes ``{"envelope_id", "type", "payload",
"accepts_response_payload", ...}``, each of which it acks with ``{"envelope_id": ...}`` (plus
``"payload"`` for slash commands and interactivity).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class SocketModeServer:
    """Runs in its own thread; every change is announced on ``cond`` (shared with the emulator)."""

    def __init__(self, cond: threading.Condition, app_id: str) -> None:
        self._cond = cond
        self._app_id = app_id
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._turn = itertools.count()
        self.acks: list[dict[str, Any]] = []  # every message the app sent, in order
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # compression=None: the SDK's builtin client does not speak permessage-deflate.
        # Slack pings its clients; pinging often also wakes the builtin client's receive loop (a blocking
        # recv with a 3 s timeout, holding the lock close() needs), so clients close quickly.
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, ping_interval=0.2)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-socket-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.socket.getsockname()[1])

    def issue_url(self) -> str:
        """What ``apps.connections.open`` answers: a one-time ticket for one connection."""
        ticket = str(uuid.uuid4())
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self._app_id}"

    @property
    def connected(self) -> int:
        with self._cond:
            return len(self._connections)

    def send(self, envelope: dict[str, Any]) -> bool:
        """Send to one open connection (Slack spreads envelopes over them); False if none is open."""
        data = json.dumps(envelope)
        with self._cond:
            candidates = list(self._connections)
        if not candidates:
            return False
        start = next(self._turn)
        for i in range(len(candidates)):
            try:
                candidates[(start + i) % len(candidates)].send(data)
                return True
            except ConnectionClosed:
                continue
        return False

    def disconnect_all(self, reason: str = "refresh_requested") -> None:
        """Ask every client to reconnect, as Slack does about hourly (``type: disconnect``)."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}}
        with self._cond:
            candidates = list(self._connections)
        for connection in candidates:
            try:
                connection.send(json.dumps(message))
            except ConnectionClosed:
                continue

    def close_all(self) -> None:
        """Close every connection without a word, as a network failure or Slack's restart would."""
        with self._cond:
            candidates = list(self._connections)
        for connection in candidates:
            connection.close(code=1011, reason="going away")

    def _handle(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        ticket = query.get("ticket", [""])[0]
        with self._cond:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            connection.close(code=1008, reason="invalid ticket")
            return
        with self._cond:
            count = len(self._connections) + 1
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {
                        "host": "applink-emulator",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self._app_id},
                }
            )
        )
        with self._cond:
            self._connections.append(connection)
            self._cond.notify_all()
        try:
            for raw in connection:
                try:
                    message = json.loads(raw)
                except json.JSONDecodeError:
                    message = {"invalid": raw if isinstance(raw, str) else raw.decode("utf-8", "replace")}
                with self._cond:
                    self.acks.append(message if isinstance(message, dict) else {"invalid": message})
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._connections.remove(connection)
                self._cond.notify_all()


def envelope(
    kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, retry_reason: str = ""
) -> dict[str, Any]:
    """A Socket Mode envelope; only events_api envelopes carry retry fields."""
    message: dict[str, Any] = {
        "envelope_id": str(uuid.uuid4()),
        "payload": payload,
        "type": kind,
        "accepts_response_payload": kind != "events_api",
    }
    if kind == "events_api":
        message.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
    return message


def new_trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"
