"""Modals in the Slack emulator: trigger ids, ``views.open`` / ``views.update``, and what users do in them.

Shapes follow https://docs.slack.dev/reference/methods/views.open, .../views.update,
https://docs.slack.dev/reference/views (the view object), and the interaction payloads
https://docs.slack.dev/reference/interaction-payloads/shortcuts-interaction-payload (``message_action``),
.../block_actions-payload and .../view-interactions-payload (``view_submission``). A trigger_id is
good for one ``views.open`` within 3 seconds of the interaction that issued it
(https://docs.slack.dev/interactivity/handling-user-interaction#modal_responses).

Values a user enters survive a ``views.update`` when the block keeps its ``block_id`` and
``action_id``; a block with a new ``block_id`` starts from its ``initial_value``, as in Slack's clients.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from bridge.sandbox.slack.delivery import Deliverer
from bridge.sandbox.slack.errors import ApiError
from bridge.sandbox.slack.socket import new_trigger_id

if TYPE_CHECKING:
    from bridge.sandbox.slack.store import Workspace

TRIGGER_TTL = 3.0
MAX_VIEW_BLOCKS = 100
MAX_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75

Params = dict[str, Any]
Result = tuple[dict[str, Any], list[dict[str, Any]]]


def _invalid(problem: str, pointer: str) -> ApiError:
    text = f"{problem} [json-pointer:{pointer}]"
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {text}"]})


def _view_arg(params: Params, kind: str = "modal") -> dict[str, Any]:
    view = params.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except json.JSONDecodeError:
            raise ApiError("invalid_arguments") from None
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments")
    if view.get("type") != kind:
        raise _invalid("must be a valid enum value", "/view/type")
    title = view.get("title") or {}
    if kind == "modal" and (title.get("type") != "plain_text" or not 0 < len(str(title.get("text", ""))) <= MAX_TITLE):
        raise _invalid(f"must be less than {MAX_TITLE + 1} characters", "/view/title/text")
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        raise _invalid(f"must be less than {MAX_PRIVATE_METADATA + 1} characters", "/view/private_metadata")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
        raise _invalid(f"no more than {MAX_VIEW_BLOCKS} items allowed", "/view/blocks")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        block_id = block.get("block_id")
        if block_id is not None and block_id in seen:
            raise _invalid("duplicate block_id", f"/view/blocks/{i}/block_id")
        seen.add(block_id)
        if block.get("type") == "input" and not view.get("submit"):
            raise _invalid("submit is required when an input block is present", "/view/submit")
        options = (block.get("element") or block.get("accessory") or {}).get("options")
        if options is not None and not 0 < len(options) <= MAX_OPTIONS:
            raise _invalid(f"no more than {MAX_OPTIONS} items allowed", f"/view/blocks/{i}/element/options")
        for j, option in enumerate(options or []):
            if len(str(option.get("text", {}).get("text", ""))) > MAX_OPTION_TEXT:
                raise _invalid(f"must be less than {MAX_OPTION_TEXT + 1} characters",
                               f"/view/blocks/{i}/element/options/{j}/text/text")
    return view


def _initial_state(block: dict[str, Any]) -> dict[str, Any] | None:
    """The state entry of an input element before the user touches it (what view_submission shows)."""
    element = block.get("element") if block.get("type") == "input" else None
    if not element or not element.get("action_id"):
        return None
    if element.get("type") == "plain_text_input":
        return {"type": "plain_text_input", "value": element.get("initial_value")}
    if element.get("type") == "static_select":
        return {"type": "static_select", "selected_option": element.get("initial_option")}
    if element.get("type") == "conversations_select":
        return {"type": "conversations_select", "selected_conversation": element.get("initial_conversation")}
    if element.get("type") == "users_select":
        return {"type": "users_select", "selected_user": element.get("initial_user")}
    return {"type": element.get("type")}


class Views:
    """The workspace's modals: who has which open, their state, and the triggers handed out."""

    def __init__(self) -> None:
        self.triggers: dict[str, tuple[str, float]] = {}  # trigger_id -> (user, issued at)
        self.exchanged: set[str] = set()
        self.views: dict[str, dict[str, Any]] = {}
        self.stacks: dict[str, list[str]] = {}  # user -> view ids, top last
        self.errors: dict[str, dict[str, str]] = {}  # view id -> the last response_action errors
        self.homes: dict[str, dict[str, Any]] = {}  # user -> the App Home view the app published for them

    def issue_trigger(self, user: str) -> str:
        trigger = new_trigger_id()
        self.triggers[trigger] = (user, time.monotonic())
        return trigger

    def _exchange(self, trigger: Any) -> str:
        if trigger in self.exchanged:
            raise ApiError("exchanged_trigger_id")
        if trigger not in self.triggers:
            raise ApiError("invalid_trigger_id")
        user, issued = self.triggers.pop(trigger)
        if time.monotonic() - issued > TRIGGER_TTL:
            raise ApiError("expired_trigger_id")
        self.exchanged.add(trigger)
        return user

    def _state(self, blocks: list[dict[str, Any]], before: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for block in blocks:
            initial = _initial_state(block)
            if initial is None:
                continue
            action_id = block["element"]["action_id"]
            kept = before.get(block.get("block_id"), {}).get(action_id)
            values[block["block_id"]] = {action_id: kept or initial}
        return values

    def _store(self, ws: Workspace, spec: dict[str, Any], view_id: str, before: dict[str, Any] | None = None,
               root: str | None = None) -> dict[str, Any]:
        blocks = copy.deepcopy(spec["blocks"])
        for block in blocks:
            block.setdefault("block_id", "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5)))
        view = {
            "id": view_id,
            "team_id": ws.team_id,
            "type": "modal",
            "blocks": blocks,
            "private_metadata": str(spec.get("private_metadata", "")),
            "callback_id": str(spec.get("callback_id", "")),
            "state": {"values": self._state(blocks, (before or {}).get("state", {}).get("values", {}))},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": spec["title"],
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "previous_view_id": None,
            "root_view_id": root or view_id,
            "app_id": ws.app_id,
            "external_id": str(spec.get("external_id", "")),
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }
        self.views[view_id] = view
        self.errors.pop(view_id, None)
        return view

    def open(self, ws: Workspace, params: Params) -> Result:
        spec = _view_arg(params)
        user = self._exchange(params.get("trigger_id"))
        view_id = "V" + "".join(secrets.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10))
        self._store(ws, spec, view_id)
        self.stacks.setdefault(user, []).append(view_id)
        return {"view": self.shown(view_id)}, []

    def update(self, ws: Workspace, params: Params) -> Result:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((v for v, view in self.views.items() if view["external_id"] == params["external_id"]),
                           None)
        if not view_id:
            raise ApiError("invalid_arguments")
        if view_id not in self.views:
            raise ApiError("not_found")
        before = self.views[view_id]
        if params.get("hash") and params["hash"] != before["hash"]:
            raise ApiError("hash_conflict")
        spec = _view_arg(params)
        self._store(ws, spec, view_id, before, root=before["root_view_id"])
        return {"view": self.shown(view_id)}, []

    def publish(self, ws: Workspace, params: Params) -> Result:
        """https://docs.slack.dev/reference/methods/views.publish: a user's App Home tab."""
        spec = _view_arg(params, kind="home")
        user = str(params.get("user_id") or "")
        if user not in ws.users:
            raise ApiError("user_not_found")
        before = self.homes.get(user)
        if params.get("hash") and before and params["hash"] != before["hash"]:
            raise ApiError("hash_conflict")
        view_id = before["id"] if before else "V" + secrets.token_hex(5).upper()
        home = {"id": view_id, "team_id": ws.team_id, "type": "home", "blocks": copy.deepcopy(spec["blocks"]),
                "private_metadata": str(spec.get("private_metadata", "")),
                "callback_id": str(spec.get("callback_id", "")), "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}", "title": {"type": "plain_text", "text": "View"},
                "app_id": ws.app_id, "external_id": str(spec.get("external_id", "")), "bot_id": ws.bot_id}
        self.homes[user] = home
        return {"view": copy.deepcopy(home)}, []

    def shown(self, view_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.views[view_id])

    def top(self, user: str) -> str | None:
        stack = self.stacks.get(user) or []
        return stack[-1] if stack else None

    def close_all(self, user: str) -> None:
        self.stacks.pop(user, None)


class ModalActions:
    """Mixed into :class:`~bridge.sandbox.slack.server.SlackEmulator`: shortcuts and modals as users use them."""

    _cond: threading.Condition
    _ws: Workspace
    _deliverer: Deliverer
    verification_token: str
    base: str

    def _user(self, user: str) -> dict[str, Any]:
        name = self._ws.users.get(user, {}).get("name", user)
        return {"id": user, "username": name, "name": name, "team_id": self._ws.team_id}

    def _interactive(self, payload: dict[str, Any], retries: int = 0) -> list[tuple[int, str]]:
        payload = {"token": self.verification_token, "api_app_id": self._ws.app_id,
                   "team": {"id": self._ws.team_id, "domain": self._ws.team_domain},
                   "is_enterprise_install": False, "enterprise": None, **payload}
        delivery = self._deliverer.form("interactive", {"payload": json.dumps(payload)}, payload, retries=retries)
        return list(zip(delivery.statuses, delivery.responses, strict=True))

    def trigger_for(self, user: str) -> str:
        """A trigger_id as an interaction by ``user`` would hand the app (to call views.open directly)."""
        with self._cond:
            return self._ws.views.issue_trigger(user)

    def message_shortcut(self, user: str, channel: str, ts: str, callback_id: str) -> tuple[int, str]:
        """``user`` picks the app's message shortcut ``callback_id`` on the message at ``ts``."""
        with self._cond:
            target = self._ws.channel(channel)
            message = copy.deepcopy(self._ws.find(target.id, ts))
            for key in ("metadata", "reactions"):
                message.pop(key, None)
            payload = {
                "type": "message_action",
                "action_ts": self._ws.next_ts(),
                "user": self._user(user),
                "channel": {"id": target.id, "name": target.name},
                "callback_id": callback_id,
                "trigger_id": self._ws.views.issue_trigger(user),
                "response_url": f"{self.base}/respond/actions/{self._ws.team_id}/{uuid.uuid4().hex}",
                "message_ts": ts,
                "message": {"type": "message", **message},
            }
        return self._interactive(payload)[0]

    def open_view(self, user: str) -> dict[str, Any] | None:
        """The modal ``user`` sees now (None when none is open)."""
        with self._cond:
            top = self._ws.views.top(user)
            return self._ws.views.shown(top) if top else None

    def view_errors(self, view_id: str) -> dict[str, str]:
        """The errors the app last showed in the modal (``response_action: errors``)."""
        with self._cond:
            return dict(self._ws.views.errors.get(view_id, {}))

    def type_in_view(self, user: str, view_id: str, block_id: str, action_id: str, text: str) -> None:
        with self._cond:
            self._own_view(user, view_id)["state"]["values"][block_id][action_id]["value"] = text

    def choose_option(self, user: str, view_id: str, block_id: str, value: str) -> tuple[int, str] | None:
        """Pick the option ``value`` in the select of ``block_id``; Slack tells the app when the block
        dispatches actions (an input with ``dispatch_action``), else only view_submission will show it."""
        with self._cond:
            view = self._own_view(user, view_id)
            block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
            element = block["element"]
            option = next(o for o in element["options"] if o["value"] == value)
            view["state"]["values"][block_id][element["action_id"]]["selected_option"] = copy.deepcopy(option)
            if not block.get("dispatch_action"):
                return None
            payload = {
                "type": "block_actions",
                "user": self._user(user),
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": self._ws.views.issue_trigger(user),
                "view": copy.deepcopy(view),
                "actions": [{"type": element["type"], "action_id": element["action_id"], "block_id": block_id,
                             "selected_option": copy.deepcopy(option), "action_ts": self._ws.next_ts()}],
            }
        return self._interactive(payload)[0]

    def open_home(self, user: str) -> tuple[int, str]:
        """``user`` opens the app's Home tab: Slack sends ``app_home_opened``
        (https://docs.slack.dev/reference/events/app_home_opened)."""
        with self._cond:
            home = self._ws.views.homes.get(user)
            event = {"type": "app_home_opened", "user": user, "channel": "D" + user[1:], "tab": "home",
                     **({"view": copy.deepcopy(home)} if home else {})}
        delivery = self._send_event(event)  # type: ignore[attr-defined]  # UserActions, beside this mixin
        return delivery.statuses[0], delivery.responses[0]

    def home(self, user: str) -> dict[str, Any] | None:
        """The App Home view the app last published for ``user``."""
        with self._cond:
            home = self._ws.views.homes.get(user)
            return copy.deepcopy(home) if home else None

    def click_in_home(self, user: str, action_id: str) -> tuple[int, str]:
        """``user`` presses the button ``action_id`` in their App Home (a ``block_actions`` payload)."""
        with self._cond:
            home = self._ws.views.homes.get(user)
            if home is None:
                raise ApiError("not_found")  # the emulator's own: a test clicked in a Home never published
            button = next(e for b in home["blocks"] for e in [*b.get("elements", []), b.get("accessory") or {}]
                          if e.get("action_id") == action_id)
            payload = {
                "type": "block_actions",
                "user": self._user(user),
                "container": {"type": "view", "view_id": home["id"]},
                "trigger_id": self._ws.views.issue_trigger(user),
                "view": copy.deepcopy(home),
                "actions": [{"type": "button", "action_id": action_id, "block_id": "",
                             "value": button.get("value", ""), "action_ts": self._ws.next_ts()}],
            }
        return self._interactive(payload)[0]

    def choose_conversation(self, user: str, view_id: str, block_id: str, channel: str) -> None:
        """Pick ``channel`` in the ``conversations_select`` of the input block ``block_id``."""
        self._pick(user, view_id, block_id, "conversations_select", "selected_conversation", channel,
                   self._ws.channels)

    def choose_user(self, user: str, view_id: str, block_id: str, chosen: str) -> None:
        """Pick ``chosen`` in the ``users_select`` of the input block ``block_id``; view_submission carries it
        (https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#users_select)."""
        self._pick(user, view_id, block_id, "users_select", "selected_user", chosen, self._ws.users)

    def _pick(self, user: str, view_id: str, block_id: str, kind: str, field: str, value: str,
              known: dict[str, Any]) -> None:
        with self._cond:
            view = self._own_view(user, view_id)
            element = next(b for b in view["blocks"] if b.get("block_id") == block_id)["element"]
            if element.get("type") != kind or value not in known:
                raise ApiError("invalid_arguments")  # the emulator's own: a test picked what is not there
            view["state"]["values"][block_id][element["action_id"]] = {"type": kind, field: value}

    def submit_view(self, user: str, view_id: str, *, retries: int = 0) -> list[tuple[int, str]]:
        """``user`` presses the modal's submit button; ``retries`` re-sends the same payload. The app's
        first answer decides what the user sees: errors stay in the modal, otherwise it closes."""
        with self._cond:
            view = copy.deepcopy(self._own_view(user, view_id))
            payload = {"type": "view_submission", "user": self._user(user),
                       "trigger_id": self._ws.views.issue_trigger(user), "view": view, "response_urls": []}
        answers = self._interactive(payload, retries=retries)
        status, body = answers[0]
        try:
            response = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError:
            response = {}
        with self._cond:
            if status == 200 and response.get("response_action") == "errors":
                self._ws.views.errors[view_id] = dict(response.get("errors") or {})
            elif status == 200 and response.get("response_action") == "update":
                self._ws.views._store(self._ws, response["view"], view_id)
            elif status == 200:
                self._ws.views.close_all(user)
            self._cond.notify_all()
        return answers

    def _own_view(self, user: str, view_id: str) -> dict[str, Any]:
        if view_id not in (self._ws.views.stacks.get(user) or []):
            raise ApiError("not_found")
        return self._ws.views.views[view_id]
