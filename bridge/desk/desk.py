"""Slack to X: claims, releases and resolves from reactions; thread replies queued to be tweeted.

:class:`Desk` decides, from a Slack event, what happens to a case. It only touches Redis (the claim
is one atomic script) and queues jobs, so the Events API request is answered well within Slack's
three seconds. The jobs are run by :class:`bridge.effects.replies.XReplies`.
"""

from __future__ import annotations

import logging

from bridge.core.log import kv
from bridge.core.models import Case, SlackUserId
from bridge.core.reply_check import check_reply
from bridge.core.rules import desk_channels, is_old_parent, moved_hint
from bridge.core.settings import Settings
from bridge.core.tweet_text import is_note
from bridge.desk.admin import DeskAdmin
from bridge.desk.dm_replies import DmDesk
from bridge.desk.glance import Glance
from bridge.desk.parents import Parents
from bridge.desk.roles import Roles
from bridge.effects.jobs import ephemeral_job, react_job, refresh_home, update_job
from bridge.slack.port import SlackPort
from bridge.storage.outbox import x_lane
from bridge.storage.store import Store

log = logging.getLogger(__name__)


class Desk:
    def __init__(self, store: Store, settings: Settings, roles: Roles, slack: SlackPort, admin: DeskAdmin,
                 glance: Glance) -> None:
        self.store = store
        self.admin = admin
        self.glance = glance
        self.settings = settings
        self.roles = roles
        self.slack = slack
        self.parents = Parents(store, slack, self.channels)
        self.dms = DmDesk(store, settings, roles, self.parents)

    def channels(self) -> set[str]:
        """The desk's channels as admins have them now (topics change in Slack, bridge/desk/admin.py)."""
        return set(desk_channels(self.settings))

    def case_at(self, channel: str, ts: str) -> Case | None:
        return self.parents.case_at(channel, ts)

    # -- reactions on a parent -----------------------------------------------------------------

    def reaction_added(self, user: str, channel: str, ts: str, reaction: str) -> None:
        if reaction == self.settings.emoji.ask_dm:
            self.dms.ask(user, channel, ts)
            return
        if reaction not in (self.settings.emoji.claim, self.settings.emoji.resolve):
            return
        case = self.case_at(channel, ts)
        if case is None or is_old_parent(case, channel, ts):
            return
        if reaction == self.settings.emoji.claim:
            self._claim(case, user)
        elif reaction == self.settings.emoji.resolve:
            self._resolve(case, user)

    def reaction_removed(self, user: str, channel: str, ts: str, reaction: str) -> None:
        if reaction not in (self.settings.emoji.claim, self.settings.emoji.resolve):
            return
        case = self.case_at(channel, ts)
        if case is None or is_old_parent(case, channel, ts):
            return
        if reaction == self.settings.emoji.claim and case.claimer in (user, None):
            if self.store.release(case.id, SlackUserId(user)):
                log.info(kv("case.released", case=case.id, user=user))
            self.store.queue(update_job(case))
            refresh_home(self.store, user)
        elif reaction == self.settings.emoji.resolve and case.resolved_by == user:
            if self.store.unresolve(case.id):
                log.info(kv("case.unresolved", case=case.id, user=user))
            self.store.queue(update_job(case))

    def _claim(self, case: Case, user: str) -> None:
        if not self.roles.is_agent(user):
            log.info(kv("case.claim_refused", case=case.id, user=user, why="not an agent"))
            self.store.queue(ephemeral_job(case.channel, user, "Only agents can claim cases. Ask an admin to add you."))
            return
        holder = self.store.claim(case.id, SlackUserId(user))
        if holder == user:
            # Also when it was ours already: a retry of an event whose update was never queued.
            log.info(kv("case.claimed", case=case.id, user=user))
            self.store.queue(update_job(case))
            refresh_home(self.store, user)
            return
        log.info(kv("case.claim_lost", case=case.id, user=user, holder=holder))
        self.store.queue(ephemeral_job(case.channel, user, f"<@{holder}> already has this case, so nothing changed. "
                                       "Ask them to hand it over, or remove their claim."))

    def _resolve(self, case: Case, user: str) -> None:
        fresh = self.store.case(case.id) or case
        if user != fresh.claimer and not self.roles.is_admin(user):
            self.store.queue(ephemeral_job(case.channel, user, "Only the agent who claimed this case, or an admin, "
                                           "can resolve it."))
            return
        if self.store.resolve(case.id, SlackUserId(user)):
            log.info(kv("case.resolved", case=case.id, user=user))
        self.store.queue(update_job(case))
        for who in {user, fresh.claimer} - {None}:
            refresh_home(self.store, str(who))

    # -- thread messages -----------------------------------------------------------------------

    def message(self, user: str, channel: str, ts: str, thread_ts: str, text: str,
                files: list[dict] | None = None) -> None:
        """A thread message; ``files``: the Slack file objects of a file_share message (bridge/core/media.py)."""
        case = self.case_at(channel, thread_ts)
        if case is None:
            return
        if is_old_parent(case, channel, thread_ts):
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, moved_hint(case), thread_ts)]):
                log.info(kv("reply.in_old_thread", case=case.id, user=user, ts=ts))
            return
        if is_note(text, self.settings.replies.note_prefixes):
            log.info(kv("reply.note", case=case.id, user=user, ts=ts))
            return
        if case.claimer is None:
            hint = (f"This case isn't claimed yet, so nothing was tweeted. React :{self.settings.emoji.claim}: "
                    "on the case's first message to claim it, then write your reply again.")
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, hint, thread_ts)]):
                log.info(kv("reply.unclaimed", case=case.id, user=user, ts=ts))
            return
        if case.claimer != user:
            log.info(kv("reply.note", case=case.id, user=user, ts=ts, why="not the claimer"))
            return
        if not self.roles.is_agent(user):
            # An admin removed them as an agent after they claimed (bridge/desk/admin.py): the case stays
            # theirs until it is handed over, but nothing they write is tweeted any more.
            hint = ("You are no longer an agent on this desk, so nothing was tweeted. Ask an admin to hand "
                    "this case over (*Hand over…* on the case).")
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, hint, thread_ts)]):
                log.info(kv("reply.refused", case=case.id, user=user, ts=ts, reason="not an agent"))
            return
        if self.dms.take_reply(case, user, channel, ts, text, files):
            return  # a direct message, private: neither split nor checked like a public reply
        checked = check_reply(text, user, self.settings, files)
        if checked.refused:
            # Told at once, not after a trip through the queue.
            if self.store.take_message(channel, ts, [ephemeral_job(channel, user, checked.refused, thread_ts),
                                                     react_job(channel, ts, "x")]):
                if checked.held_by_guard and checked.guard:
                    log.info(kv("reply.refused", case=case.id, user=user, ts=ts, reason="personal data",
                                found=checked.guard.kinds))
                else:
                    log.info(kv("reply.refused", case=case.id, user=user, ts=ts, reason=checked.problem))
            return
        job = {"id": f"reply:{channel}:{ts}", "kind": "reply", "case": case.id, "channel": channel,
               "ts": ts, "user": user, "text": text}
        if checked.media:
            job["files"] = [a.as_job() for a in checked.media]
        if self.store.take_message(channel, ts, [(x_lane(case.id), job)]):
            log.info(kv("reply.queued", case=case.id, user=user, ts=ts))
            if checked.guard and checked.guard.forced:  # the audit trail of personal data tweeted on purpose
                log.warning(kv("privacy.forced", case=case.id, user=user, ts=ts, found=checked.guard.kinds))

    def untweetable(self, user: str, channel: str, ts: str, thread_ts: str, why: str) -> None:
        """A claimer's reply of a kind that is not tweeted: tell them, once."""
        case = self.case_at(channel, thread_ts)
        if case is None or case.claimer != user:
            return
        if self.store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not tweeted: {why}", thread_ts)]):
            log.info(kv("reply.untweetable", case=case.id, user=user, ts=ts, why=why))
