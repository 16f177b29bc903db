"""``python -m bridge erase HANDLE`` and ``python -m bridge export HANDLE`` (SPEC "Personal data")."""

from __future__ import annotations

import getpass
import json
from typing import TextIO

from bridge.app.runtime import Runtime
from bridge.core.rules import desk_channels
from bridge.effects.erase import Erasure
from bridge.storage.desk_config import DeskConfig


def privacy_command(rt: Runtime, action: str, handle: str, out: TextIO) -> int:
    rt.live.refresh()  # the desk's channels as admins have them now
    erasure = Erasure(rt.store, rt.slack, desk_channels(rt.current))
    plan = erasure.find(handle)
    if plan is None or not (plan.cases or plan.tweets):
        print(f"nothing stored for {handle}", file=out)
        return 1
    if action == "export":
        print(json.dumps(erasure.export(plan), indent=2, ensure_ascii=False), file=out)
        return 0
    report = erasure.erase(plan)
    for line in report.lines(handle):
        print(line, file=out)
    # Who erased, when and how many: never whom (SPEC).
    DeskConfig(rt.store).note(f"{getpass.getuser()} (command line)", f"erased {report.cases} case(s) of a "
                              f"customer and {report.messages} Slack message(s)", rt.clock())
    if not rt.env.redis_url:
        # The embedded Redis keeps an append-only file: rewritten, it no longer holds what was erased.
        rt.redis.bgrewriteaof()
    rt.store.r.close()
    return 1 if report.failed else 0

