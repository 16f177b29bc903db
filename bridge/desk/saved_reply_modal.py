"""The "Saved reply" message shortcut: pick a saved reply in a modal, edit it, send it in the case.

Slack's slash commands carry no thread, so the way in from a case's thread is a message shortcut
(https://docs.slack.dev/interactivity/implementing-shortcuts#messages). The modal is opened and
updated at once from the web process: a trigger_id is good for 3 seconds only
(https://docs.slack.dev/interactivity/handling-user-interaction#modal_responses), too short a wait
for a queue, and showing a modal changes nothing anyone else sees.

Sending is the agent's act and goes the way of a thread reply: on submission the claimer check is
made for an answer inside the modal, then one job per view (Slack may deliver a submission twice)
posts "<@agent> sent the saved reply `name`:" with the text in the thread, and hands that message to
:meth:`Desk.message` exactly as if the agent had written it there: note prefixes, the signature,
splitting or refusing long replies and every other rule of a reply apply, and the sent emoji and the
link to the tweet land on that message.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from bridge.core.log import kv
from bridge.core.models import Case, CaseId
from bridge.core.mrkdwn import escape_mrkdwn
from bridge.desk.desk import Desk
from bridge.desk.saved_replies import SavedReplies, fill
from bridge.effects.jobs import ephemeral_job
from bridge.effects.slack_posts import SlackPosting
from bridge.slack.client import SlackError
from bridge.storage.lanes import Done
from bridge.storage.outbox import post_lane

log = logging.getLogger(__name__)

CALLBACK = "saved_reply"  # the shortcut's callback_id (slack-manifest.yml) and the modal's
PICK_BLOCK = PICK_ACTION = "saved_reply_pick"
TEXT_BLOCK = "saved_reply_text"  # + a new suffix per pick, so Slack shows the new initial_value
TEXT_ACTION = "saved_reply_text"
MAX_INPUT = 3000  # plain_text_input max_length
MAX_OPTIONS = 100  # a static_select's options
_WIRE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _view(blocks: list[dict], case: Case | None = None, submit: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "callback_id": CALLBACK, "title": _plain("Saved reply"),
                            "close": _plain("Cancel" if submit else "Close"), "blocks": blocks,
                            "private_metadata": json.dumps({"case": case.id}) if case else ""}
    if submit:
        view["submit"] = _plain("Send")
    return view


def _say(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _option(name: str, text: str) -> dict[str, Any]:
    label = f"{name}: {text}"
    return {"text": _plain(label if len(label) <= 75 else label[:74] + "…"), "value": name}


class SavedReplyModal:
    """What the shortcut, the select and the submit button do (web process)."""

    def __init__(self, desk: Desk, saved: SavedReplies) -> None:
        self.desk = desk
        self.saved = saved

    def shortcut(self, user: str, channel: str, message: dict, trigger_id: str) -> None:
        thread_ts = message.get("thread_ts") or message.get("ts") or ""
        try:
            case = self.desk.case_at(channel, thread_ts)
        except SlackError:
            self._open(trigger_id, _view([_say("Slack didn't answer in time. Please try again.")]))
            return
        if case is None:
            log.info(kv("saved_reply.not_a_case", user=user, channel=channel, ts=thread_ts))
            self._open(trigger_id, _view([_say("This message isn't in a case's thread. Use *Saved reply* on "
                                               "the first message of a case, or on any reply in its thread.")]))
            return
        self._open(trigger_id, self._picker(case))
        log.info(kv("saved_reply.opened", case=case.id, user=user))

    def _picker(self, case: Case, chosen: str | None = None, text: str | None = None) -> dict[str, Any]:
        saved = self.saved.all()
        customer = case.customer
        intro = (f"To *{escape_mrkdwn(customer.name)}* (@{escape_mrkdwn(customer.username)}). *Send* "
                 "tweets the text as the brand, signed, exactly as if you had written it in the thread.")
        if not saved:
            return _view([_say("No saved replies yet. Admins add them with `/xdesk saved add <name> <text>`.")])
        options = [_option(s.name, s.text) for s in saved[:MAX_OPTIONS]]
        select: dict[str, Any] = {"type": "static_select", "action_id": PICK_ACTION, "options": options,
                                  "placeholder": _plain("Choose a saved reply")}
        if chosen:
            select["initial_option"] = next((o for o in options if o["value"] == chosen), None)
            if select["initial_option"] is None:
                del select["initial_option"]
        blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": intro}]},
                  {"type": "input", "block_id": PICK_BLOCK, "dispatch_action": True,
                   "label": _plain("Saved reply"), "element": select}]
        if text is not None:
            blocks.append({"type": "input", "block_id": f"{TEXT_BLOCK}:{uuid.uuid4().hex[:8]}",
                           "label": _plain("Reply (edit it as you like)"),
                           "element": {"type": "plain_text_input", "action_id": TEXT_ACTION, "multiline": True,
                                       "initial_value": text[:MAX_INPUT], "max_length": MAX_INPUT}})
        return _view(blocks, case, submit=True)

    def chose(self, user: str, view: dict, name: str) -> None:
        """A saved reply was picked in the modal: show its text, filled in, for editing."""
        case = self._case_of(view)
        if case is None:
            return
        saved = self.saved.get(name)
        text = fill(saved.text, case.customer) if saved else None
        try:
            self.desk.slack.update_view(view["id"], self._picker(case, name, text), view.get("hash"))
        except SlackError as exc:  # hash_conflict: a newer pick already changed the modal
            log.info(kv("saved_reply.update_failed", case=case.id, user=user, error=exc.error))
            return
        log.info(kv("saved_reply.chosen", case=case.id, user=user, name=name))

    def submit(self, user: str, view: dict) -> dict[str, str] | None:
        """Queue the send, or the errors to show in the modal (by block_id)."""
        values: dict[str, dict] = (view.get("state") or {}).get("values") or {}
        text_block = next((b for b in values if b.startswith(TEXT_BLOCK)), None)
        option = (values.get(PICK_BLOCK, {}).get(PICK_ACTION) or {}).get("selected_option") or {}
        case = self._case_of(view)
        if case is None or not case.parent_ts:
            return {PICK_BLOCK: "This case can't be found any more, so nothing was sent."}
        if text_block is None or not option.get("value"):
            return {PICK_BLOCK: "Choose a saved reply first."}
        text = str(values[text_block].get(TEXT_ACTION, {}).get("value") or "")
        if not text.strip():
            return {text_block: "Write the reply to send, or choose a saved reply again."}
        if case.claimer is None:
            return {text_block: f"This case isn't claimed yet, so nothing was sent. React "
                                f":{self.desk.settings.emoji.claim}: on the case's first message, then send."}
        if case.claimer != user:
            return {text_block: "Someone else has claimed this case: only they can send replies in it, "
                                "so nothing was sent."}
        job = {"id": f"saved:{view['id']}", "kind": "saved_reply", "case": case.id, "channel": case.channel,
               "thread_ts": case.parent_ts, "user": user, "name": option["value"], "text": text}
        # One send per view, whatever Slack re-delivers: the same mark-and-queue as for thread messages.
        if self.desk.store.take_message("view", view["id"], [(post_lane(case.channel), job)]):
            log.info(kv("saved_reply.queued", case=case.id, user=user, name=option["value"], view=view["id"]))
        else:
            log.info(kv("saved_reply.duplicate", case=case.id, user=user, view=view["id"]))
        return None

    def _case_of(self, view: dict) -> Case | None:
        try:
            case_id = json.loads(view.get("private_metadata") or "{}").get("case")
        except json.JSONDecodeError:
            return None
        return self.desk.store.case(CaseId(str(case_id))) if case_id else None

    def _open(self, trigger_id: str, view: dict) -> None:
        try:
            self.desk.slack.open_view(trigger_id, view)
        except SlackError as exc:  # e.g. expired_trigger_id: the user sees no modal and can try again
            log.warning(kv("saved_reply.open_failed", error=exc.error))


class SavedReplySending:
    """The worker's job: show what the agent sent in the thread, then treat it as their reply."""

    def __init__(self, posting: SlackPosting, desk: Desk) -> None:
        self.posting = posting
        self.desk = desk

    def handlers(self) -> dict[str, Callable]:
        return {"saved_reply": self.send}

    def send(self, job: dict) -> Done:
        text = job["text"]
        case = self.desk.store.case(CaseId(job["case"]))
        if case is not None and case.claimer != job["user"]:
            # Handed over or released since the modal was sent: the thread must not show it as sent.
            holder = f"<@{case.claimer}> has this case now" if case.claimer else "Nobody holds this case now"
            why = f"Your saved reply `{job['name']}` wasn't sent: {holder}."
            log.info(kv("saved_reply.not_claimer", case=case.id, user=job["user"], claimer=case.claimer))
            return Done({"skipped": "not the claimer"},
                        [ephemeral_job(job["channel"], job["user"], why, job["thread_ts"])])
        shown = f"<@{job['user']}> sent the saved reply `{job['name']}`:\n{escape_mrkdwn(text)}"
        # Posted here, under this job's own id, not queued as a notice_job: the thread message must
        # exist (its ts) before the reply rules below can take it, and a retry must find it, not repost.
        posted = self.posting.notice({"id": job["id"], "kind": "notice", "case": job["case"], "text": shown})
        ts = posted.result["ts"]
        # The text as Slack puts a typed message on the wire (&, < and > escaped), so that the reply
        # rules read it the same: https://docs.slack.dev/messaging/formatting-message-text#escaping
        self.desk.message(job["user"], job["channel"], ts, job["thread_ts"], text.translate(_WIRE))
        log.info(kv("saved_reply.sent", case=job["case"], user=job["user"], name=job["name"], ts=ts))
        return Done({"ts": ts})
