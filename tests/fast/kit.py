"""The bridge's desk and effects on a real Redis with the in-memory X and Slack of ``tests/fakes.py``.

Built by the same :func:`bridge.app.wiring.desk_for` and :func:`bridge.app.wiring.job_handlers` as
production; ``drain`` runs the outbox in the test's thread, so each rule runs in milliseconds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import redis

from bridge.app.wiring import desk_for, job_handlers
from bridge.core.hours import desk_zone
from bridge.core.models import Author, Tweet, TweetId
from bridge.core.settings import Settings
from bridge.desk.edits import Edits
from bridge.desk.handover import CaseActions
from bridge.intake.dms import DmPoller
from bridge.intake.mentions import Poller
from bridge.storage.desk_config import DeskConfig, LiveSettings
from bridge.storage.lanes import LaneWorker
from bridge.storage.store import Store
from tests.fakes import BRAND, FakeDirect, FakeSlack, FakeX, Message


class FastDesk:
    """The bridge's desk and effects on a real Redis, with in-memory X and Slack; ``drain`` runs the outbox."""

    def __init__(self, r: redis.Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.slack = FakeSlack()
        self.x = FakeX()
        self.direct = FakeDirect()
        self.store = Store(r, clock=clock)
        self.live = LiveSettings(settings, DeskConfig(self.store))  # admins' changes, as every process has them
        self.settings = settings = self.live.view()
        self.store.zone = lambda: desk_zone(self.settings)  # as the runtime sets it: the figures' days
        self.desk = desk_for(self.store, self.live, self.slack)
        self.edits = Edits(self.desk)
        self.actions = CaseActions(self.store, settings, self.desk.roles, self.slack)
        handlers = job_handlers(self.store, settings, BRAND, self.slack, self.x, self.direct)
        self.worker = LaneWorker(self.store.outbox, handlers)
        self.poller = Poller("mentions", lambda since, until: self.x.mentions(BRAND.id, since, until), self.store,
                             settings, BRAND, answerable_by_source=True)
        self.dm_poller = DmPoller(self.direct, self.store, settings, BRAND)
        self._user_ts = itertools.count(1)

    def drain(self, rounds: int = 200) -> None:
        """Run every job that is due, and the jobs they queue, until none is due now.

        Slack's pace between posts is skipped (it is the worker's timing, not a rule). A job told to
        retry later waits in its lane, as with the real worker, until ``hurry``.
        """
        for _ in range(rounds):
            self.hurry(retries=False)
            if self.worker.run_once() > 0:
                return
        raise AssertionError(f"the outbox still had work after {rounds} rounds: {self.store.outbox.pending()} jobs")

    def hurry(self, retries: bool = True) -> None:
        """Lanes paced or waiting for a retry may go now."""
        outbox = self.store.outbox
        for key in self.store.r.scan_iter(self.store.keys.slack_pace("*")):  # Slack's pace: the worker's timing
            self.store.r.delete(key)
        for lane in outbox.lanes():
            head = outbox.head(lane)
            if retries or head is None or not self.store.r.exists(self.store.keys.failures(head["id"])):
                self.store.r.delete(self.store.keys.pace(lane))

    def tweet(self, text: str, author: str = "kunde_klaus", replied_to: TweetId | None = None) -> Tweet:
        """A customer tweets; the bridge polls and posts it, as its worker would."""
        tweet = self.x.customer_tweets(text, author, replied_to)
        self.poller.poll_now()
        self.drain()
        return tweet

    def parent(self, tweet: Tweet) -> Message:
        """The Slack parent message of the case ``tweet`` belongs to."""
        case = self.store.case(self.store.case_of_tweet(tweet.id))  # type: ignore[arg-type]
        assert case is not None and case.parent_ts, f"no parent posted for tweet {tweet.id}"
        return self.slack.message(case.channel, case.parent_ts)

    def claim(self, user: str, parent: Message) -> None:
        self.desk.reaction_added(user, parent.channel, parent.ts, self.settings.emoji.claim)
        self.drain()

    def reply(self, user: str, parent: Message, text: str, files: list[dict] | None = None) -> str:
        """``user`` writes ``text`` in the parent's thread; the ts of their message."""
        ts = self.slack.say(user, parent.channel, text, parent.ts)
        self.desk.message(user, parent.channel, ts, parent.ts, text, files)
        self.drain()
        return ts

    def notices(self, parent: Message, needle: str) -> list[str]:
        """The bridge's messages in the parent's thread that say ``needle``."""
        return [text for text in self.slack.thread(parent.channel, parent.ts) if needle in text]

    def claimer(self, parent: Message) -> str | None:
        case = self.store.case_by_parent(parent.channel, parent.ts)
        return case.claimer if case else None

    # -- the case's buttons and their modals --

    def hand_over(self, user: str, parent: Message, target: str) -> dict[str, str] | None:
        """``user`` clicks "Hand over…", picks ``target`` and submits: the modal's errors, or None."""
        case_id = str(self.store.case_by_parent(parent.channel, parent.ts).id)  # type: ignore[union-attr]
        self.actions.open_handover(user, parent.channel, case_id, "trigger")
        view_id, view = self.slack.last_view()
        state = {"target": {"user": {"type": "users_select", "selected_user": target}}}
        errors = self.actions.submit_handover(user, {**view, "id": view_id, "state": {"values": state}})
        self.drain()
        return errors

    def move(self, user: str, parent: Message, topic: str) -> dict[str, str] | None:
        """``user`` clicks "Move…", picks the topic labelled ``topic`` and submits."""
        case_id = str(self.store.case_by_parent(parent.channel, parent.ts).id)  # type: ignore[union-attr]
        self.actions.open_move(user, parent.channel, case_id, "trigger")
        view_id, view = self.slack.last_view()
        [value] = [o["value"] for o in view["blocks"][0]["element"]["options"] if o["text"]["text"] == topic]
        state = {"target": {"topic": {"type": "static_select", "selected_option": {"value": value}}}}
        errors = self.actions.submit_move(user, {**view, "id": view_id, "state": {"values": state}})
        self.drain()
        return errors

    # -- edits and deletes of a thread message --

    def edit(self, user: str, parent: Message, ts: str, before: str, after: str) -> None:
        self.slack.message(parent.channel, ts).text = after
        edit_ts = f"{1_900_000_000 + next(self._user_ts)}.000300"
        self.edits.changed(user, parent.channel, ts, parent.ts, before, after, edit_ts)
        self.drain()

    def offers(self, user: str) -> list[str]:
        """The values of the "delete and send the new text" buttons ``user`` was shown."""
        return [el["value"] for e in self.slack.ephemerals if e["user"] == user
                for block in e["blocks"] if block.get("type") == "actions" for el in block["elements"]]

    def delete(self, user: str, parent: Message, ts: str) -> None:
        self.slack.messages[parent.channel].remove(self.slack.message(parent.channel, ts))
        self.edits.deleted(user, parent.channel, ts, parent.ts)
        self.drain()

    # -- direct messages --

    def dm(self, text: str, author: Author) -> Tweet:
        """A customer sends the brand a DM; the bridge polls and posts it."""
        message = self.direct.customer_writes(text, author)
        self.dm_poller.poll_now()
        self.drain()
        return message
