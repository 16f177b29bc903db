"""A limit on how long a client may take to send a request's head (its request line and headers).

uvicorn times out idle kept-alive connections, but not one that sends its headers a byte at a time:
enough of those keep every connection of the server busy ("slowloris"). This is uvicorn's own h11
protocol with a timer from the moment a connection opens (or a response ends) to the moment a request's
head is whole; past it, the connection is closed. uvicorn takes a protocol class as its ``http`` option:
https://www.uvicorn.org/settings/#implementation
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

from bridge.core.log import kv

log = logging.getLogger(__name__)

HEAD_TIMEOUT = 10.0  # seconds for a request line and its headers; Slack sends them at once


class HeadTimeoutProtocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the head is whole: the request is the app's now (its body has a timeout there)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # a kept-alive connection: the next head must come in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            log.info(kv("web.slow_client", seconds=HEAD_TIMEOUT, action="connection closed before a request"))
            self.transport.close()
