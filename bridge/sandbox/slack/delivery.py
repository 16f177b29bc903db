"""How the emulator hands things to the app: signed HTTP POSTs, or Socket Mode envelopes when connected.

Each hand-over is a :class:`~bridge.sandbox.slack.events.Delivery`, recorded in order and completed
under the emulator's condition, so tests wait for it with ``wait_for`` rather than sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from bridge.sandbox.slack.events import NO_RESPONSE, Delivery, Signature, post, signature_headers
from bridge.sandbox.slack.socket import SocketModeServer, envelope


class Deliverer:
    def __init__(
        self, *, cond: threading.Condition, signing_secret: str, socket: SocketModeServer, ack_timeout: float
    ) -> None:
        self._cond = cond
        self._secret = signing_secret
        self._socket = socket
        self.ack_timeout = ack_timeout
        self.events_url: str | None = None
        self.deliveries: list[Delivery] = []
        self._threads: list[threading.Thread] = []

    @property
    def available(self) -> bool:
        return bool(self._socket.connected or self.events_url)

    def event(
        self,
        wrapper: dict[str, Any],
        *,
        retries: int = 0,
        signature: Signature = "valid",
        retry_reason: str = "http_timeout",
        deliver_async: bool = False,
    ) -> Delivery:
        """An ``event_callback`` (or ``url_verification``), then ``retries`` re-deliveries of it."""
        kind = "events_api" if wrapper.get("type") == "event_callback" else "url_verification"
        if kind == "events_api" and self._socket.connected:
            delivery = self._record(Delivery(kind, wrapper, "socket", wrapper.get("event_id")))

            def attempt(n: int) -> tuple[int, str]:
                reason = retry_reason if n else ""
                return self._over_socket(envelope(kind, wrapper, retry_attempt=n, retry_reason=reason))

        else:
            url = self._url()
            delivery = self._record(Delivery(kind, wrapper, "http", wrapper.get("event_id")))
            body = json.dumps(wrapper).encode()

            def attempt(n: int) -> tuple[int, str]:
                # https://docs.slack.dev/apis/events-api/#retries
                headers = {
                    "Content-Type": "application/json",
                    **signature_headers(self._secret, body, signature),
                }
                if n:
                    headers.update({"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": retry_reason})
                return post(url, body, headers, self.ack_timeout)

        self._run(delivery, attempt, retries + 1, deliver_async)
        return delivery

    def form(
        self,
        kind: str,
        fields: dict[str, str],
        payload: dict[str, Any],
        *,
        signature: Signature = "valid",
        retries: int = 0,
    ) -> Delivery:
        """A slash command (``fields`` form-encoded) or interactivity (``payload=<json>``) request,
        sent ``retries`` more times as it was (a lost answer, a double click)."""
        if self._socket.connected:
            delivery = self._record(Delivery(kind, payload, "socket"))

            def attempt(_: int) -> tuple[int, str]:
                return self._over_socket(envelope(kind, payload))

        else:
            url = self._url()
            delivery = self._record(Delivery(kind, payload, "http"))
            body = urlencode(fields).encode()

            def attempt(_: int) -> tuple[int, str]:
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    **signature_headers(self._secret, body, signature),
                }
                return post(url, body, headers, self.ack_timeout)

        self._run(delivery, attempt, retries + 1, deliver_async=False)
        return delivery

    def drain(self, timeout: float = 10) -> None:
        """Wait for every asynchronous delivery to be answered (or time out)."""
        with self._cond:
            self._cond.wait_for(lambda: all(d.done for d in self.deliveries), timeout)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _url(self) -> str:
        if not self.events_url:
            raise RuntimeError("nowhere to deliver: set events_url or connect over Socket Mode")
        return self.events_url

    def _record(self, delivery: Delivery) -> Delivery:
        with self._cond:
            self.deliveries.append(delivery)
            self._cond.notify_all()
        return delivery

    def _run(
        self,
        delivery: Delivery,
        attempt: Callable[[int], tuple[int, str]],
        attempts: int,
        deliver_async: bool,
    ) -> None:
        def work() -> None:
            try:
                for n in range(attempts):
                    status, text = attempt(n)
                    with self._cond:
                        delivery.statuses.append(status)
                        delivery.responses.append(text)
                        self._cond.notify_all()
            finally:
                with self._cond:
                    delivery.done = True
                    self._cond.notify_all()

        if not deliver_async:
            work()
            return
        thread = threading.Thread(target=work, name=f"slack-deliver-{delivery.kind}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _over_socket(self, message: dict[str, Any]) -> tuple[int, str]:
        """200 and the ack's payload if the app acked in time, else :data:`NO_RESPONSE`."""
        envelope_id = message["envelope_id"]

        def ack() -> dict[str, Any] | None:
            return next((a for a in self._socket.acks if a.get("envelope_id") == envelope_id), None)

        if not self._socket.send(message):
            return NO_RESPONSE, ""
        with self._cond:
            found = self._cond.wait_for(ack, self.ack_timeout)
        if found is None:
            return NO_RESPONSE, ""
        return 200, json.dumps(found["payload"]) if "payload" in found else ""
