"""Direct messages, Slack to X: the claimer's reply sent as a DM, and asking a customer for a DM.

From Slack (:meth:`DmDesk.take_reply`, :meth:`DmDesk.ask`, called by :class:`~bridge.desk.desk.Desk`)
only Redis is touched and jobs queued; :class:`bridge.effects.dms.DmJobs` runs them on the ``x`` lane,
in order with the brand's tweets.
"""

from __future__ import annotations

import logging
import uuid

from bridge.core.log import kv
from bridge.core.models import Case
from bridge.core.rules import is_old_parent
from bridge.core.settings import Settings
from bridge.core.tweet_text import MAX_DM, EmptyReply, dm_text
from bridge.desk.parents import Parents
from bridge.desk.roles import Roles
from bridge.effects.jobs import ephemeral_job, react_job
from bridge.storage.dms import DmStore, dm_recipient
from bridge.storage.outbox import x_lane
from bridge.storage.store import Store

log = logging.getLogger(__name__)

ASK_ONCE_TTL = 365 * 24 * 3600  # a case is asked for a DM once (a year is longer than any case stays open)


class DmDesk:
    def __init__(self, store: Store, settings: Settings, roles: Roles, parents: Parents) -> None:
        self.store = store
        self.settings = settings
        self.roles = roles
        self.parents = parents
        self.dms = DmStore(store)

    def take_reply(self, case: Case, user: str, channel: str, ts: str, text: str,
                   files: list[dict] | None = None) -> bool:
        """Queue the claimer's reply as a DM if :func:`dm_recipient` says so; False: tweet it as usual."""
        peer = dm_recipient(self.store, case.id)
        if peer is None:
            return False
        store = self.store
        if files:  # X's DM media upload is not supported: say so rather than send the text without them
            why = "files aren't sent in direct messages. Send the text alone, and the file as a link."
            store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not sent: {why}", case.parent_ts),
                                             react_job(channel, ts, "x")])
            return True
        try:
            signed = dm_text(text, self.settings.signature_of(user))
        except EmptyReply as exc:
            store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not sent: {exc}", case.parent_ts)])
            return True
        if len(signed) > MAX_DM:
            why = f"a direct message holds at most {MAX_DM:,} characters and this one has {len(signed):,}."
            store.take_message(channel, ts, [ephemeral_job(channel, user, f"Not sent: {why}", case.parent_ts),
                                             react_job(channel, ts, "x")])
            return True
        # "answers": the DM the agent saw last, so that a DM arriving meanwhile still waits for its answer.
        job = {"id": f"dm_reply:{channel}:{ts}", "kind": "dm_reply", "case": case.id, "to": peer, "channel": channel,
               "ts": ts, "user": user, "text": text, "answers": self.dms.latest_dm(case.id)}
        if store.take_message(channel, ts, [(x_lane(case.id), job)]):
            log.info(kv("reply.dm_queued", case=case.id, user=user, ts=ts))
        return True

    def ask(self, user: str, channel: str, ts: str) -> None:
        """The ask_dm reaction on a public case's parent: tweet the customer the ask, once per case.

        The claimer may ask; on an unclaimed case any agent may (asking does not claim it).
        """
        case = self.parents.case_at(channel, ts)
        if case is None or is_old_parent(case, channel, ts):  # a moved case is asked from its new parent
            return
        dms = self.dms
        why = None
        if not self.roles.is_agent(user):
            why = "Only agents can ask a customer for a direct message."
        elif not self.settings.dm.enabled:
            why = "Direct messages are switched off ([dm] enabled = false), so a customer's DM would not reach Slack."
        elif dms.is_dm_case(case.id):
            why = "This case is a direct message already: just reply in the thread."
        elif case.claimer and case.claimer != user:
            why = f"<@{case.claimer}> has this case, so only they can ask the customer for a DM."
        if why:
            self.store.queue(ephemeral_job(channel, user, why))
            log.info(kv("dm.ask_refused", case=case.id, user=user, why=why))
            return
        # Its own id per ask: one X refused (done, and forgotten below) must not hide the next one.
        job = {"id": f"dm_ask:{case.id}:{uuid.uuid4().hex[:8]}", "kind": "dm_ask", "case": case.id, "user": user}
        # The customer is expected now already, with the job, not when it runs: one who DMs while the x
        # lane waits (for X's limit, say) still lands in this case. Once per case, whatever Slack repeats.
        customer = dms.asked_customer(case).id
        if self.store.queue_once(dms.ask_once_key(case.id), [(x_lane(case.id), job)], ttl=ASK_ONCE_TTL,
                                 also=lambda pipe: dms.record_ask(case.id, customer, pipe)):
            log.info(kv("dm.ask_queued", case=case.id, user=user))
