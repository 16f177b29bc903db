"""Wiring: from the environment and settings to a running ``web``, ``worker`` or both.

Each process builds its parts here; the parts themselves know nothing of processes or threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import redis
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bridge.app.door import Door
from bridge.app.metrics import Readiness, registry, x_observer
from bridge.app.web import WebApp, server
from bridge.app.wiring import desk_for, job_handlers
from bridge.core.hours import desk_zone
from bridge.core.log import kv
from bridge.core.models import Author, UserId
from bridge.core.rules import desk_channels
from bridge.core.settings import Environment, Settings, SettingsError
from bridge.effects.media_upload import ReplyMedia
from bridge.intake.clock import ClockLoop
from bridge.intake.deletions import DeletionWatch
from bridge.intake.dms import DmPoller
from bridge.intake.mentions import Poller, search_source
from bridge.slack.client import SlackError, SlackSide, web_client
from bridge.storage.connection import connect, ensure_embedded
from bridge.storage.desk_config import DeskConfig, LiveSettings
from bridge.storage.figures import Figures
from bridge.storage.lanes import LaneWorker
from bridge.storage.loops import REDIS_ERRORS, run_loop
from bridge.storage.store import Store
from bridge.storage.upgrade import upgrade
from bridge.x.client import XAuthError, XClient, XError, backoff
from bridge.x.direct import XDirect
from bridge.x.media import XMedia

if TYPE_CHECKING:
    from bridge.app.bolt import Listeners

log = logging.getLogger(__name__)

LANE_THREADS = 4
HEARTBEAT_EVERY = 5.0  # seconds; /readyz wants one under 30 s old


@dataclass
class Runtime:
    env: Environment
    settings: Settings
    clock: Callable[[], float] = field(default=time.time)  # service hours and reminders; tests move it
    listeners: Listeners | None = None  # handlers.register_all, from the entry point; needed to serve Slack
    _config_watch: threading.Thread | None = field(default=None, init=False, repr=False)

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.env)

    @cached_property
    def store(self) -> Store:
        # The figures' days are the desk's (its hours' zone), which admins may change in Slack.
        return Store(self.redis, clock=self.clock, zone=lambda: desk_zone(self.current))

    @cached_property
    def figures(self) -> Figures:
        return Figures(self.redis, self.store.keys, lambda: self.current, self.clock)

    @cached_property
    def live(self) -> LiveSettings:
        """``settings`` with the changes admins made in Slack over them (``/xdesk``), kept current."""
        return LiveSettings(self.settings, DeskConfig(self.store))

    @property
    def current(self) -> Settings:
        """What the parts read their settings from: the live view."""
        return self.live.view()

    def watch_config(self, stop: threading.Event) -> None:
        """This process's settings follow every change made in Slack, from now on (once per process)."""
        if self._config_watch is None:
            self.live.refresh()
            self._config_watch = threading.Thread(target=self.live.watch, args=(stop,), name="config", daemon=True)
            self._config_watch.start()

    @cached_property
    def slack(self) -> SlackSide:
        return SlackSide(web_client(self.env))

    @cached_property
    def x(self) -> XClient:
        # 100 pages of 100: a backlog after an outage is read whole, so it is posted in order.
        client = XClient(self.env, max_pages=100, dry_run=self.settings.x.dry_run)
        client.observe = x_observer(self.figures)  # every call counted, with its cost (xdesk_x_*)
        return client

    @cached_property
    def direct(self) -> XDirect:
        return XDirect(self.x)

    def require(self, slack: bool = False, x: bool = False) -> None:
        missing = []
        if slack and not self.env.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN")
        if slack and not self.env.slack_signing_secret and self.settings.slack.mode == "http":
            missing.append("SLACK_SIGNING_SECRET")  # Socket Mode has no signed requests
        if slack and self.settings.slack.mode == "socket" and not self.env.slack_app_token:
            missing.append("SLACK_APP_TOKEN (slack.mode is \"socket\")")
        if x and not self.env.has_x:
            missing.append("X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET")
        if missing:
            raise SettingsError("environment: missing " + ", ".join(missing))

    def brand(self) -> Author:
        """The brand account, from X once and then from Redis."""
        key = self.store.keys.brand
        cached = self.redis.hgetall(key)
        if cached:
            self.x.brand_username = cached["username"]  # for X's refusals, in words
            self.x.brand_id = UserId(cached["id"])  # for finding the brand's own replies
            return Author(id=cached["id"], username=cached["username"], name=cached["name"])
        me = self.x.me()
        self.redis.hset(key, mapping={"id": me.id, "username": me.username, "name": me.name})
        self.redis.expire(key, 3600)
        return me

    def _brand_when_reachable(self, stop: threading.Event) -> Author:
        """The brand account; a worker started while X or Redis is down waits for them."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.brand()
            except XAuthError as exc:
                raise SettingsError(f"x: the X_* credentials were refused ({exc.reason})") from None
            except (XError, *REDIS_ERRORS) as exc:
                wait = backoff(attempt, 1.0, 60.0)
                log.warning(kv("worker.waiting", reason=getattr(exc, "reason", repr(exc)), retry_in=wait))
                if stop.wait(wait):
                    raise SystemExit(0) from None

    # -- web -------------------------------------------------------------------------------------

    def bolt_app(self):
        from bridge.app.bolt import build_app  # Bolt only where Slack requests are served

        if self.listeners is None:
            raise SettingsError("web: no Slack listeners were given (python -m bridge gives handlers.register_all)")

        desk = desk_for(self.store, self.live, self.slack)
        attempt = 0
        while True:  # not serving (nor healthy) until Slack has answered auth.test
            attempt += 1
            try:
                return build_app(self.slack.client, self.env.slack_signing_secret, self.store, desk, self.listeners)
            except (BoltError, OSError) as exc:  # OSError: timeouts and refused connections
                refused = exc.__context__
                if isinstance(refused, SlackApiError) and refused.response.get("error") in (
                        "invalid_auth", "not_authed", "account_inactive", "token_revoked"):
                    raise SettingsError("slack: SLACK_BOT_TOKEN was refused by auth.test") from None
                wait = backoff(attempt, 0.5, 30.0)
                log.warning(kv("slack.auth_test_failed", error=str(exc)[:200], retry_in=wait))
                time.sleep(wait)  # start-up: nothing else to do until Slack answers

    def serve_web(self, stop: threading.Event, sock: socket.socket | None = None) -> None:
        """Serve until ``stop`` is set (or SIGTERM/SIGINT when on the main thread)."""
        self.require(slack=True)
        self.watch_config(stop)
        app = self.bolt_app()
        socket_connected = self._socket_mode(app, stop) if self.settings.slack.mode == "socket" else None
        readiness = Readiness(self.redis, self.figures, self.slack.auth_test, socket_connected)
        try:
            installation = self.slack.installation()  # Slack answered auth.test a moment ago (bolt_app)
        except SlackError as exc:
            log.warning(kv("slack.installation_unknown", error=exc.error,
                           effect="requests are not checked for their team and app until web restarts"))
            installation = (None, None)
        door = Door(self.env.slack_signing_secret, lambda: installation,
                    rate_limited=lambda: self.redis.hincrby(self.store.keys.metrics, "slack_app_rate_limited", 1))
        web = WebApp(None if socket_connected else app, self.redis, metrics=registry(self.store, self.figures),
                     metrics_token=self.env.metrics_token, readiness=readiness, door=door)
        srv = server(web, "0.0.0.0", self.env.port)
        threading.Thread(target=lambda: (stop.wait(), setattr(srv, "should_exit", True)), daemon=True).start()
        port = sock.getsockname()[1] if sock else self.env.port
        log.info(kv("web.started", port=port, mode=self.settings.slack.mode))
        srv.run(sockets=[sock] if sock else None)

    def _socket_mode(self, app, stop: threading.Event) -> Callable[[], bool]:
        """Connect over Socket Mode; whether the socket is connected now (for /readyz)."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(app, self.env.slack_app_token)
        handler.connect()
        log.info(kv("slack.socket_mode_connected"))
        threading.Thread(target=lambda: (stop.wait(), handler.close()), daemon=True).start()
        return handler.client.is_connected

    # -- worker ----------------------------------------------------------------------------------

    def worker_threads(self, stop: threading.Event) -> list[threading.Thread]:
        self.require(slack=False, x=True)
        if not self.env.slack_bot_token:
            raise SettingsError("environment: missing SLACK_BOT_TOKEN")
        brand = self._brand_when_reachable(stop)
        upgrade(self.redis, self.store.keys)  # Redis answered: data of an earlier version is moved first
        self.watch_config(stop)
        settings = self.current
        join_desk_channels(settings, self.slack)
        media = ReplyMedia(self.redis, self.store.p, XMedia(self.x), self.env, settings)
        handlers = job_handlers(self.store, settings, brand, self.slack, self.x, self.direct, media)
        threads = []
        revive = None if self.env.redis_url else (lambda: ensure_embedded(self.env.bridge_data_dir))
        pollers = [Poller("mentions", lambda since, until: self.x.mentions(brand.id, since, until), self.store,
                          settings, brand, answerable_by_source=True, revive=revive)]
        for query in self.settings.x.search:
            pollers.append(Poller(search_source(query), lambda since, until, q=query: self.x.search(q, since, until),
                                  self.store, settings, brand, answerable_by_source=False, revive=revive))
        if self.settings.dm.enabled:
            pollers.append(DmPoller(self.direct, self.store, settings, brand, revive=revive))
        for poller in pollers:
            threads.append(threading.Thread(target=poller.run, args=(stop,), name=f"poll-{poller.source}"))
        threads.append(threading.Thread(target=ClockLoop(self.store, settings, revive).run, args=(stop,),
                                        name="clock"))
        watch = DeletionWatch(self.store, self.x, interval=settings.privacy.deleted_check_interval, revive=revive)
        threads.append(threading.Thread(target=watch.run, args=(stop,), name="deletions"))
        lanes = LaneWorker(self.store.outbox, handlers, revive, threads=LANE_THREADS)
        threads.append(threading.Thread(target=lanes.run, args=(stop,), name="lanes"))
        owner = f"{socket.gethostname()}:{os.getpid()}"
        threads.append(threading.Thread(target=run_loop, name="heartbeat", args=(
            "heartbeat", lambda: (self.figures.beat(owner), HEARTBEAT_EVERY)[1], stop), kwargs={"revive": revive}))
        log.info(kv("worker.started", brand=brand.username, sources=len(pollers), lane_threads=LANE_THREADS))
        if self.settings.x.dry_run:
            log.warning(kv("x.dry_run", brand=brand.username, note="nothing is posted to X; threads show the tweets"))
        return threads


