"""The X adapter's direct-message half: read the brand's DM events, send a DM, find one already sent.

Beside :mod:`bridge.x.client`, whose session and errors it uses, and :mod:`bridge.x.wire`, whose checks
it uses: the field names of X's DM events live here. A DM is handed to the core as a
:class:`~bridge.core.models.Tweet` with ``direct=True`` (its id the DM event's id). https://docs.x.com/x-api/direct-messages/lookup/introduction
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.core.log import kv
from bridge.core.models import Tweet, TweetId, UserId
from bridge.x.client import RateBudget, XClient
from bridge.x.errors import XError
from bridge.x.wire import FIELDS, author_of, check_users, comparable, json_body, unusable

log = logging.getLogger(__name__)

# What the bridge asks for, in tweepy's spelling. DM events have no since_id; only messages matter.
DM_FIELDS: dict[str, Any] = {
    "dm_event_fields": ["id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id",
                        "participant_ids", "attachments"],
    "expansions": ["sender_id"], "user_fields": list(FIELDS["user.fields"]),
    "event_types": ["MessageCreate"], "max_results": 100,
}
LOOKUP_PAGES = 3  # of a conversation, when looking for a DM whose answer was lost


@dataclass(frozen=True)
class DmPage:
    """Direct messages of one page, newest first; ``next_token`` reads older ones."""

    messages: list[Tweet]
    next_token: str | None
    budget: RateBudget


class XDirect:
    """The brand account's direct messages, through an :class:`XClient`."""

    def __init__(self, x: XClient) -> None:
        self.x = x

    def events(self, token: str | None = None, participant: UserId | None = None) -> DmPage:
        """One page of the brand's DMs (or of its conversation with ``participant``), newest first."""
        endpoint = "GET /2/dm_conversations/with/:participant_id/dm_events" if participant else "GET /2/dm_events"
        response = self.x.call(endpoint, "get_direct_message_events", participant_id=participant,
                               pagination_token=token, user_auth=True, **DM_FIELDS)
        body = json_body(response, endpoint)
        return DmPage(_messages(endpoint, body), (body.get("meta") or {}).get("next_token"),
                      RateBudget.from_headers(response.headers))

    def budget(self, endpoint: str) -> RateBudget:
        return self.x.budget(endpoint)

    def send(self, participant: UserId, text: str) -> TweetId:
        """Send ``text`` to ``participant``; the new DM event's id."""
        endpoint = "POST /2/dm_conversations/with/:participant_id/messages"
        response = self.x.call(endpoint, "create_direct_message", participant_id=participant,
                               text=text, user_auth=True)
        data = json_body(response, endpoint).get("data") or {}
        if not isinstance(data.get("dm_event_id"), str):
            unusable(endpoint, {"data.dm_event_id"}, data)
        return TweetId(data["dm_event_id"])

    def find_sent(self, brand: UserId, participant: UserId, text: str, since: float) -> TweetId | None:
        """The brand's DM to ``participant`` with ``text`` sent after ``since`` (epoch seconds), if any.

        Like :meth:`XClient.find_reply` for tweets: X takes no idempotency key, so a send whose answer
        was lost is looked for here before it is sent again.
        """
        wanted, token = comparable(text), None
        for _ in range(LOOKUP_PAGES):
            page = self.events(token, participant=participant)
            for m in page.messages:
                if m.author.id == brand and comparable(m.text) == wanted and _after(m.created_at, since):
                    return m.id
            token = page.next_token
            if not token:
                return None
        raise XError("the bridge could not check on X whether this direct message was already sent; look at "
                     "the conversation on X before sending it again")


def _messages(endpoint: str, body: dict[str, Any]) -> list[Tweet]:
    """The ``MessageCreate`` events of a page as Tweets with ``direct=True``, newest first."""
    data = [raw for raw in body.get("data") or [] if raw.get("event_type") == "MessageCreate"]
    users = {u.get("id"): u for u in (body.get("includes") or {}).get("users") or []}
    missing = {f"data[].{k}" for raw in data for k in ("id", "text", "sender_id", "dm_conversation_id") if k not in raw}
    if missing or (data and not users):
        unusable(endpoint, missing or {"includes.users"}, data[0])
    check_users(endpoint, list(users.values()))
    messages = []
    for raw in data:
        if raw["sender_id"] not in users:  # X sends every sender unless the account is gone
            log.warning(kv("x.dm_skipped", endpoint=endpoint, dm=raw["id"], reason="sender not included"))
            continue
        messages.append(Tweet(id=TweetId(raw["id"]), text=raw["text"], author=author_of(users[raw["sender_id"]]),
                              conversation_id=TweetId(raw["dm_conversation_id"]), created_at=raw.get("created_at"),
                              direct=True))
    return messages


def _after(created_at: str | None, since: float) -> bool:
    if not created_at:
        return True  # X did not say when: the text alone decides
    return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp() >= since
