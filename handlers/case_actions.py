"""The buttons on a case's parent (hand over, take over, move) and the modals they open."""

from __future__ import annotations

from slack_bolt import Ack, App

from bridge.desk.desk import Desk
from bridge.desk.handover import VIEW_HANDOVER, VIEW_MOVE, CaseActions
from bridge.slack.blocks import ACTION_HANDOVER, ACTION_MOVE, ACTION_TAKEOVER


def _click(body: dict) -> tuple[str, str, str, str, str]:
    """(user, channel, case id, trigger_id, action_ts) of a button click on a parent."""
    action = (body.get("actions") or [{}])[0]
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id", "")
    return (body["user"]["id"], channel, str(action.get("value", "")), body.get("trigger_id", ""),
            str(action.get("action_ts", "")))


def register(app: App, desk: Desk) -> None:
    actions = CaseActions(desk.store, desk.settings, desk.roles, desk.slack)

    @app.action(ACTION_HANDOVER)
    def hand_over(ack: Ack, body: dict) -> None:
        ack()
        user, channel, case_id, trigger_id, _ = _click(body)
        actions.open_handover(user, channel, case_id, trigger_id)

    @app.action(ACTION_TAKEOVER)
    def take_over(ack: Ack, body: dict) -> None:
        ack()
        user, channel, case_id, _, action_ts = _click(body)
        actions.take_over(user, channel, case_id, action_ts)

    @app.action(ACTION_MOVE)
    def move(ack: Ack, body: dict) -> None:
        ack()
        user, channel, case_id, trigger_id, _ = _click(body)
        actions.open_move(user, channel, case_id, trigger_id)

    @app.view(VIEW_HANDOVER)
    def hand_over_submitted(ack: Ack, body: dict, view: dict) -> None:
        errors = actions.submit_handover(body["user"]["id"], view)
        if errors:  # shown under the field in the modal, which stays open
            ack(response_action="errors", errors=errors)
        else:
            ack()

    @app.view(VIEW_MOVE)
    def move_submitted(ack: Ack, body: dict, view: dict) -> None:
        errors = actions.submit_move(body["user"]["id"], view)
        if errors:  # shown under the field in the modal, which stays open
            ack(response_action="errors", errors=errors)
        else:
            ack()
