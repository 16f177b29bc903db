"""Which case a Slack message belongs to: a parent, even one the worker has not recorded yet."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.core.log import kv
from bridge.core.models import Case, CaseId, ChannelId, SlackTs
from bridge.slack.client import SlackError
from bridge.slack.port import SlackPort
from bridge.storage.store import Store

log = logging.getLogger(__name__)

NOT_A_CASE_TTL = 600  # a message known not to be a parent is not looked up again for ten minutes


class Parents:
    def __init__(self, store: Store, slack: SlackPort, channels: Callable[[], set[str]]) -> None:
        self.store = store
        self.slack = slack
        self.channels = channels  # the desk's channels now: a message elsewhere is never a new case's parent

    def case_at(self, channel: str, ts: str) -> Case | None:
        """The case whose parent is at ``ts``, even if the worker has not recorded the parent yet.

        A worker can die between posting a parent and recording its ts, and Slack can deliver an
        agent's reaction before the worker's record lands. The parent carries its case id in its
        message metadata, so ask Slack, and record what it says (a known non-case is remembered).
        """
        case = self.store.case_by_parent(channel, ts)
        if case is not None or channel not in self.channels():
            return case
        negative = self.store.keys.not_case(channel, ts)
        if self.store.r.exists(negative):
            return None
        try:
            case_id = self.slack.case_of_message(channel, ts)
        except SlackError as exc:
            log.warning(kv("slack.parent_lookup_failed", channel=channel, ts=ts, error=exc.error))
            raise
        case = self.store.case(CaseId(case_id)) if case_id else None
        if case is None:
            self.store.r.set(negative, 1, ex=NOT_A_CASE_TTL)
            return None
        if not case.parent_ts:
            self.store.set_parent(case.id, ChannelId(channel), SlackTs(ts))
            log.info(kv("case.parent_recorded_from_slack", case=case.id, channel=channel, ts=ts))
        return self.store.case_by_parent(channel, ts)
