"""The Bolt app: signature checks, a shared dedupe on ``event_id``, and the listeners in ``handlers/``.

``process_before_response=True``: the listeners only touch Redis (the work is queued in the outbox),
so they finish well inside Slack's 3 seconds, and Slack gets its 200 only once the event is safely
stored. A failure answers 500 and Slack delivers the event again
(https://api.slack.com/apis/connections/events-api#retries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bridge.app.web import DISPATCH_THREADS
from bridge.core import crash
from bridge.core.log import kv
from bridge.desk.desk import Desk
from bridge.storage.store import Store

log = logging.getLogger(__name__)


class DeskApp(App):
    """Bolt's App, marking an event handled only once its listener has finished with a 200.

    Bolt runs global middleware before the listener (``next()`` only sets a flag), so the mark
    cannot be set from middleware: an event whose listener failed would then never be retried.
    """

    store: Store

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        response = super().dispatch(req)
        event_id = req.context.get("xdesk_event")
        if event_id:
            if response.status == 200:
                crash.point("web.after_store")
            self.store.end_event(event_id, handled=response.status == 200)
        return response


# Slack's doorway (handlers/) registers its listeners on the app. The entry point hands it in, so that
# no room of bridge/ imports handlers/, which builds on them.
Listeners = Callable[[App, Desk], None]


def build_app(client: WebClient, signing_secret: str, store: Store, desk: Desk, listeners: Listeners) -> App:
    app = DeskApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,
        # auth.test once, here, at start (the caller retries until Slack answers). Without it Bolt
        # calls auth.test on the first event, and if that call fails it answers Slack 200 with a
        # "please reinstall" text: the event is dropped and never retried.
        token_verification_enabled=True,
        logger=logging.getLogger("slack_bolt.App"),
        # With process_before_response every listener runs in the request's own thread (web.py's pool of
        # DISPATCH_THREADS, sized for 30 agents at once); Bolt's executor (5 threads by default) runs only
        # what is left after the answer, and gets as many threads, so nothing queues behind five.
        listener_executor=ThreadPoolExecutor(max_workers=DISPATCH_THREADS, thread_name_prefix="bolt"),
    )
    app.store = store

    @app.middleware
    def dedupe(body: dict, context: dict, next: Callable[[], None]) -> BoltResponse | None:
        # After Bolt's signature check (built-in middleware runs first). Retries can land on
        # another web process, so the record of handled events lives in Redis.
        event_id = body.get("event_id")
        if not isinstance(event_id, str):
            next()
            return None
        if store.event_seen(event_id):
            log.info(kv("slack.event_duplicate", event_id=event_id))
            return BoltResponse(status=200, body="")
        if not store.begin_event(event_id):
            # Slack retried while the first delivery is still being handled (it took over 3 s).
            # Not 200: should that first one fail, this event must come again.
            log.info(kv("slack.event_in_progress", event_id=event_id))
            return BoltResponse(status=503, body="")
        context["xdesk_event"] = event_id
        next()
        return None

    listeners(app, desk)
    return app
