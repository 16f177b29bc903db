"""``web``: the Slack endpoint and the health check, served by uvicorn.

A small ASGI app of our own in front of Bolt: it refuses oversized bodies before anything parses
them, answers ``GET /healthz`` from Redis, and runs Bolt's synchronous dispatch in a worker thread so
that one slow request never holds up the others.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from slack_bolt import App, BoltRequest

from bridge.app.door import Door
from bridge.app.metrics import Readiness
from bridge.app.slow_clients import HeadTimeoutProtocol
from bridge.core.log import kv
from bridge.storage.loops import REDIS_ERRORS

log = logging.getLogger(__name__)

# Slack's own payloads are a few KB; message events top out near 40 KB of text plus blocks.
MAX_BODY = 256 * 1024
# Slack requests handled at once. Sized for 30 agents acting at the same moment (a claim, a reply, a
# click each): a listener spends a few ms on Redis but may wait on Slack (users.info, views.open), and
# asyncio's default pool would be min(32, cores + 4), six threads on two cores.
DISPATCH_THREADS = 32
# Seconds a client may take to send the next piece of its body: Slack sends a request at once.
BODY_TIMEOUT = 10.0
KEEP_ALIVE = 5  # seconds an idle connection stays open
MAX_CONNECTIONS = 200  # connections and requests at once; more are answered 503
MAX_HEADERS = 16 * 1024  # bytes of an incomplete request head (headers)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class WebApp:
    def __init__(self, bolt: App | None, redis_client: redis.Redis, *, metrics: CollectorRegistry | None = None,
                 metrics_token: str = "", readiness: Readiness | None = None, door: Door | None = None) -> None:
        self.bolt = bolt
        self.redis = redis_client
        self.metrics = metrics
        self.metrics_token = metrics_token
        self.readiness = readiness
        self.door = door  # signature, body and shape checks before Bolt (bridge/app/door.py)
        self.pool = ThreadPoolExecutor(max_workers=DISPATCH_THREADS, thread_name_prefix="slack")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            await self._health(send)
        elif path == "/readyz" and method in ("GET", "HEAD") and self.readiness is not None:
            await self._ready(send)
        elif path == "/metrics" and method == "GET" and self.metrics is not None:
            await self._metrics(scope, send)
        elif path == "/slack/events" and self.bolt is not None:
            if method != "POST":
                await _respond(send, 405, b"method not allowed")
                return
            await self._slack(scope, receive, send)
        else:
            await _respond(send, 404, b"not found")

    async def _health(self, send: Send) -> None:
        try:
            ok = await asyncio.to_thread(self.redis.ping)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning(kv("web.health_failed", error=type(exc).__name__))
            ok = False
        body = json.dumps({"ok": bool(ok), "redis": "up" if ok else "down"}).encode()
        await _respond(send, 200 if ok else 503, body, "application/json")

    async def _ready(self, send: Send) -> None:
        assert self.readiness is not None
        problems = await asyncio.to_thread(self.readiness.check)
        body = json.dumps({"ready": not problems, **({"not_ready": problems} if problems else {})}).encode()
        await _respond(send, 503 if problems else 200, body, "application/json")

    async def _metrics(self, scope: Scope, send: Send) -> None:
        if self.metrics_token:
            given = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.metrics_token}".encode()):
                await _respond(send, 401, b"a bearer token is needed (METRICS_TOKEN)")
                return
        assert self.metrics is not None
        try:
            body = await asyncio.to_thread(generate_latest, self.metrics)
        except REDIS_ERRORS as exc:
            log.warning(kv("web.metrics_failed", error=type(exc).__name__))
            await _respond(send, 503, b"the figures are in Redis, which is not answering")
            return
        await _respond(send, 200, body, CONTENT_TYPE_LATEST)

    async def _slack(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        declared = headers.get("content-length", [""])[0]
        if declared.isdigit() and int(declared) > MAX_BODY:
            log.warning(kv("web.body_too_large", length=declared))
            await _respond(send, 413, b"payload too large")
            return
        body = await self._body(receive, int(declared) if declared.isdigit() else None)
        if body is None:
            return  # the client went away before its request was whole: nothing to act on, nobody to answer
        if isinstance(body, int):
            await _respond(send, body, b"payload too large" if body == 413 else b"request incomplete")
            return
        if self.door is not None and (refusal := self.door.check(headers, body)) is not None:
            await _respond(send, refusal.status, b"" if refusal.status == 200 else refusal.cause.encode())
            return
        request = BoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )
        assert self.bolt is not None
        response = await asyncio.get_running_loop().run_in_executor(self.pool, self.bolt.dispatch, request)
        out = [(k.encode(), v.encode()) for k, vs in response.headers.items() for v in vs]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": (response.body or "").encode()})

    async def _body(self, receive: Receive, declared: int | None) -> bytes | int | None:
        """The whole body; None if the client disconnected first, a status when it cannot be taken
        (413 too large, 400 shorter than its Content-Length, 408 too slow)."""
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout=BODY_TIMEOUT)
            except TimeoutError:
                log.warning(kv("web.body_timeout", received=len(body), seconds=BODY_TIMEOUT))
                return 408
            if message["type"] == "http.disconnect":
                log.info(kv("web.request_abandoned", received=len(body), declared=declared))
                return None
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                log.warning(kv("web.body_too_large", length=f">{MAX_BODY}"))
                return 413
            if not message.get("more_body"):
                break
        if declared is not None and len(body) != declared:
            log.warning(kv("web.request_incomplete", received=len(body), declared=declared))
            return 400
        return bytes(body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Send, status: int, body: bytes, content_type: str = "text/plain") -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def server(app: WebApp, host: str, port: int) -> uvicorn.Server:
    # The door's limits, in uvicorn's own options (https://www.uvicorn.org/settings/#resource-limits):
    # an idle connection is closed after 5 s, at most 200 connections and tasks at once (more get 503),
    # a request's headers at most 16 KB and within 10 s. Body reads time out in WebApp._body. In
    # production put a reverse proxy in front (TLS, connection limits per client).
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=5, timeout_keep_alive=KEEP_ALIVE,
                            limit_concurrency=MAX_CONNECTIONS, h11_max_incomplete_event_size=MAX_HEADERS,
                            http=HeadTimeoutProtocol)  # a request's head within HEAD_TIMEOUT (slow_clients.py)
    return uvicorn.Server(config)