def start_all(rt: Runtime, stop: threading.Event) -> tuple[int, list[threading.Thread]]:
    """Web and worker in threads of this process (the sandbox, tests): the web port and the threads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections made before uvicorn is up wait in the backlog
    threads = rt.worker_threads(stop)
    threads.append(threading.Thread(target=rt.serve_web, args=(stop, sock), name="web"))
    for thread in threads:
        thread.daemon = True
        thread.start()
    return int(sock.getsockname()[1]), threads


def check(rt: Runtime) -> list[str]:
    """Every problem with settings, credentials and reachability, one line each."""
    problems = []
    try:
        rt.redis.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError, RuntimeError) as exc:
        problems.append(f"redis: not reachable ({type(exc).__name__}: {exc})")
    try:
        rt.require(slack=True, x=True)
    except SettingsError as exc:
        problems.append(str(exc))
    with contextlib.suppress(*REDIS_ERRORS, OSError, RuntimeError):  # Redis down: said above
        rt.live.refresh()  # the changes admins made in Slack count too
    if rt.env.slack_bot_token:
        try:
            rt.slack.auth_test()
            channels = desk_channels(rt.current)
            for channel in sorted(channels):
                if problem := rt.slack.channel_problem(channel):
                    problems.append(f"slack: channel {channel}: {problem}")
        except SlackError as exc:
            problems.append(f"slack: auth.test failed: {exc.error}")
    if rt.env.has_x:
        try:
            rt.x.me()
        except XError as exc:
            problems.append(f"x: GET /2/users/me failed: {exc.reason}")
    return problems


def join_desk_channels(settings: Settings, slack: SlackSide) -> None:
    """The bot joins every channel of the desk at start: Slack sends messages and reactions to members only."""
    for channel in desk_channels(settings):
        if problem := slack.ensure_member(channel):
            log.error(kv("slack.channel_unusable", channel=channel, problem=problem,
                         action="cases there are posted, but claims and replies are not heard until this is fixed"))


def install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum: int, _frame: object) -> None:
        log.info(kv("process.stopping", signal=signal.Signals(signum).name))
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
