"""``python -m bridge outbox [retry JOB | retry all | drop JOB]``: the jobs that wait for an operator.

A parked job waits at the head of its lane for something only an operator can fix (X or Slack
refusing the credentials, answers the bridge cannot read); a dead letter gave up for good. ``retry``
works one again (``all``: every parked one, after fixing what they wait for), ``drop`` gives it up;
each acts once, however often it is run.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

from bridge.core.log import kv
from bridge.storage.outbox import Outbox

log = logging.getLogger(__name__)


def outbox_command(outbox: Outbox, action: str, job_id: str | None, out: TextIO) -> int:
    if action == "list":
        return _listing(outbox, out)
    if not job_id:
        print(f"xdesk: outbox {action} needs the id of a job (python -m bridge outbox lists them)", file=out)
        return 2
    if action == "retry" and job_id == "all":
        jobs = [entry["job"]["id"] for entry in outbox.parked()]
        again = [job for job in jobs if outbox.redrive(job)]
        log.info(kv("outbox.retry", jobs=len(again)))
        print(f"{len(again)} parked job(s) worked again", file=out)
        return 0
    if action == "retry":
        was = outbox.redrive(job_id)
        said = f"{job_id}: worked again ({was})" if was else None
    else:
        was = outbox.drop(job_id, {"dropped": "by an operator"})
        said = f"{job_id}: dropped ({was}); its lane goes on with the next job" if was else None
    if was is None:
        print(f"xdesk: {job_id} is neither parked nor a dead letter (already re-driven or dropped?)", file=out)
        return 1
    log.info(kv(f"outbox.{action}", job=job_id, was=was))
    print(said, file=out)
    return 0


def _listing(outbox: Outbox, out: TextIO) -> int:
    parked, dead = outbox.parked(), outbox.dead_letters()
    for entry in parked:
        since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(entry["since"]))
        print(f"parked  {entry['job']['id']}  lane {entry['lane']}  since {since}\n"
              f"        {entry['reason']}\n        to fix: {entry['fix']}", file=out)
    for entry in dead:
        print(f"dead    {entry['job']['id']}  lane {entry['lane']}\n        {entry['reason']}", file=out)
    if not parked and not dead:
        print("nothing waits for an operator: no parked jobs, no dead letters", file=out)
    else:
        print(f"{len(parked)} parked, {len(dead)} dead. Work one again: python -m bridge outbox retry <job>; "
              "give it up: python -m bridge outbox drop <job>", file=out)
    return 0
