"""The desk's clock: the opening summary after a closed period, the reminders, and the auto-reply.

Every worker runs :class:`ClockLoop`; one turn a second is shared by all of them through Redis, as the
pollers share theirs. Each turn takes what has come due in one atomic script that removes it from
its index (or marks it) and queues the outbox job that posts it, so a turn that is repeated, or run
by two workers at once, queues nothing twice; the jobs post with the usual reconciliation
(:meth:`SlackPosting._post_once`, :meth:`XReplies._tweet_once`).

The indexes are kept by the case scripts in ``bridge/storage/store.py``: ``unclaimed`` and ``waiting`` hold
case ids scored by the time they wait from, ``closed`` the closed periods scored by their end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bridge.core.hours import fill_auto_reply, is_open, opens_text
from bridge.core.log import kv
from bridge.core.models import Author, Case, CaseId, CaseStatus, TweetId
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import Settings
from bridge.desk.desk import XReplies, notice_job
from bridge.intake.mentions import SLACK_PACE, SlackPosting
from bridge.slack.blocks import notice_blocks
from bridge.slack.client import SlackSide
from bridge.storage.lanes import Done, Retry
from bridge.storage.loops import run_loop
from bridge.storage.store import Store
from bridge.x.client import RateLimited, XError, backoff

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between turns; reminders are set in minutes
MARK_TTL = 14 * 24 * 3600
MAX_LISTED = 40  # cases named in one opening summary; the rest are counted

_PUSH = """
local function push(lane, job)
  redis.call('RPUSH', p..'lane:'..lane, cjson.encode(job))
  redis.call('SADD', p..'lanes', lane)
end
local function wake()
  redis.call('LPUSH', p..'wake', '1')
  redis.call('LTRIM', p..'wake', 0, 63)
end
"""

# Closed periods that have ended: one summary job per channel that got cases, marked so that a
# period seen again (a late ingest re-adds it) queues none twice.
_TAKE_SUMMARIES = "local p, now = ARGV[1], ARGV[2]\n" + _PUSH + """
local taken = 0
for _, period in ipairs(redis.call('ZRANGEBYSCORE', p..'closed', '-inf', now, 'LIMIT', 0, 20)) do
  for _, channel in ipairs(redis.call('SMEMBERS', p..'closed:'..period)) do
    if redis.call('SET', p..'summarized:'..period..':'..channel, '1', 'NX', 'EX', ARGV[3]) then
      push('post:'..channel, {id = 'summary:'..period..':'..channel, kind = 'summary', period = period,
        channel = channel})
      taken = taken + 1
    end
  end
  redis.call('ZREM', p..'closed', period)
end
if taken > 0 then wake() end
return taken
"""

# Cases waiting since before a cut-off leave their index and get one reminder job each; with no
# cut-off (that reminder is off) the index is only emptied up to ``now``.
_TAKE_REMINDERS = "local p, now = ARGV[1], ARGV[2]\n" + _PUSH + """
local taken = 0
local function take(index, cut, status, kind)
  local due = redis.call('ZRANGEBYSCORE', p..index, '-inf', cut ~= '' and cut or now, 'WITHSCORES', 'LIMIT', 0, 100)
  for i = 1, #due, 2 do
    local id, since = due[i], due[i + 1]
    redis.call('ZREM', p..index, id)
    local ck = p..'case:'..id
    if cut ~= '' and redis.call('HGET', ck, 'status') == status then
      -- One reminder per wait: the job is named by when the wait began (a DM starts a wait without
      -- changing the latest customer tweet).
      local tweet = redis.call('HGET', ck, 'latest_customer_tweet')
      push('post:'..redis.call('HGET', ck, 'channel'), {id = kind..':'..id..':'..since, kind = kind, case = id,
        tweet = tweet})
      taken = taken + 1
    end
  end
