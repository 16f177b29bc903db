"""``python -m bridge web | worker | run | check | sandbox | outbox``"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

from bridge.app.outbox_cli import outbox_command
from bridge.core import log as logsetup
from bridge.core.log import kv
from bridge.core.settings import Environment, SettingsError, load

if TYPE_CHECKING:
    from bridge.app.bolt import Listeners

log = logging.getLogger("bridge")


def main(argv: list[str] | None = None, listeners: Listeners | None = None) -> int:
    """``listeners``: Slack's doorway (``handlers.register_all``), given by ``python -m bridge``."""
    parser = argparse.ArgumentParser(prog="python -m bridge", description="xdesk: X customer service in Slack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("web", help="Slack Events API, interactivity and /xdesk at POST /slack/events; GET /healthz")
    sub.add_parser("worker", help="poll X, post cases to Slack, tweet replies")
    sub.add_parser("run", help="web and worker in one process (Socket Mode with slack.mode = \"socket\")")
    sub.add_parser("check", help="validate settings and credentials; exit 1 on any problem")
    sandbox = sub.add_parser("sandbox", help="the real bridge between built-in emulators of X and Slack")
    sandbox.add_argument("--keep", action="store_true", help="keep running after the demo case")
    outbox = sub.add_parser("outbox", help="list the jobs waiting for an operator; retry or drop one")
    outbox.add_argument("action", nargs="?", choices=("list", "retry", "drop"), default="list")
    outbox.add_argument("job", nargs="?", help="the job's id, as the list shows it")
    for name, what in (("erase", "erase everything stored about an X user, in Redis and in Slack"),
                       ("export", "print everything stored about an X user, as JSON")):
        sub.add_parser(name, help=what).add_argument("handle", help="an X username (with or without @) or user id")
    args = parser.parse_args(argv)

    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    try:
        if args.command == "sandbox":
            from bridge.app.sandbox import run_sandbox

            return run_sandbox(keep=args.keep, listeners=listeners)
        env = Environment.from_environ()
        logsetup.setup(env.secrets(), level)
        settings = load()
    except SettingsError as exc:
        print(f"xdesk: {exc}", file=sys.stderr)
        return 2

    from bridge.app.runtime import Runtime, check, install_signal_handlers

    rt = Runtime(env, settings, listeners=listeners)
    if args.command == "outbox":
        return outbox_command(rt.store.outbox, args.action, args.job, sys.stdout)
    if args.command in ("erase", "export"):
        from bridge.app.privacy_cli import privacy_command

        return privacy_command(rt, args.command, args.handle, sys.stdout)
    if args.command == "check":
        problems = check(rt)
        for line in problems:
            print(line)
        for line in rt.current.warnings():  # allowed, so not a problem; but worth a second look
            print(f"warning: {line}")
        if not problems:
            print("ok: settings, Redis, Slack and X all check out")
        if settings.x.dry_run:
            print("note: dry run is on ([x] dry_run = true): nothing will be posted to X")
        return 1 if problems else 0

    stop = threading.Event()
    install_signal_handlers(stop)
    try:
        threads = [] if args.command == "web" else rt.worker_threads(stop)
        if args.command in ("web", "run"):
            # uvicorn on a thread: then SIGTERM is ours, and ends every part the same clean way.
            threads.append(threading.Thread(target=rt.serve_web, args=(stop,), name="web"))
        if not run_threads(threads, stop):
            return 1  # a part died: exit non-zero so that the supervisor restarts the process
    except SettingsError as exc:
        print(f"xdesk: {exc}", file=sys.stderr)
        return 2
    log.info(kv("process.stopped", command=args.command))
    return 0


def run_threads(threads: list[threading.Thread], stop: threading.Event) -> bool:
    """Run until ``stop``; False when a part died on its own."""
    for thread in threads:
        thread.daemon = True
        thread.start()
    while not stop.is_set():
        if not all(thread.is_alive() for thread in threads):
            log.error(kv("process.part_died", parts=",".join(t.name for t in threads if not t.is_alive())))
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            return False
        stop.wait(1.0)
    for thread in threads:
        thread.join(timeout=10)
    return True
