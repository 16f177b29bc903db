"""Direct messages in the X emulator: a customer writes to the brand, the brand answers.

Serves ``GET /2/dm_events``, ``GET /2/dm_conversations/with/:participant_id/dm_events`` and
``POST /2/dm_conversations/with/:participant_id/messages`` as the OpenAPI document 2.162 shapes them
(``Get2DmEventsResponse``, ``CreateDmEventResponse``). Only ``MessageCreate`` events exist here. Events
come newest first with a base32 ``pagination_token``; there is no ``since_id``. As on X, the brand may
message only someone who already wrote to it (https://docs.x.com/x-api/direct-messages/manage/introduction).

    x.dms.send("my customer number is 123", author="kunde_klaus")
    [sent] = x.dms.wait_for_sent(1)
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.sandbox.x import wire as wire
from bridge.sandbox.x.store import now_iso
from bridge.sandbox.x.wire import Reply, check_id, invalid_request, problem

if TYPE_CHECKING:
    from bridge.sandbox.x.server import XEmulator

DM_EVENT_FIELDS = frozenset(("attachments", "created_at", "dm_conversation_id", "entities", "event_type", "id",
                             "participant_ids", "referenced_tweets", "sender_id", "text"))
DM_EXPANSIONS = frozenset(("attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"))
EVENT_TYPES = frozenset(("MessageCreate", "ParticipantsJoin", "ParticipantsLeave"))
DEFAULT_FIELDS = ("id", "event_type", "text")  # what X sends without dm_event.fields
MAX_TEXT = 10_000  # characters of one message
_PARAMS = ("max_results", "pagination_token", "event_types", "dm_event.fields", "expansions", "media.fields",
           "user.fields", "tweet.fields")


@dataclass
class StoredDm:
    id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: str

    @property
    def conversation_id(self) -> str:
        """A one-to-one conversation is named by both user ids, the smaller first."""
        return "-".join(sorted((self.sender_id, self.recipient_id), key=int))


class DmBox:
    """The brand's direct messages. Uses the emulator's lock and world (users, ids)."""

    def __init__(self, emulator: XEmulator) -> None:
        self.x = emulator
        self.events: list[StoredDm] = []

    def send(self, text: str, author: str) -> str:
        """``author`` (a username; unknown users are created) writes ``text`` to the brand."""
        with self.x._cond:
            world = self.x._world
            user = world.user_by_name(author) or world.users[world.add_user(author, None, 0, None)]
            event = StoredDm(world.next_id(), user.id, self.x.brand_id, text, now_iso())
            self.events.append(event)
            self.x._cond.notify_all()
            return event.id

    @property
    def sent(self) -> list[dict[str, str]]:
        """What the brand sent, oldest first: id, text, to (the recipient's username)."""
        with self.x._cond:
            users = self.x._world.users
            return [{"id": e.id, "text": e.text, "to": users[e.recipient_id].username}
                    for e in self.events if e.sender_id == self.x.brand_id]

    def wait_for_sent(self, n: int, timeout: float = 10) -> list[dict[str, str]]:
        self.x.wait_for(lambda: len(self.sent) >= n, timeout)
        return self.sent

    def control(self, method: str, body: bytes) -> Reply:
        """``/_emulator/dms``, not X: POST ``{"text", "author"}`` writes to the brand; GET lists what it sent."""
        if method == "POST":
            p = json.loads(body)
            return Reply(201, {"id": self.send(p["text"], p.get("author", "customer"))})
        return Reply(200, {"sent": self.sent})

    # -- endpoints ---------------------------------------------------------------------------

    def list_events(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        q = _parse(query)
        with self.x._cond:
            return Reply(200, self._page([e for e in self.events if q["types"] & {"MessageCreate"}], q))

    def conversation_events(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        peer = check_id("participant_id", args[0])
        q = _parse(query)
        with self.x._cond:
            if peer not in self.x._world.users:
                raise invalid_request([("participant_id", peer, f"Could not find user with id: [{peer}].")])
            mine = [e for e in self.events if {e.sender_id, e.recipient_id} == {peer, self.x.brand_id}]
            return Reply(200, self._page([e for e in mine if q["types"] & {"MessageCreate"}], q))

    def create_message(self, args: tuple[str, ...], query: dict[str, str], body: bytes) -> Reply:
        peer = check_id("participant_id", args[0])
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text:
            raise invalid_request([("text", str(text), "The `text` field must be a non-empty string")])
        if len(text) > MAX_TEXT:
            raise problem(400, f"Text of a direct message must be at most {MAX_TEXT} characters")
        with self.x._cond:
            brand = self.x.brand_id
            if peer == brand:
                raise problem(403, "You cannot send a Direct Message to yourself.")
            if peer not in self.x._world.users:
                raise invalid_request([("participant_id", peer, f"Could not find user with id: [{peer}].")])
            if not any(e.sender_id == peer and e.recipient_id == brand for e in self.events):
                raise problem(403, "You cannot send messages to this user.")
            event = StoredDm(self.x._world.next_id(), brand, peer, text, now_iso())
            self.events.append(event)
            self.x._cond.notify_all()
        return Reply(201, {"data": {"dm_conversation_id": event.conversation_id, "dm_event_id": event.id}})

    # -- rendering ---------------------------------------------------------------------------

    def _page(self, events: list[StoredDm], q: dict[str, Any]) -> dict[str, Any]:
        found = sorted((e for e in events if q["cursor"] is None or int(e.id) < q["cursor"]),
                       key=lambda e: int(e.id), reverse=True)
        page = found[: q["max_results"]]
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._render(e, q["fields"]) for e in page]
        if page and "sender_id" in q["expansions"]:
            users = self.x._world.users
            senders = dict.fromkeys(e.sender_id for e in page)
            uq = wire.Query(set(), q["user_fields"], set(), set())
            body["includes"] = {"users": [self.x._world.render_user(users[u], uq) for u in senders]}
        meta: dict[str, Any] = {"result_count": len(page)}
        if len(found) > len(page):
            meta["next_token"] = _token(page[-1].id)
        body["meta"] = meta
        return body

    @staticmethod
    def _render(e: StoredDm, fields: set[str]) -> dict[str, Any]:
        values = {"id": e.id, "event_type": "MessageCreate", "text": e.text, "sender_id": e.sender_id,
                  "dm_conversation_id": e.conversation_id, "created_at": e.created_at}
        return {k: v for k, v in values.items() if k in fields or k in DEFAULT_FIELDS}


DM_ROUTES = [  # (method, path, rate-limit key, handler) as in x_server's routes
    ("GET", re.compile(r"^/2/dm_events$"), "GET /2/dm_events", lambda x, *a: x.dms.list_events(*a)),
    ("GET", re.compile(r"^/2/dm_conversations/with/([^/]+)/dm_events$"),
     "GET /2/dm_conversations/with/:participant_id/dm_events", lambda x, *a: x.dms.conversation_events(*a)),
    ("POST", re.compile(r"^/2/dm_conversations/with/([^/]+)/messages$"),
     "POST /2/dm_conversations/with/:participant_id/messages", lambda x, *a: x.dms.create_message(*a)),
]


def _token(oldest_id: str) -> str:
    """X's DM tokens are base32 (PaginationToken32, at least 16 characters): resume below ``oldest_id``."""
    return base64.b32encode(oldest_id.rjust(10, "0").encode()).decode().rstrip("=")


def _parse(query: dict[str, str]) -> dict[str, Any]:
    """The query of a DM events request, validated the way X does: one 400 listing every problem."""
    errors = [(n, v, f"The query parameter [{n}] is not one of [{','.join(sorted(_PARAMS))}]")
              for n, v in query.items() if n not in _PARAMS]
    lists: dict[str, set[str]] = {}
    for name, names in (("dm_event.fields", DM_EVENT_FIELDS), ("expansions", DM_EXPANSIONS),
                        ("event_types", EVENT_TYPES), ("user.fields", wire.USER_FIELDS),
                        ("media.fields", wire.MEDIA_FIELDS), ("tweet.fields", wire.TWEET_FIELDS)):
        lists[name] = set(filter(None, query.get(name, "").split(",")))
        errors += [(name, v, f"The `{name}` query parameter value [{v}] is not one of "
                             f"[{','.join(sorted(names))}]") for v in sorted(lists[name] - names)]
    max_results = query.get("max_results", "100")
    if not (max_results.isdigit() and 1 <= int(max_results) <= 100):
        errors.append(("max_results", max_results, f"The `max_results` query parameter value [{max_results}] "
                                                   "is not between 1 and 100"))
    cursor = None
    if "pagination_token" in query:
        token = query["pagination_token"]
        try:
            cursor = int(base64.b32decode(token + "=" * (-len(token) % 8)).decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            errors.append(("pagination_token", token, f"The `pagination_token` query parameter value [{token}] "
                                                      "is not valid"))
    if errors:
        raise invalid_request(errors)
    return {"fields": lists["dm_event.fields"], "expansions": lists["expansions"],
            "types": lists["event_types"] or set(EVENT_TYPES), "user_fields": lists["user.fields"],
            "max_results": int(max_results), "cursor": cursor}
