"""The desk at a glance: what the App Home and ``/xdesk stats`` show (SPEC "The desk at a glance").

For everyone: their open cases and how long each customer has waited, the unclaimed cases (how many,
the oldest's age, links), and the figures of the day. Admins also see the figures per agent and per
topic, X's budget left, this month's X cost and the brand's followers. Customers appear as their case
and channel only: nothing of theirs beyond what the channel shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bridge.core.chart import duration
from bridge.core.settings import Settings
from bridge.desk.roles import Roles
from bridge.effects.case_history import CaseHistory
from bridge.effects.digest import period_text
from bridge.slack.port import SlackPort
from bridge.storage.figures import Figures
from bridge.storage.store import Store

PERIODS = {"today": "Today", "yesterday": "Yesterday", "week": "The last 7 days", "month": "The last 30 days"}
LISTED = 10  # cases listed in a section; the count says how many more


class Glance:
    def __init__(self, store: Store, settings: Settings, roles: Roles, slack: SlackPort,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.settings = settings
        self.roles = roles
        self.history = CaseHistory(store, slack)  # the cases' links, asked of Slack once each
        self.figures = Figures(store.r, store.keys, lambda: settings, clock)
        self.clock = clock

    def _case_line(self, case: Any, waited_from: float | None) -> str:
        link = self.history.permalink(case)
        label = f"<{link}|Case {case.id}>" if link else f"Case {case.id}"
        waited = f", waiting {duration(self.clock() - waited_from)}" if waited_from else ", answered"
        return f"• {label} in <#{case.channel}>{waited}"

    def mine(self, user: str) -> str:
        cases = self.store.open_claims(user)
        if not cases:
            return "*Your open cases*: none."
        lines = [self._case_line(c, float(c.extra.get("waiting_since") or 0) or None) for c in cases[:LISTED]]
        more = f"\n…and {len(cases) - LISTED} more" if len(cases) > LISTED else ""
        return f"*Your open cases* ({len(cases)}):\n" + "\n".join(lines) + more

    def unclaimed(self) -> str:
        count, oldest = self.store.unclaimed(LISTED)
        if not count:
            return "*Unclaimed*: none. Every customer has an agent."
        lines = [self._case_line(case, since) for case, since in oldest]
        return (f"*Unclaimed*: {count}, the oldest waiting {duration(self.clock() - oldest[0][1])}:\n"
                + "\n".join(lines))

    def figures_text(self, which: str, admin: bool) -> str:
        period = self.figures.period(self.figures.days(which))
        return period_text(PERIODS[which], period, self.settings.sla.first_response, per_person=admin)

    def x_and_followers(self) -> str:
        month = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m")
        limits = self.figures.x_limits()
        budget = ", ".join(f"{endpoint}: {left} left" for endpoint, left in sorted(limits.items())
                           if endpoint.startswith(("GET /2/users/:id/mentions", "POST /2/tweets"))) or "not read yet"
        count, change = self.figures.followers()
        followers = "not sampled yet" if count is None else f"{count:,}" + (" (" + ", ".join(
            f"{n:+,} in {days} day{'s' if days > 1 else ''}" for days, n in sorted(change.items())) + ")"
            if change else "")
        return (f"*X*: this month's estimated cost ${self.figures.x_cost_month(month):,.2f}; budget {budget}.\n"
                f"*Followers* of the brand: {followers}.")

    def home_blocks(self, user: str) -> list[dict[str, Any]]:
        admin = self.roles.is_admin(user)
        texts = [self.mine(user), self.unclaimed(), self.figures_text("today", admin)]
        if admin:
            texts.append(self.x_and_followers())
        return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}} for text in texts]

    def stats(self, user: str, which: str) -> str:
        if which not in ("today", "week", "month"):
            return "Use `/xdesk stats`, `/xdesk stats week` or `/xdesk stats month`."
        admin = self.roles.is_admin(user)
        parts = [self.figures_text(which, admin), self.unclaimed()]
        if admin:
            parts.append(self.x_and_followers())
        return "\n".join(parts)