end
take('unclaimed', ARGV[3], 'open', 'remind_unclaimed')
take('waiting', ARGV[4], 'claimed', 'remind_waiting')
if taken > 0 then wake() end
return taken
"""


def _minutes(value: float) -> str:
    return f"{value:g} minute{'' if value == 1 else 's'}"


def _ping(setting: str) -> str:
    """The unclaimed reminder's mention: https://api.slack.com/reference/surfaces/formatting#special-mentions"""
    if setting in ("here", "channel"):
        return f"<!{setting}> "
    return f"<!subteam^{setting}> " if setting else ""


class ClockLoop:
    """Each turn: summaries of closed periods that ended, then (while open) the reminders due."""

    def __init__(self, store: Store, settings: Settings, revive: Callable[[], object] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.revive = revive
        self._take_summaries = store.r.register_script(_TAKE_SUMMARIES)
        self._take_reminders = store.r.register_script(_TAKE_REMINDERS)

    def run(self, stop: threading.Event) -> None:
        run_loop("clock", self.tick_once, stop, revive=self.revive)

    def tick_once(self) -> float:
        """Take a turn if it is due, across all workers; return the seconds until the next."""
        r, key = self.store.r, f"{self.store.p}clock:turn"
        if not r.set(key, "1", nx=True, px=int(TICK * 1000)):
            return max(0.05, min(TICK, (r.pttl(key) or 1000) / 1000))
        self.tick(self.store.clock())
        return TICK

    def tick(self, now: float) -> None:
        p = self.store.p
        summaries = self._take_summaries(args=[p, repr(now), MARK_TTL])
        if summaries:
            log.info(kv("hours.summaries_queued", count=summaries))
        if not is_open(self.settings.hours, datetime.fromtimestamp(now, UTC)):
            return  # nobody is there to remind; what is due then is reminded at the opening
        unclaimed, waiting = self.settings.reminders.unclaimed_after, self.settings.reminders.waiting_after
        cuts = [repr(now - unclaimed * 60) if unclaimed else "", repr(now - waiting * 60) if waiting else ""]
        reminders = self._take_reminders(args=[p, repr(now), *cuts])
        if reminders:
            log.info(kv("reminders.queued", count=reminders))


class ClockJobs:
    """The jobs the clock and the closed desk queue: auto-reply, opening summary, reminders."""

    def __init__(self, store: Store, slack: SlackSide, settings: Settings, brand: Author,
                 posting: SlackPosting, replies: XReplies) -> None:
        self.store = store
        self.slack = slack
        self.settings = settings
        self.brand = brand
        self.posting = posting
        self.replies = replies

    def handlers(self) -> dict[str, Callable]:
        return {
            "auto_reply": self.auto_reply,
            "summary": self.summary,
            "remind_unclaimed": self.remind_unclaimed,
            "remind_waiting": self.remind_waiting,
        }

    # -- the closed desk -----------------------------------------------------------------------

    def auto_reply(self, job: dict) -> Done:
        case, hours = self.store.case(CaseId(job["case"])), self.settings.hours
        if case is None or hours is None or not hours.auto_reply.strip() or job["period"] == "never":
            return Done({"skipped": "no case or no auto-reply"})
        opens = opens_text(hours, datetime.fromisoformat(job["period"]),
                           datetime.fromtimestamp(self.store.clock(), UTC))
        text = fill_auto_reply(hours.auto_reply, case.customer.username, case.customer.name, opens)
        if self.settings.x.dry_run:
            return Done({"dry_run": text}, [notice_job(case, job["id"], "Dry run: would have tweeted the "
                                                       f"auto-reply: {escape_mrkdwn(text)}")])
        try:
            tweet_id = self.replies._tweet_once(job, 0, text, case.first_tweet)
        except RateLimited as exc:
            raise Retry(max(1.0, (exc.reset_at - time.time()) if exc.reset_at else 15.0), exc.reason) from None
        except XError as exc:
            if exc.retryable:
                raise Retry(backoff(1, 5), exc.reason) from None
            log.warning(kv("hours.auto_reply_failed", case=case.id, reason=exc.reason))
            return Done({"failed": exc.reason}, [notice_job(case, job["id"], "Auto-reply not tweeted: "
                                                            f"{escape_mrkdwn(exc.reason)}")])
        self.store.link_brand_tweet(case.id, tweet_id)  # the customer's answer to it joins the case
        log.info(kv("hours.auto_replied", case=case.id, tweet=tweet_id, in_reply_to=case.first_tweet))
        link = f"https://x.com/{self.brand.username}/status/{tweet_id}"
        return Done({"tweet": tweet_id}, [notice_job(case, job["id"], f"Auto-reply tweeted: {link}")])

    def summary(self, job: dict) -> Done:
        channel = job["channel"]
        ids = self.store.r.lrange(f"{self.store.p}closed:{job['period']}:{channel}", 0, -1)
        cases = [c for c in (self.store.case(CaseId(i)) for i in ids) if c is not None]
        if not cases:
            return Done({"skipped": "no cases"})
        lines = [self._listed(c) for c in cases[:MAX_LISTED]]
        if len(cases) > MAX_LISTED:
            lines.append(f"\u2026 and {len(cases) - MAX_LISTED} more.")
        many = f"{len(cases)} new cases" if len(cases) > 1 else "1 new case"
        text = f"Good to have you back! While the desk was closed, {many} came in here:\n" + "\n".join(lines)
        ts = self.posting._slack(lambda: self.posting._post_once(
            job, channel, lambda images=True: notice_blocks(text), payload={"period": job["period"]}))
        log.info(kv("hours.summary_posted", channel=channel, period=job["period"], cases=len(cases), ts=ts))
        return Done({"ts": ts}, pace=SLACK_PACE)

    def _listed(self, case: Case) -> str:
        tweet = self.store.tweet(case.first_tweet)
        words = escape_mrkdwn(" ".join((tweet.text if tweet else "").split())[:80])
        return f"\u2022 {self._link(case, '@' + case.customer.username)}: {words}"

    def _link(self, case: Case, label: str) -> str:
        label = escape_mrkdwn(label)
        if not case.parent_ts:
            return label
        return f"<{self.posting._slack(lambda: self.slack.permalink(case.channel, case.parent_ts or ''))}|{label}>"

    # -- reminders -----------------------------------------------------------------------------

    def remind_unclaimed(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        if case is None or case.status is not CaseStatus.OPEN or not case.parent_ts:
            return Done({"skipped": "claimed, resolved or not posted"})
        after = _minutes(self.settings.reminders.unclaimed_after)
        text = (f"{_ping(self.settings.reminders.ping)}{self._link(case, 'A case from @' + case.customer.username)} "
                f"has waited more than {after} without a claim. React :{self.settings.emoji.claim}: on it to "
                "claim it.")
        ts = self.posting._slack(lambda: self.posting._post_once(
            job, case.channel, lambda images=True: notice_blocks(text), payload={"case_id": case.id}))
        log.info(kv("reminder.unclaimed", case=case.id, channel=case.channel, ts=ts))
        return Done({"ts": ts}, pace=SLACK_PACE)

    def remind_waiting(self, job: dict) -> Done:
        case = self.store.case(CaseId(job["case"]))
        waiting = self.store.r.hget(f"{self.store.p}case:{job['case']}", "waiting_since")
        if (case is None or case.claimer is None or case.status is not CaseStatus.CLAIMED or not waiting
                or case.latest_customer_tweet != TweetId(job["tweet"])):
            return Done({"skipped": "answered, released or resolved"})
        after = _minutes(self.settings.reminders.waiting_after)
        text = (f"<@{case.claimer}> {escape_mrkdwn('@' + case.customer.username)} has waited more than {after} "
                "for an answer to their latest post.")
        log.info(kv("reminder.waiting", case=case.id, claimer=case.claimer, tweet=job["tweet"]))
        return self.posting._notice(job, case, text)
