"""A Slack emulator on localhost: the Web API, the Events API's sending side, and Socket Mode.

The bridge's real ``slack_sdk.WebClient(base_url=emu.url)`` and real Bolt app talk to it unchanged.
Wire formats follow Slack's docs and the specs in tests/reference/slack-specs; what the
emulator decides on its own (e.g. ``thread_not_found`` for an unknown ``thread_ts``) is commented.

    with SlackEmulator(channels=("C0GENERAL1",)) as emu:
        emu.events_url = "http://127.0.0.1:3000/slack/events"
        ts = emu.post_user_message("U0ANNA0001", "C0GENERAL1", "hello")
        emu.wait_for(lambda: emu.thread("C0GENERAL1", ts))
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bridge.sandbox.slack.actions import UserActions
from bridge.sandbox.slack.delivery import Deliverer
from bridge.sandbox.slack.events import Delivery
from bridge.sandbox.slack.faults import Fault, FaultPlan, PostPacer
from bridge.sandbox.slack.files import FileActions, StoredFile
from bridge.sandbox.slack.http import Answer, ApiHttpServer
from bridge.sandbox.slack.methods import METHODS
from bridge.sandbox.slack.socket import SocketModeServer
from bridge.sandbox.slack.store import ApiError, Channel, Workspace
from bridge.sandbox.slack.views import ModalActions, Views

T = TypeVar("T")

DEFAULT_USERS: Mapping[str, Mapping[str, Any]] = {
    "U0ANNA0001": {"name": "anna", "real_name": "Anna N", "is_admin": False},
    "U0BEN00001": {"name": "ben", "real_name": "Ben B", "is_admin": False},
    "U0ADMIN001": {"name": "admin", "real_name": "Ada Admin", "is_admin": True},
}


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]  # without the token
    status: int | None = None  # HTTP status answered (None while in progress)
    body: dict[str, Any] | None = None


class SlackEmulator(UserActions, ModalActions, FileActions):
    """Slack for one workspace and one app. Thread-safe; every change notifies :meth:`wait_for`."""

    def __init__(
        self,
        *,
        signing_secret: str = "xdesk-emulator-signing-secret",
        bot_token: str = "xoxb-0000-xdesk-emulator",
        app_token: str = "xapp-1-A0XDESKAPP-xdesk-emulator",
        team_id: str = "T0XDESK01",
        team_domain: str = "xdesk",
        bot_user_id: str = "U0XDESKBOT",
        bot_id: str = "B0XDESKBOT",
        app_id: str = "A0XDESKAPP",
        bot_name: str = "xdesk",
        channels: Iterable[str] | Mapping[str, str] = ("C0GENERAL1", "C0DSLTEAM1"),
        channels_without_bot: Iterable[str] = (),
        users: Mapping[str, Mapping[str, Any]] = DEFAULT_USERS,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        post_rate_per_channel: float | None = None,
        post_burst: int = 3,
        ack_timeout: float = 3.0,
        echo_bot_events: bool = False,
        verification_token: str = "xdesk-emulator-verification-token",
    ) -> None:
        names = dict(channels) if isinstance(channels, Mapping) else {c: c.lower() for c in channels}
        self.signing_secret, self.bot_token, self.app_token = signing_secret, bot_token, app_token
        self.verification_token = verification_token
        # Real Slack also sends the app events about its own posts, edits and reactions; off by default
        # so that tests see only what users do. Bolt drops its own events anyway (ignoring_self_events).
        self.echo_bot_events = echo_bot_events
        self._ws = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            bot_name=bot_name,
            channels=names,
            channels_without_bot=frozenset(channels_without_bot),
            users={uid: dict(u) for uid, u in users.items()},
            usergroups={gid: list(m) for gid, m in (usergroups or {}).items()},
        )
        self._ws.views = Views()
        self._cond = threading.Condition(threading.RLock())
        self._log: list[ApiCall] = []
        self._responded: list[dict[str, Any]] = []
        self._files: dict[str, StoredFile] = {}  # shared files and their bytes (slack_files.py)
        self._uploads: dict[str, tuple[str, int, bytes | None]] = {}  # the app's uploads under way
        self._gates: dict[str, threading.Barrier] = {}  # methods whose calls wait for each other (gather)
        self._downloads: list[str] = []
        self._faults = FaultPlan()
        self._pacer = PostPacer(post_rate_per_channel, post_burst)
        self._stopping = threading.Event()
        self._socket = SocketModeServer(self._cond, app_id)
        self._deliverer = Deliverer(
            cond=self._cond, signing_secret=signing_secret, socket=self._socket, ack_timeout=ack_timeout
        )
        self._http: ApiHttpServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        self._http = ApiHttpServer(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-emulator",
            daemon=True,
        )
        self._thread.start()
        self._socket.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self._socket.stop()
        self._deliverer.join(timeout=5)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        assert self._http is not None, "start() first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def url(self) -> str:
        """The Web API base, as ``WebClient(base_url=...)`` wants it (ends in "/api/")."""
        return self.base + "/api/"

    @property
    def events_url(self) -> str | None:
        """Where events, slash commands and interactivity are POSTed (the app's ``/slack/events``)."""
        return self._deliverer.events_url

    @events_url.setter
    def events_url(self, value: str | None) -> None:
        self._deliverer.events_url = value

    # --- the workspace's channels -------------------------------------------------------------------

    def add_channel(self, channel: str, name: str, *, bot_is_member: bool = False) -> None:
        """A channel made in the workspace (a ``G`` id: a private one); the bot joins only if it is invited."""
        with self._cond:
            self._ws.channels[channel] = Channel(channel, name, int(time.time()), bot_is_member)
            self._ws.messages.setdefault(channel, {})

    def archive(self, channel: str) -> None:
        with self._cond:
            self._ws.channel(channel).archived = True

    def bot_is_member(self, channel: str) -> bool:
        with self._cond:
            return self._ws.channel(channel).bot_is_member

    # --- faults ---------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        error: str | None = None,
        retry_after: int | None = 1,
        times: int = 1,
        delay: float = 0.0,
        applied: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any) with a fault; see :class:`Fault`."""
        with self._cond:
            self._faults.add(method, Fault(status, error, retry_after, times, delay, applied))

    def gather(self, method: str, count: int, timeout: float = 10.0) -> None:
        """From now on, calls of ``method`` wait until ``count`` of them are in flight at once (then all go
        on); fewer in ``timeout`` seconds: each is answered 500. Shows how many requests an app serves at once."""
        with self._cond:
            self._gates[method] = threading.Barrier(count, timeout=timeout)

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    # --- the Web API ----------------------------------------------------------------------------------

    def handle_api(self, method: str, params: dict[str, Any], token: str | None) -> Answer:
        """One Web API call (from the HTTP front): planned fault, else the method; always logged."""
        call = ApiCall(method, copy.deepcopy(params))
        with self._cond:
            self._log.append(call)
            self._cond.notify_all()
            fault = self._faults.take(method)
            gate = self._gates.get(method)
        if gate is not None:
            try:
                gate.wait()
            except threading.BrokenBarrierError:
                return 500, {"ok": False, "error": "fatal_error"}, {}
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        if fault is None or fault.answers_normally:
            status, body, headers = self._dispatch(method, params, token)
        else:
            if fault.applied:
                self._dispatch(method, params, token)
            status, body, headers = fault.response()
        with self._cond:
            call.status, call.body = status, body
            self._cond.notify_all()
        return status, body, headers

    def _dispatch(self, method: str, params: dict[str, Any], token: str | None) -> Answer:
        events: list[dict[str, Any]] = []
        with self._cond:
            try:
                self._check_token(method, token)
                if method == "apps.connections.open":
                    body: dict[str, Any] = {"url": self._socket.issue_url()}
                elif method == "files.getUploadURLExternal":
                    body = self.upload_url(params)
                elif method == "files.completeUploadExternal":
                    body = self.complete_upload(params)
                elif method not in METHODS:
                    raise ApiError("unknown_method")
                else:
                    wait = (
                        self._pacer.take(str(params.get("channel"))) if method == "chat.postMessage" else None
                    )
                    if wait is not None:
                        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
                    body, events = METHODS[method](self._ws, params)
                answer = {"ok": True, **body}
            except ApiError as error:
                answer, events = {"ok": False, "error": error.error, **error.extra}, []
            self._cond.notify_all()
        if self.echo_bot_events and self._deliverer.available:
            for event in events:
                self._send_event(event, deliver_async=True)
        return 200, answer, {}

    def _check_token(self, method: str, token: str | None) -> None:
        # https://docs.slack.dev/authentication/tokens: app-level tokens only open Socket Mode connections.
        if not token:
            raise ApiError("not_authed")
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            raise ApiError(
                "not_allowed_token_type" if token in (self.app_token, self.bot_token) else "invalid_auth"
            )

    def handle_response_url(self, path: str, body: bytes) -> Answer:
        """A POST to a slash command's or an interaction's ``response_url``."""
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return 400, {"ok": False, "error": "invalid_json"}, {}
        with self._cond:
            self._responded.append({"url": self.base + path, "body": payload})
            self._cond.notify_all()
        return 200, {"ok": True}, {}

    # --- queries for tests ----------------------------------------------------------------------------

    def _read(self, read: Callable[[Workspace], T]) -> T:
        with self._cond:
            return copy.deepcopy(read(self._ws))

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message of the channel (top level and replies), oldest first."""
        return self._read(lambda ws: list(ws.messages[ws.channel(channel).id].values()))

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies in the thread of ``ts`` (the parent excluded), oldest first."""
        return self._read(
            lambda ws: [
                m for m in ws.messages[ws.channel(channel).id].values() if m.get("thread_ts") == ts != m["ts"]
            ]
        )

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._read(lambda ws: ws.messages[ws.channel(channel).id].get(ts))

    def reactions(self, channel: str, ts: str) -> dict[str, list[str]]:
        message = self.message(channel, ts) or {}
        return {r["name"]: r["users"] for r in message.get("reactions", [])}

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        return self._read(lambda ws: ws.ephemerals)

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        with self._cond:
            return [(c.method, copy.deepcopy(c.params)) for c in self._log]

    @property
    def api_log(self) -> list[ApiCall]:
        with self._cond:
            return copy.deepcopy(self._log)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    @property
    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return copy.deepcopy(self._deliverer.deliveries)

    @property
    def responded(self) -> list[dict[str, Any]]:
        """What the app POSTed to ``response_url``s, in order."""
        with self._cond:
            return copy.deepcopy(self._responded)

    @property
    def socket_connected(self) -> bool:
        return self._socket.connected > 0

    @property
    def socket_acks(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._socket.acks)

    def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        self._socket.disconnect_all(reason)

    def drop_sockets(self) -> None:
        """Socket Mode connections break (no ``disconnect`` message first)."""
        self._socket.close_all()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10) -> T:
        """Block until ``predicate()`` is truthy, re-checking it on every API call and state change.

        Returns its last value, falsy on timeout (so ``assert emu.wait_for(...)``). The predicate runs
        under the emulator's lock and may use the queries above.
        """
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def drain(self, timeout: float = 10) -> None:
        """Wait until every delivery (including ``deliver_async`` ones) has been answered."""
        self._deliverer.drain(timeout)
