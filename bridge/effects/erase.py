"""Erasing and exporting a customer (SPEC "Personal data"): ``python -m bridge erase|export HANDLE``.

An erasure goes in this order, each step safe to repeat: the plan is kept (bridge/storage/customers.py);
every message the bot posted in the customer's threads, and any top-level message of the bot's that
names them (a reminder, an opening summary), is replaced by "Erased on request" with no content or
metadata of theirs; then Redis forgets them; then the plan goes. Killed half way, the next run finds
the plan and finishes. Agents' own thread messages cannot be changed by a bot token: they are counted
and linked, for an admin to delete by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.core import crash
from bridge.core.log import kv
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.rules import desk_channels
from bridge.core.settings import Settings
from bridge.effects.jobs import ephemeral_job
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.customers import CustomerRecords, Plan
from bridge.storage.desk_config import DeskConfig
from bridge.storage.lanes import Done
from bridge.storage.store import Store

log = logging.getLogger(__name__)

ERASED = "Erased on request"
ERASED_BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": f"_{ERASED}_"}}]
ERASED_METADATA = {"event_type": "xdesk_erased", "event_payload": {}}


@dataclass
class Report:
    cases: int = 0
    messages: int = 0  # the bot's messages replaced
    agents_messages: list[str] = field(default_factory=list)  # links to what only their authors can delete
    failed: list[str] = field(default_factory=list)  # Slack refused or was unreachable: run again

    def lines(self, handle: str) -> list[str]:
        out = [f"erased {self.cases} case(s) of {handle} and {self.messages} Slack message(s) the bot posted"]
        if self.agents_messages:
            out.append(f"not erased: {len(self.agents_messages)} message(s) agents wrote in those threads (a bot "
                       "cannot delete people's messages; delete them in Slack):")
            out += [f"  {link}" for link in self.agents_messages]
        if self.failed:
            out.append(f"not finished: Slack refused {len(self.failed)} change(s) ({', '.join(self.failed[:5])}); "
                       "run the erasure again")
        return out


class Erasure:
    def __init__(self, store: Store, slack: SlackPort, channels: list[str]) -> None:
        self.records = CustomerRecords(store)
        self.store = store
        self.slack = slack
        self.channels = channels  # the desk's channels, searched for top-level messages naming the customer

    def find(self, handle: str) -> Plan | None:
        user_id = self.records.resolve(handle)
        if user_id is None:
            pending = [k for k in self.store.r.scan_iter(self.store.keys.key("erasure", "*"))]
            for key in pending:  # an erasure under way whose cases are gone already
                plan = self.records.plan_at(key)
                if plan and handle.strip().removeprefix("@").casefold() in {t.casefold() for t in plan.traces}:
                    return plan
            return None
        return self.records.plan(user_id)

    def export(self, plan: Plan) -> dict[str, Any]:
        return self.records.export(plan)

    def erase(self, plan: Plan) -> Report:
        self.records.begin(plan)
        report = Report()
        for channel, ts in plan.parents:
            self._thread(channel, ts, report)
        for channel in self.channels if plan.whole else []:  # some cases only: their handle stays in use
            self._mentions(channel, plan, report)
        if report.failed:
            return report  # Redis keeps what the next run needs to find those messages
        crash.point("erase.after_slack")
        report.cases = self.records.erase(plan)
        self.records.done(plan.user_id)
        log.info(kv("privacy.erased", cases=report.cases, messages=report.messages,
                    agents_messages=len(report.agents_messages)))
        return report

    def _thread(self, channel: str, ts: str, report: Report) -> None:
        try:
            messages = self.slack.replies(channel, ts)
        except SlackError as exc:
            if exc.error in ("thread_not_found", "channel_not_found", "message_not_found"):
                return  # gone already
            report.failed.append(f"{channel} {ts}: {exc.error}")
            return
        for message in messages:
            if message.get("bot_id"):
                self._replace(channel, message, report)
            elif message.get("user"):
                report.agents_messages.append(self._link(channel, message["ts"]))

    def _mentions(self, channel: str, plan: Plan, report: Report) -> None:
        try:
            messages = self.slack.history(channel, plan.since) if plan.since else []
        except SlackError as exc:
            report.failed.append(f"{channel}: {exc.error}")
            return
        for message in messages:
            if message.get("bot_id") and _names(message, plan):
                self._replace(channel, message, report)

    def _replace(self, channel: str, message: dict[str, Any], report: Report) -> None:
        if message.get("text") == ERASED and (message.get("metadata") or {}).get("event_type") == "xdesk_erased":
            return  # erased by an earlier run
        try:
            self.slack.update(channel, message["ts"], ERASED, ERASED_BLOCKS, metadata=ERASED_METADATA)
            report.messages += 1
        except SlackError as exc:
            if exc.error != "message_not_found":
                report.failed.append(f"{channel} {message['ts']}: {exc.error}")

    def _link(self, channel: str, ts: str) -> str:
        try:
            return self.slack.permalink(channel, ts)
        except SlackError:
            return f"{channel} {ts}"


def _names(message: dict[str, Any], plan: Plan) -> bool:
    """A top-level message of the bot's that names the customer (a reminder, a summary), or is theirs."""
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    if str(payload.get("case_id", "")) in plan.cases:
        return True
    shown = f"{message.get('text', '')} {message.get('blocks', '')}".replace("\u2060", "")  # mrkdwn's word joiner
    handles = [t for t in plan.traces if not t.isdigit() and " " not in t and len(t) < 30]
    return any(f"@{h}" in shown for h in handles)


class PrivacyJobs:
    """The erasures a worker runs: ``[privacy] retention_days`` once a day (cases resolved longer ago), and
    ``/xdesk erase`` once an admin confirmed it (they are told how it went)."""

    def __init__(self, store: Store, slack: SlackPort, settings: Settings, clock: Callable[[], float]) -> None:
        self.store = store
        self.slack = slack
        self.settings = settings
        self.clock = clock

    def handlers(self) -> dict[str, Callable[[dict], Done]]:
        return {"retention": self.retention, "erase": self.erase}

    def retention(self, job: dict) -> Done:
        days = self.settings.privacy.retention_days
        if not days:
            return Done({"skipped": "retention is off"})
        erasure = Erasure(self.store, self.slack, [])
        cases = messages = 0
        for customer, ids in erasure.records.resolved_before(self.clock() - days * 86400).items():
            report = erasure.erase(erasure.records.plan(customer, only=ids))
            cases, messages = cases + report.cases, messages + report.messages
        log.info(kv("privacy.retention", days=days, cases=cases, messages=messages))
        return Done({"cases": cases, "messages": messages})

    def erase(self, job: dict) -> Done:
        key = self.store.keys.key("eraserequest", job["request"])
        handle = self.store.r.get(key)
        if handle is None:
            return Done({"skipped": "done before"})  # this job ran already, and its answer went out
        erasure = Erasure(self.store, self.slack, desk_channels(self.settings))
        plan = erasure.find(handle)
        if plan is None or not (plan.cases or plan.tweets):
            lines = [f"nothing stored for {handle}"]
        else:
            report = erasure.erase(plan)
            lines = report.lines(handle)
            DeskConfig(self.store).note(job["by"], f"erased {report.cases} case(s) of a customer and "
                                        f"{report.messages} Slack message(s)", self.clock())
        self.store.r.delete(key)
        text = "\n".join(escape_mrkdwn(line) if i == 0 else line for i, line in enumerate(lines))
        return Done({"erased": True}, [ephemeral_job(job["channel"], job["by"], text)])
