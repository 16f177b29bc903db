"""The door of ``POST /slack/events``: every request is checked here before Bolt or Redis sees it.

In this order, the cheapest first and nothing parsed before it is known who sent it: the signature
(with a strict timestamp: whole seconds, within five minutes,
https://docs.slack.dev/authentication/verifying-requests-from-slack), then the body parsed under a
depth limit, then its shape (typed models of what the app acts on), then whether it comes from this
installation's team and app. A request that fails is answered with a 4xx (or, for a signed event of a
shape the app does not act on, acknowledged so that Slack does not retry it) and one short log line
naming the cause; never a 5xx, never a traceback, never the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.core.log import kv

log = logging.getLogger(__name__)

MAX_SKEW = 300  # seconds, as Slack's own SDKs allow
MAX_DEPTH = 32  # Slack's payloads nest a dozen levels at most
LOG_EVERY = 10.0  # seconds: one line per cause, with the count of the ones not logged
TS = r"^\d{1,12}\.\d{1,9}$"  # a Slack message ts: "1700000000.000100"


@dataclass(frozen=True)
class Refusal:
    status: int  # 4xx; 200 for a signed event acknowledged but not acted on
    cause: str  # a short name, for the log and the count
    detail: str  # why, in words; never the payload


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class MessageEvent(_Shape):
    channel: str | None = None
    ts: str | None = Field(None, pattern=TS)
    thread_ts: str | None = Field(None, pattern=TS)
    user: str | None = None
    text: str | None = None


class ReactionItem(_Shape):
    type: str
    channel: str | None = None
    ts: str | None = Field(None, pattern=TS)


class ReactionEvent(_Shape):
    user: str | None = None
    reaction: str | None = None
    item: ReactionItem | None = None


class AppHomeOpened(_Shape):
    user: str
    tab: str = "home"


class Event(_Shape):
    type: str


class EventCallback(_Shape):
    type: str
    event_id: str
    team_id: str
    api_app_id: str
    event: Event


class SlashCommand(_Shape):
    command: str
    user_id: str
    team_id: str
    text: str = ""


class User(_Shape):
    id: str


class Action(_Shape):
    action_id: str
    value: str | None = None


class ViewState(_Shape):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class View(_Shape):
    id: str | None = None
    callback_id: str = ""
    private_metadata: str = ""
    state: ViewState = ViewState()


class Interaction(_Shape):
    type: str
    user: User


class BlockActions(Interaction):
    actions: list[Action] = Field(min_length=1)
    trigger_id: str | None = None


class ViewSubmission(Interaction):
    view: View


class MessageShortcut(Interaction):
    callback_id: str
    message: dict[str, Any] = {}
    channel: dict[str, Any] = {}


# The interactions the app acts on, by type, and what their listeners read (handlers/).
INTERACTION_SHAPES: dict[str, type[Interaction]] = {
    "block_actions": BlockActions, "view_submission": ViewSubmission, "message_action": MessageShortcut,
}


EVENT_SHAPES: dict[str, type[_Shape]] = {
    "message": MessageEvent, "reaction_added": ReactionEvent, "reaction_removed": ReactionEvent,
    "app_home_opened": AppHomeOpened,
}


class Refusals:
    """One log line per cause per :data:`LOG_EVERY` seconds, with how many were not logged: a flood of
    bad requests must not become a flood of log."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def log(self, refusal: Refusal, length: int) -> None:
        with self._lock:
            now = self.now()
            if now - self._last.get(refusal.cause, -LOG_EVERY) < LOG_EVERY:
                self._quiet[refusal.cause] = self._quiet.get(refusal.cause, 0) + 1
                return
            self._last[refusal.cause] = now
            more = self._quiet.pop(refusal.cause, 0)
        log.warning(kv("web.refused", status=refusal.status, cause=refusal.cause, why=refusal.detail,
                       length=length, **({"also_refused": more} if more else {})))


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        todo += [(child, depth + 1) for child in children if isinstance(child, dict | list)]
    return deepest


