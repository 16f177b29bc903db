"""No secret in any log line or error message, even at DEBUG, even when things fail."""

from __future__ import annotations

import random
from pathlib import Path

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from tests.cluster import Cluster
from tests.harness import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, X_KEYS
from tests.test_crash_recovery import play_cases

SECRETS = [BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, *X_KEYS.values()]


def test_a_full_run_at_debug_with_faults_logs_no_secret(
    x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, settings_path: Path, tmp_path: Path
) -> None:
    cluster = Cluster(x_emu, slack_emu, redis_url, settings_path, tmp_path,
                      extra_env={"LOG_LEVEL": "DEBUG", "SLACK_APP_TOKEN": APP_TOKEN}).start()
    try:
        x_emu.server_error_next("GET", r"/mentions$", times=2)
        slack_emu.fail_next("chat.postMessage", status=500, times=1)
        play_cases(cluster, 2, random.Random(7))
        # A refused credential: the worker logs X's 401 (and the web a forged request's 401).
        slack_emu.deliver({"type": "app_mention", "user": "U0ANNA0001", "text": "hi", "channel": "C0GENERAL1",
                           "ts": "1.000001"}, signature="bad")
    finally:
        cluster.stop()
    logs = cluster.logs()
    assert "DEBUG" in logs and "chat.postMessage" in logs  # the debug run really logged requests
    for secret in SECRETS:
        assert secret not in logs, f"a secret ({secret[:6]}...) is in the logs"


def test_a_secret_that_slips_into_a_message_or_traceback_is_scrubbed(capsys) -> None:
    import logging

    from bridge.core import log as logsetup

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logsetup.setup([BOT_TOKEN, SIGNING_SECRET])
    try:
        logger = logging.getLogger("xdesk.test")
        logger.error("calling Slack with token %s", BOT_TOKEN)
        try:
            raise RuntimeError(f"refused: {SIGNING_SECRET}")
        except RuntimeError:
            logger.exception("it failed")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "[secret]" in err and BOT_TOKEN not in err and SIGNING_SECRET not in err
    assert "RuntimeError" in err
