"""The daily digest and the follower samples (SPEC "The desk at a glance").

- ``digest``: at ``[digest] at`` the previous day's figures are posted in ``[digest] channel``, and the
  day's chart (PNG) is uploaded in that message's thread. Both go out once: the post by its job id in
  its metadata, the chart by looking in the thread for it after an attempt that may have landed.
- ``followers``: the brand account's follower count, read hourly from X (``GET /2/users/me``,
  ``public_metrics``) and kept 400 days.

The clock (bridge/intake/clock.py) queues both, once per day and once per hour across all workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from bridge.core.chart import day_chart, duration, share
from bridge.core.log import kv
from bridge.core.settings import Settings
from bridge.effects.jobs import retry_if_later
from bridge.effects.slack_posts import SlackPosting, slack_call
from bridge.slack.blocks import notice_blocks
from bridge.storage.figures import Figures, Period
from bridge.storage.lanes import Attempts, Done
from bridge.x.errors import XError
from bridge.x.port import XPort

log = logging.getLogger(__name__)


def period_text(title: str, period: Period, sla_minutes: float, per_person: bool) -> str:
    """A period's figures in a few lines; ``per_person``: with the figures per agent and per topic."""
    lines = [f"*{title}*: {period.opened} cases opened, {period.answered} answered first ({period.replies} "
             f"replies sent); median first response {duration(period.median_first_response)}, "
             f"{share(period.sla_share)} within {sla_minutes:g} min."]
    if per_person and period.by_agent:
        lines.append("*By agent* (replies): " + ", ".join(
            f"<@{agent}> {n}" for agent, n in sorted(period.by_agent.items(), key=lambda kv: -kv[1])))
    if per_person and period.by_topic:
        lines.append("*By topic* (cases opened): " + ", ".join(
            f"{topic or 'no topic'} {n}" for topic, n in sorted(period.by_topic.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)


class DigestJobs:
    def __init__(self, posting: SlackPosting, x: XPort, settings: Settings, clock: Callable[[], float]) -> None:
        self.posting = posting
        self.store = posting.store
        self.slack = posting.slack
        self.x = x
        self.settings = settings
        self.figures = Figures(self.store.r, self.store.keys, lambda: settings, clock)
        self.clock = clock

    def handlers(self) -> dict[str, Callable[[dict], Done]]:
        return {"digest": self.digest, "followers": self.followers}

    def digest(self, job: dict) -> Done:
        day, channel = date.fromisoformat(job["day"]), job["channel"]
        period = self.figures.period([day])
        title = f"The desk on {day:%A, %-d %B %Y}"
        text = period_text(title, period, self.settings.sla.first_response, per_person=True)
        count, change = self.figures.followers()
        if count is not None:
            text += f"\n*Followers*: {count:,}" + (f" ({change[1]:+,} in a day)" if 1 in change else "")
        self.posting.join_once(channel)
        ts = slack_call(lambda: self.posting.post_once(job, channel, lambda images=True: notice_blocks(text),
                                                         payload={"day": job["day"]}, event_type="xdesk_digest"))
        self._chart_once(job, channel, ts, title, period)
        log.info(kv("digest.posted", day=job["day"], channel=channel, ts=ts, cases=period.opened))
        return Done({"ts": ts})

    def _chart_once(self, job: dict, channel: str, ts: str, title: str, period: Period) -> None:
        attempts = Attempts(self.store.r, self.store.keys.attempt(job["id"], 1))
        if attempts.before() is not None and any(m.get("files") for m in self.slack.replies(channel, ts)[1:]):
            return  # an earlier attempt uploaded it; its answer was lost
        png = day_chart(title, period.opened_by_hour, period.median_by_hour)
        attempts.sending(attempts.before())
        slack_call(lambda: self.slack.upload(channel, f"xdesk-{job['day']}.png", png,
                                             f"Cases and first response by hour, {job['day']}", thread_ts=ts))
        attempts.answered()

    def followers(self, job: dict) -> Done:
        try:
            me = self.x.me()
        except XError as exc:
            retry_if_later(exc)
            return Done({"failed": exc.reason})  # a sample missed; the next hour takes one
        self.figures.followers_sampled(me.followers, self.clock())
        return Done({"followers": me.followers})
