"""The "Saved reply" message shortcut and its modal: pick, edit, send."""

from __future__ import annotations

from slack_bolt import Ack, App

from bridge.desk.desk import Desk
from bridge.desk.saved_replies import SavedReplies
from bridge.desk.saved_reply_modal import CALLBACK, PICK_ACTION, SavedReplyModal


def catalogue(desk: Desk) -> SavedReplies:
    return SavedReplies(desk.settings, desk.store.r, desk.store.p, desk.roles.is_admin)


def register(app: App, desk: Desk) -> None:
    modal = SavedReplyModal(desk, catalogue(desk))

    @app.shortcut(CALLBACK)
    def shortcut(ack: Ack, body: dict) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        if body.get("type") == "message_action" and channel:
            modal.shortcut(body["user"]["id"], channel, message, body["trigger_id"])

    @app.action(PICK_ACTION)
    def picked(ack: Ack, body: dict, action: dict) -> None:
        ack()
        name = (action.get("selected_option") or {}).get("value")
        if body.get("view") and name:
            modal.chose(body["user"]["id"], body["view"], name)

    @app.view(CALLBACK)
    def submitted(ack: Ack, body: dict, view: dict) -> None:
        errors = modal.submit(body["user"]["id"], view)
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()
