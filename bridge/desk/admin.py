"""Admins at work in Slack: ``/xdesk topics``, ``topic``, ``agents``, ``agent``, ``hours``, ``holiday``,
``audit`` and ``config`` (SPEC "Admins at work in Slack").

Each change is made over the version of the desk it was read from and committed whole
(:class:`bridge.storage.desk_config.DeskConfig`); every process takes it within moments
(:class:`bridge.storage.desk_config.LiveSettings`). A command Slack delivers twice is carried out once:
the second delivery gets the first one's answer. Every answer is the admin's alone (an ephemeral
reply); the audit channel, when set, gets a post of each change.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import tomli_w

from bridge.core import desk_config as dc
from bridge.core.desk_config import DAYS, Overlay, Refused
from bridge.core.log import kv
from bridge.core.mrkdwn import escape_mrkdwn, unescape
from bridge.core.settings import Settings, Topic
from bridge.desk.erase_requests import EraseRequests
from bridge.desk.roles import Roles
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.desk_config import DeskConfig, LiveSettings, Snapshot
from bridge.storage.outbox import post_lane

log = logging.getLogger(__name__)

ONLY_ADMINS = "Only admins may change the desk (`[slack] admins` in settings.toml, or Slack workspace admins)."
OFF = ("Changes from Slack are turned off (`[slack] admin_changes = false`): the desk is configured in "
       "settings.toml alone. `/xdesk topics`, `agents`, `hours` and `config` still show it.")
FORMS = {
    "topic add": "`/xdesk topic add NAME #channel [keywords=a,b] [hashtags=a,b] [languages=de,en]`",
    "topic set": "`/xdesk topic set NAME [#channel] [keywords=a,b] [hashtags=a,b] [languages=de,en]` "
                 "(`keywords=` empties a list)",
    "topic remove": "`/xdesk topic remove NAME`",
    "topic order": "`/xdesk topic order NAME N` (1 is checked first)",
    "agent add": "`/xdesk agent add @user SIGNATURE`",
    "agent remove": "`/xdesk agent remove @user`",
    "hours": "`/xdesk hours monday 08:00-20:00` (several ranges: `08:00-12:00,13:00-20:00`; or `closed`)",
    "holiday": "`/xdesk holiday add 2026-12-24` or `/xdesk holiday remove 2026-12-24`",
}
HELP = """Admins change the desk here; everyone may look:
• `/xdesk topics`: the topics in routing order (the first that matches a tweet wins)
• """ + "\n• ".join(FORMS[k] for k in ("topic add", "topic set", "topic remove", "topic order")) + """
• `/xdesk agents`; """ + " and ".join(FORMS[k] for k in ("agent add", "agent remove")) + """
• `/xdesk hours`; """ + FORMS["hours"] + "; " + FORMS["holiday"] + """
• `/xdesk audit`: the last 20 changes; `/xdesk config`: the desk as settings.toml text, to commit back
• `/xdesk erase HANDLE`: erase everything stored about an X user (asks to confirm)
The same changes can be made by clicking, in xdesk's App Home."""
LISTS = ("keywords", "hashtags", "languages")
CHANNEL = re.compile(r"^<#([CG][A-Z0-9]{2,})(?:\|[^>]*)?>$|^([CG][A-Z0-9]{2,})$")
USER = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
CONFLICT_TRIES = 3


@dataclass(frozen=True)
class Answer:
    text: str  # what the admin is shown
    changed: bool = False  # the desk changed (or had, for a repeated delivery)


class Usage(Exception):
    """The command is not in its correct form; the message is that form."""


@dataclass(frozen=True)
class Change:
    """What a command does to the overlay, and how it is told."""

    overlay: Overlay
    answer: str  # to the admin
    what: str  # for the audit log and channel
    touches: Callable[[Overlay], Any]  # the part of an overlay it changed: a conflict there refuses it


def channel_of(token: str) -> str | None:
    match = CHANNEL.match(token)
    return (match[1] or match[2]) if match else None


def user_of(token: str) -> str | None:
    match = USER.match(token)
    return (match[1] or match[2]) if match else None


