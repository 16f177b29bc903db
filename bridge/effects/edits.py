"""Slack to X, the effects of an edit or deletion in Slack: a reply's tweets deleted on X, or the thread told they stay.

The jobs are queued by :class:`bridge.desk.edits.Edits`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.core.log import kv
from bridge.core.models import Case, tweet_url
from bridge.core.settings import Settings
from bridge.effects.jobs import notice_job, retry_if_later, within_budget
from bridge.storage.lanes import Done
from bridge.storage.limits import DELETES
from bridge.storage.store import Store
from bridge.x.client import XError
from bridge.x.port import XPort

log = logging.getLogger(__name__)

KEEP = 14 * 24 * 3600  # as long as a reply job's record of its tweets


class EditJobs:
    """The ``unsend`` job: delete a reply's tweets on X (or say they stay), then tell the thread."""

    def __init__(self, store: Store, x: XPort, settings: Settings, brand_username: str) -> None:
        self.store = store
        self.x = x
        self.settings = settings
        self.brand_username = brand_username

    def handlers(self) -> dict[str, Callable]:
        return {"unsend": self.unsend, "dm_deleted": self.dm_deleted}

    def dm_deleted(self, job: dict) -> Done:
        """A DM reply deleted in Slack: stopped if it had not gone out; X cannot unsend one that had."""
        case = self.store.case(job["case"])
        done = self.store.outbox.done(job["reply_job"])
        if case is None or not isinstance(done, dict) or not (done.get("cancelled") or done.get("dm")):
            return Done({"skipped": "nothing was sent"})
        who = f"<@{job['user']}>"
        if done.get("cancelled"):
            text = f"{who} deleted their message before it was sent, so no direct message went out."
        else:
            text = (f"{who} deleted their message in Slack. A direct message can't be unsent from here: "
                    "the customer still has it.")
        return Done(True, [notice_job(case, job["id"], text)])

    def unsend(self, job: dict) -> Done:
        case = self.store.case(job["case"])
        if case is None:
            return Done({"skipped": "case gone"})
        tweets: list[str] = self.store.r.lrange(self.store.keys.parts(job['reply_job']), 0, -1)
        links = " ".join(tweet_url(self.brand_username, t) for t in tweets)
        who = f"<@{job['user']}>"
        if job["why"] == "edit":
            did = f"{who} edited their reply, and a tweet can't be edited"
            after = " The new text is tweeted as a new reply."
        else:
            did = f"{who} deleted their reply in Slack"
            after = ""
        if self.settings.x.dry_run and job["delete"]:
            return self._tell(case, job, f"{did}. Dry run: its tweet would have been deleted on X"
                                         f"{f': {links}' if links else '.'}{after}", tweets)
        if not tweets:
            return self._tell(case, job, f"{did} before it was tweeted, so nothing was tweeted.", [])
        if not job["delete"]:
            return self._tell(case, job, f"{did}; its tweet stays on X ([replies] delete_on_slack_delete is off): "
                                         f"{links}", tweets)
        gone_key = self.store.keys.unsent(job['reply_job'])
        for tweet_id in tweets:
            if self.store.r.sismember(gone_key, tweet_id):
                continue  # deleted by an earlier attempt of this job
            try:
                # An already deleted tweet counts as deleted.
                within_budget(self.store, DELETES, self.x.budget, lambda t=tweet_id: self.x.delete_tweet(t))
            except XError as exc:
                retry_if_later(exc, attempt=2)
                log.warning(kv("reply.delete_failed", case=case.id, tweet=tweet_id, reason=exc.reason))
                also = ""
                if job.get("then"):  # the new text must not join the old one on X
                    self.store.r.set(self.store.keys.cancel(job['then']), 1, ex=KEEP)
                    also = " The new text was not tweeted either."
                return self._tell(case, job, f"{did}, but its tweet could not be deleted on X: {exc.reason}. "
                                             f"Delete it in the X app: {links}.{also}", tweets)
            with self.store.r.pipeline(transaction=True) as pipe:
                pipe.sadd(gone_key, tweet_id)
                pipe.expire(gone_key, KEEP)
                pipe.execute()
            log.info(kv("reply.tweet_deleted", case=case.id, tweet=tweet_id, why=job["why"]))
        return self._tell(case, job, f"{did}, so its tweet was deleted on X: {links}.{after}", tweets)

    def _tell(self, case: Case, job: dict, text: str, tweets: list[str]) -> Done:
        return Done({"tweets": tweets, "delete": job["delete"]}, [notice_job(case, job["id"], text)])
