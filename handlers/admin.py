"""The App Home and the admins' modals: Slack's events and clicks handed to the desk."""

from __future__ import annotations

from slack_bolt import Ack, App, Respond

from bridge.desk.admin_home import ACTIONS, CALLBACK, AdminHome
from bridge.desk.desk import Desk
from bridge.desk.erase_requests import ERASE_ACTION


def register(app: App, desk: Desk) -> None:
    home = AdminHome(desk.admin, desk.glance, desk.roles, desk.slack)

    @app.event("app_home_opened")
    def home_opened(event: dict) -> None:
        if event.get("tab", "home") == "home":
            home.opened(event["user"])

    for action_id in ACTIONS:
        @app.action(action_id)
        def clicked(ack: Ack, body: dict, action: dict) -> None:
            ack()
            home.open_modal(body["user"]["id"], action["action_id"], body.get("trigger_id", ""))

    @app.action(ERASE_ACTION)
    def erase(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        respond(text=desk.admin.erasures.confirmed(body["user"]["id"], str(action.get("value", "")), channel),
                replace_original=True)

    @app.view(CALLBACK)
    def submitted(ack: Ack, body: dict, view: dict) -> None:
        ack(**home.submitted(body["user"]["id"], view))
