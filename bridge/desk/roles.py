"""Who may act: agents and admins, from settings and Slack (user groups, workspace admins)."""

from __future__ import annotations

import logging

import redis

from bridge.core.log import kv
from bridge.core.rules import is_agent
from bridge.core.settings import Settings
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.keys import Keys

log = logging.getLogger(__name__)

ROLE_CACHE_TTL = 300  # seconds a Slack look-up (group members, workspace admin) is trusted


class Roles:
    """Who is an agent and who is an admin, with Slack look-ups cached in Redis for a few minutes."""

    def __init__(self, settings: Settings, slack: SlackPort, r: redis.Redis, prefix: str) -> None:
        self.settings = settings
        self.slack = slack
        self.r = r
        self.keys = Keys(prefix)

    def is_agent(self, user: str) -> bool:
        groups = [g for g in self.settings.slack.agents if g.startswith("S")]
        member_of = [g for g in groups if user in self._members(g)]
        return is_agent(user, member_of, self.settings)

    def is_admin(self, user: str) -> bool:
        if user in self.settings.slack.admins:
            return True
        key = self.keys.role("wsadmin", user)
        cached = self.r.get(key)
        if cached is None:
            try:
                cached = "1" if self.slack.is_workspace_admin(user) else "0"
            except SlackError as exc:
                log.warning(kv("slack.users_info_failed", user=user, error=exc.error))
                return False
            self.r.set(key, cached, ex=ROLE_CACHE_TTL)
        return cached == "1"

    def _members(self, group: str) -> set[str]:
        key = self.keys.role("group", group)
        if not self.r.exists(key):
            try:
                members = self.slack.group_members(group)
            except SlackError as exc:
                log.warning(kv("slack.usergroup_failed", group=group, error=exc.error))
                return set()
            with self.r.pipeline() as pipe:
                pipe.delete(key)
                pipe.sadd(key, "", *members)  # "" marks a group looked up, even an empty one
                pipe.expire(key, ROLE_CACHE_TTL)
                pipe.execute()
        return set(self.r.smembers(key)) - {""}
