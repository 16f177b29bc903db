"""Named crash points, for proving that a process killed anywhere loses nothing and repeats nothing.

Off unless ``XDESK_CRASH_AT`` is set, as fail points are in storage engines: its value is a comma
list of ``point`` or ``point@n`` (die on the n-th time the point is passed, default the first). Dying
is ``SIGKILL`` to ourselves, the same as ``kill -9``: no ``finally``, no flush, no goodbye.
The fault-injection tests and ``bench/soak.py`` set it; nothing else should.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import Counter

POINTS = (
    "ingest.before_cursor",  # tweets stored, the cursor not yet moved
    "slack.after_post",  # Slack has the message, we have not recorded its ts
    "x.after_tweet",  # X has the tweet, we have not recorded its id
    "job.before_complete",  # the effect is recorded, the job not yet popped
    "web.after_store",  # the event's effect is stored, Slack has no 200 yet
    "erase.after_slack",  # an erasure changed the customer's Slack messages, Redis still has everything
)

_lock = threading.Lock()
_passed: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    armed = {}
    for item in filter(None, (p.strip() for p in os.environ.get("XDESK_CRASH_AT", "").split(","))):
        name, _, nth = item.partition("@")
        armed[name] = int(nth or 1)
    return armed


_ARMED = _armed()


def point(name: str) -> None:
    """Die here if this point is armed and its turn has come."""
    if name not in _ARMED:
        return
    with _lock:
        _passed[name] += 1
        if _passed[name] != _ARMED[name]:
            return
    sys.stderr.write(f"crash.point name={name} pid={os.getpid()}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