class DeskAdmin:
    def __init__(self, live: LiveSettings, config: DeskConfig, roles: Roles, slack: SlackPort,
                 clock: Callable[[], float]) -> None:
        self.live = live
        self.config = config
        self.roles = roles
        self.slack = slack
        self.clock = clock
        self.erasures = EraseRequests(roles, config.store, clock)  # /xdesk erase

    # -- reading -----------------------------------------------------------------------------------

    def topics(self) -> str:
        settings, overlay = self.live.now, self.live.overlay
        if not settings.topics:
            return (f"No topics: every case goes to <#{settings.slack.default_channel}>. "
                    f"Add one with {FORMS['topic add']}.")
        lines = ["*Topics*, in routing order (the first that matches a tweet wins):"]
        for i, topic in enumerate(settings.topics, 1):
            lines.append(f"{i}. *{escape_mrkdwn(topic.name)}* → <#{topic.channel}>{_matching(topic)}"
                         f" _({dc.where_set(overlay, topic)})_")
        lines.append(f"No match: <#{settings.slack.default_channel}>.")
        return "\n".join(lines)

    def agents(self) -> str:
        settings = self.live.now
        if not settings.slack.agents:
            head = "Anyone in the workspace may claim and reply (`[slack] agents` is empty)."
        else:
            head = "*Agents* (may claim and reply):\n" + "\n".join(
                f"• <@{a}>" if a.startswith(("U", "W")) else f"• <!subteam^{a}>" for a in settings.slack.agents)
        signatures = [f"• <@{user}>: `{escape_mrkdwn(section.signature)}`" if section.signature
                      else f"• <@{user}>: no signature" for user, section in settings.agents.items()]
        return head + ("\n*Signatures*:\n" + "\n".join(signatures) if signatures else "\nNo signatures set.")

    def hours(self) -> str:
        hours = self.live.now.hours
        if hours is None:
            return "No service hours: the desk is always open. Set a day with " + FORMS["hours"] + "."
        lines = [f"*Service hours* ({hours.timezone}):"]
        for day in DAYS:
            ranges = getattr(hours, day)
            lines.append(f"• {day.capitalize()}: {', '.join(ranges) if ranges else 'closed'}")
        lines.append("Holidays: " + (", ".join(d.isoformat() for d in hours.holidays) or "none"))
        return "\n".join(lines)

    def audit(self, user: str) -> str:
        if not self.roles.is_admin(user):
            return "Only admins may read the audit log."
        entries = self.config.audit(20)
        if not entries:
            return "No changes were made in Slack yet."
        return "*The last changes*, newest first:\n" + "\n".join(
            f"• {dc.stamp(e['at'])} <@{e['by']}>: {e['what']}" for e in entries)

    def config_text(self, user: str) -> str:
        if not self.roles.is_admin(user):
            return "Only admins may read the configuration."
        return "The desk's configuration now, as `settings.toml` (commit it to make it the base):\n```\n" + \
            as_toml(self.live.now, self.live.version) + "```"

    # -- changing ----------------------------------------------------------------------------------

    def command(self, user: str, verb: str, args: list[str], command_id: str) -> Answer:
        """Carry out a changing command (``command_id``: the same for a repeated delivery of it)."""
        if not self.roles.is_admin(user):
            log.info(kv("admin.refused", user=user, command=verb))
            return Answer(ONLY_ADMINS)
        if not self.live.changes_allowed:
            return Answer(OFF)
        if (earlier := self.config.answered(command_id)) is not None:
            return Answer(earlier, changed=True)  # Slack delivered it twice: done once, answered alike
        try:
            make = self._change_for(verb, args)
            return self._commit(user, command_id, make)
        except Usage as exc:
            return Answer(f"That is not a form I know. Use {exc}.")
        except Refused as exc:
            return Answer(f"Nothing changed: {exc}.")

    def _change_for(self, verb: str, args: list[str]) -> Callable[[Snapshot, Settings, str, float], Change]:
        sub = args[0] if args else ""
        key = f"{verb} {sub}" if verb in ("topic", "agent") else verb
        makers = {"topic add": self._topic_add, "topic set": self._topic_set, "topic remove": self._topic_remove,
                  "topic order": self._topic_order, "agent add": self._agent_add, "agent remove": self._agent_remove,
                  "hours": self._hours, "holiday": self._holiday}
        if key not in makers:
            raise Usage(FORMS.get(verb, " or ".join(f for k, f in FORMS.items() if k.startswith(verb))))
        rest = args[1:] if verb in ("topic", "agent") else args
        return lambda snap, current, by, at: makers[key](rest, snap.overlay, current, by, at)

    def _commit(self, user: str, command_id: str, make: Callable[[Snapshot, Settings, str, float], Change]) -> Answer:
        for _ in range(CONFLICT_TRIES):
            snap = self.config.snapshot()
            at = self.clock()
            change = make(snap, self._current(snap), user, at)
            dc.effective(self.live.base, change.overlay)  # the whole desk must still pass the file's rules
            jobs = self._audit_jobs(user, change.what, command_id)
            commit = self.config.commit(snap, change.overlay, command=command_id, by=user, what=change.what,
                                        answer=change.answer, at=at, jobs=jobs)
            if commit.outcome == "repeat":
                return Answer(commit.answer, changed=True)
            if commit.outcome == "done":
                log.info(kv("admin.changed", user=user, what=change.what, version=snap.version + 1))
                self.live.refresh()
                return Answer(change.answer, changed=True)
            latest = self.config.snapshot()
            if change.touches(latest.overlay) != change.touches(snap.overlay):
                # Another admin changed the same thing at the same moment: theirs stands whole.
                who = next(iter(self.config.audit(1)), {}).get("by", "")
                return Answer(f"Nothing changed: {f'<@{who}>' if who else 'another admin'} changed this at the "
                              "same moment, and their change stands. Look at it again and repeat yours if it is "
                              "still needed.")
        return Answer("Nothing changed: the desk was being changed by others at the same moment. Please try again.")

    def _current(self, snap: Snapshot) -> Settings:
        try:
            return dc.effective(self.live.base, snap.overlay)
        except Refused:
            return self.live.base  # as LiveSettings runs the desk then

    def _audit_jobs(self, user: str, what: str, command_id: str) -> list[tuple[str, dict]]:
        channel = self.live.base.slack.audit_channel
        if not channel:
            return []
        job_id = "audit:" + hashlib.sha256(command_id.encode()).hexdigest()[:24]
        return [(post_lane(channel), {"id": job_id, "kind": "audit", "channel": channel,
                                      "text": f"<@{user}> changed the desk: {what}"})]

    # -- the changes -------------------------------------------------------------------------------

    def _topic_add(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) < 2 or not (channel := channel_of(args[1])):
            raise Usage(FORMS["topic add"])
        fields = _fields(args[2:], FORMS["topic add"])
        topic = dc.topic_from({"name": unescape(args[0]), "channel": channel, **fields})
        self._member_of(channel)
        new = dc.add_topic(overlay, current, topic, by, at)
        place = len(current.topics) + 1
        return Change(new, f"Added topic *{escape_mrkdwn(topic.name)}* → <#{channel}>{_matching(topic)}, "
                           f"checked last (place {place}). New cases that match go there from now on.",
                      f"topic add {_describe(topic)}", _topic_part(topic.name))

    def _topic_set(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if not args:
            raise Usage(FORMS["topic set"])
        fields: dict[str, Any] = {}
        rest = args[1:]
        if rest and (channel := channel_of(rest[0])):
            fields["channel"], rest = channel, rest[1:]
        fields |= _fields(rest, FORMS["topic set"])
        if not fields:
            raise Usage(FORMS["topic set"])
        if "channel" in fields:
            self._member_of(fields["channel"])
        new, before, after = dc.set_topic(overlay, current, unescape(args[0]), fields, by, at)
        changed = ", ".join(f"{k}: {_show(getattr(before, k))} → {_show(getattr(after, k))}" for k in fields
                            if getattr(before, k) != getattr(after, k)) or "nothing differed"
        moved = " Its open cases stay where they are." if "channel" in fields and before.channel != after.channel \
            else ""
        return Change(new, f"Changed topic *{escape_mrkdwn(after.name)}*: {changed}.{moved}",
                      f"topic set {escape_mrkdwn(after.name)}: {changed}", _topic_part(after.name))

    def _topic_remove(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) != 1:
            raise Usage(FORMS["topic remove"])
        new, topic = dc.remove_topic(overlay, current, unescape(args[0]), by, at)
        return Change(new, f"Removed topic *{escape_mrkdwn(topic.name)}*: no new cases go to <#{topic.channel}> "
                           "by it; its open cases stay where they are.",
                      f"topic remove {escape_mrkdwn(topic.name)}", _topic_part(topic.name))

    def _topic_order(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) != 2 or not args[1].isdigit():
            raise Usage(FORMS["topic order"])
        new, names = dc.order_topic(overlay, current, unescape(args[0]), int(args[1]), by, at)
        order = ", ".join(f"{i}. {escape_mrkdwn(n)}" for i, n in enumerate(names, 1))
        return Change(new, f"Routing order now: {order}.", f"topic order {escape_mrkdwn(unescape(args[0]))} "
                      f"{args[1]} ({order})", lambda o: (o.order, o.topics.get(unescape(args[0]))))

    def _agent_add(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) < 1 or not (user := user_of(args[0])):
            raise Usage(FORMS["agent add"])
        signature = unescape(" ".join(args[1:]))
        new = dc.add_agent(overlay, user, signature, by, at)
        first = ""
        if not current.slack.agents:  # the desk let anyone act until now
            listed = ", ".join(f"<@{a}>" for a in dc.effective(self.live.base, new).slack.agents)
            first = f" Only the listed agents may claim and reply from now on: {listed}."
        return Change(new, f"<@{user}> is an agent, signing `{escape_mrkdwn(signature.strip())}`.{first}",
                      f"agent add <@{user}> `{escape_mrkdwn(signature.strip())}`", _agent_part(user))

    def _agent_remove(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) != 1 or not (user := user_of(args[0])):
            raise Usage(FORMS["agent remove"])
        if user not in current.slack.agents and user not in current.agents:
            raise Refused(f"<@{user}> is not an agent")
        new = dc.remove_agent(overlay, user, by, at)
        if not dc.effective(self.live.base, new).slack.agents:
            # An empty list means anyone may act: the opposite of what removing an agent asks for.
            raise Refused(f"<@{user}> is the last agent, and with none listed anyone may claim and reply; "
                          "add another agent first")
        claims = self._claims(user)
        held = ("Their open cases stay theirs until handed over (*Hand over…* on the case): "
                + ", ".join(claims) if claims else "They hold no open cases.")
        groups = [g for g in current.slack.agents if g.startswith("S")]
        via = f" (If they are in an agents' user group ({', '.join(groups)}), they still may through it.)" \
            if groups else ""
        return Change(new, f"<@{user}> is no longer an agent: they can't claim or reply from now on.{via} {held}",
                      f"agent remove <@{user}>", _agent_part(user))

    def _hours(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) < 2 or args[0].casefold() not in DAYS:
            raise Usage(FORMS["hours"])
        day, ranges = args[0].casefold(), dc.ranges_of(" ".join(args[1:]))
        shown = ", ".join(ranges) or "closed"
        return Change(dc.set_day(overlay, day, ranges, by, at), f"{day.capitalize()}: {shown}, from now on.",
                      f"hours {day} {shown}", lambda o: o.hours.days.get(day) if o.hours else None)

    def _holiday(self, args: list[str], overlay: Overlay, current: Settings, by: str, at: float) -> Change:
        if len(args) != 2 or args[0] not in ("add", "remove"):
            raise Usage(FORMS["holiday"])
        try:
            day = date.fromisoformat(args[1])
        except ValueError:
            raise Usage(FORMS["holiday"]) from None
        holidays = list(current.hours.holidays) if current.hours else []
        if args[0] == "add":
            holidays.append(day)
        elif day in holidays:
            holidays.remove(day)
        else:
            raise Refused(f"{day.isoformat()} is not a holiday")
        verb = "is a holiday now: the desk is closed that day" if args[0] == "add" else "is no holiday any more"
        return Change(dc.set_holidays(overlay, holidays, by, at), f"{day.isoformat()} {verb}.",
                      f"holiday {args[0]} {day.isoformat()}", lambda o: o.hours.holidays if o.hours else None)

    def _claims(self, user: str) -> list[str]:
        """Links to the open cases ``user`` holds, for an admin to hand over."""
        links = []
        for case in self.config.store.open_claims(user):
            where = f"case {case.id} in <#{case.channel}>"
            try:
                links.append(f"<{self.slack.permalink(case.channel, case.parent_ts)}|{where}>" if case.parent_ts
                             else where)
            except SlackError:
                links.append(where)
        return links

    def _member_of(self, channel: str) -> None:
        """The bot must hear claims and replies in a topic's channel: it joins, or says how to invite it."""
        if problem := self.slack.ensure_member(channel):
            raise Refused(problem)


def _fields(args: list[str], form: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for arg in args:
        name, eq, value = arg.partition("=")
        if not eq or name not in LISTS:
            raise Usage(form)
        fields[name] = [v.strip() for v in unescape(value).split(",") if v.strip()]
    return fields


def _matching(topic: Topic) -> str:
    parts = [f"{k}: {_show(getattr(topic, k))}" for k in LISTS if getattr(topic, k)]
    return f" ({'; '.join(parts)})" if parts else " (matches nothing yet)"


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(escape_mrkdwn(v) for v in value) or "none"
    return f"<#{value}>" if isinstance(value, str) and channel_of(value) else escape_mrkdwn(str(value))


def _describe(topic: Topic) -> str:
    return f"{escape_mrkdwn(topic.name)} <#{topic.channel}>{_matching(topic)}"


def _topic_part(name: str) -> Callable[[Overlay], Any]:
    return lambda o: o.topics.get(name)


def _agent_part(user: str) -> Callable[[Overlay], Any]:
    return lambda o: o.agents.get(user)


def as_toml(settings: Settings, version: int) -> str:
    """The settings as ``settings.toml`` text, read back to the same settings."""
    values = settings.model_dump(exclude_none=True)
    text = (f"# xdesk settings in force at version {version} of the changes made in Slack.\n"
            "# Used as settings.toml, they give the same desk.\n" + tomli_w.dumps(values))
    tomllib.loads(text)  # what it writes must read back: a bug here must not reach an admin's file
    return text