def _json(text: str, what: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:  # json.loads recurses once per level of nesting
        raise ValueError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON ({exc.msg} at {exc.pos})") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"{what} nests deeper than {MAX_DEPTH} levels")
    return value


def _field(exc: ValidationError, prefix: str) -> str:
    err = exc.errors()[0]
    return f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


class Door:
    def __init__(self, signing_secret: str, installation: Callable[[], tuple[str | None, str | None]],
                 now: Callable[[], float] = time.time, rate_limited: Callable[[], object] = lambda: None) -> None:
        self.secret = signing_secret.encode()
        self.installation = installation  # (team_id, api_app_id) of this app, from Slack
        self.now = now
        self.refusals = Refusals()
        self.rate_limited = rate_limited  # counts Slack's app_rate_limited (xdesk_slack_app_rate_limited_total)

    def check(self, headers: dict[str, list[str]], body: bytes) -> Refusal | None:
        """None when the request may go on to Bolt; else what to answer, and why."""
        refusal = self._signed(headers, body) or self._content(headers, body)
        if refusal is not None:
            self.refusals.log(refusal, len(body))
        return refusal

    def _signed(self, headers: dict[str, list[str]], body: bytes) -> Refusal | None:
        stamp = (headers.get("x-slack-request-timestamp") or [""])[0]
        signature = (headers.get("x-slack-signature") or [""])[0]
        if not stamp or not signature:
            return Refusal(401, "unsigned", "no X-Slack-Signature and X-Slack-Request-Timestamp")
        if not re.fullmatch(r"\d{1,12}", stamp):
            return Refusal(401, "bad_timestamp", "X-Slack-Request-Timestamp is not whole seconds")
        skew = self.now() - int(stamp)
        if abs(skew) > MAX_SKEW:
            return Refusal(401, "stale", f"the request's time is {skew:+.0f} s from this machine's clock "
                           "(an old request replayed, or a clock that is off)")
        expected = "v0=" + hmac.new(self.secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace")):
            return Refusal(401, "bad_signature", "the signature does not match (is SLACK_SIGNING_SECRET the app's?)")
        return None

    def _content(self, headers: dict[str, list[str]], body: bytes) -> Refusal | None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Refusal(400, "bad_body", "the body is not UTF-8")
        kind = (headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
        try:
            if kind == "application/json":
                return self._event(_json(text, "the body"))
            if kind == "application/x-www-form-urlencoded":
                form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
                if "payload" in form:
                    return self._interaction(_json(form["payload"], "payload"))
                return self._command(form)
        except ValueError as exc:
            return Refusal(400, "bad_body", str(exc))
        return Refusal(415, "bad_type", f"Content-Type {kind[:40]!r} is neither JSON nor a form")

    def _event(self, body: Any) -> Refusal | None:
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return Refusal(400, "bad_shape", "the body is not an object with a type")
        if body["type"] == "url_verification":
            return None if isinstance(body.get("challenge"), str) else Refusal(400, "bad_shape", "challenge: missing")
        if body["type"] == "app_rate_limited":
            # Slack stops sending events for the rest of the minute: the operator must know.
            self.rate_limited()
            log.warning(kv("slack.app_rate_limited", minute=body.get("minute_rate_limited"),
                           action="over 30,000 events an hour: Slack drops events until the next minute"))
            return Refusal(200, "app_rate_limited", "acknowledged")
        if body["type"] != "event_callback":
            return Refusal(200, "unknown_type", "an envelope type the app does not act on; acknowledged")
        try:
            callback = EventCallback.model_validate(body)
        except ValidationError as exc:
            return Refusal(400, "bad_shape", _field(exc, ""))
        shape = EVENT_SHAPES.get(callback.event.type)
        if shape is not None:
            try:
                shape.model_validate(body["event"])
            except ValidationError as exc:  # signed, but not of a shape the app acts on: no retry wanted
                return Refusal(200, "odd_event", _field(exc, "event."))
        return self._who(callback.team_id, callback.api_app_id)

    def _command(self, form: dict[str, str]) -> Refusal | None:
        try:
            command = SlashCommand.model_validate(form)
        except ValidationError as exc:
            return Refusal(400, "bad_shape", _field(exc, ""))
        return self._who(command.team_id, form.get("api_app_id"))

    def _interaction(self, payload: Any) -> Refusal | None:
        if not isinstance(payload, dict):
            return Refusal(400, "bad_shape", "payload: not an object")
        shape = INTERACTION_SHAPES.get(str(payload.get("type")), Interaction)
        try:
            shape.model_validate(payload)
        except ValidationError as exc:
            return Refusal(400, "bad_shape", _field(exc, "payload."))
        team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
        return self._who(team.get("id"), payload.get("api_app_id"))

    def _who(self, team: str | None, app: str | None) -> Refusal | None:
        ours_team, ours_app = self.installation()
        if ours_team and team and team != ours_team:
            return Refusal(403, "other_team", f"team_id {team[:20]} is not this installation's")
        if ours_app and app and app != ours_app:
            return Refusal(403, "other_app", f"api_app_id {app[:20]} is not this app's")
        return None
