"""`python -m bridge sandbox` and `python -m bridge check`, run as a person would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator
from bridge.storage.connection import stop_embedded
from tests.harness import closed_today_env, environment

ROOT = Path(__file__).resolve().parent.parent


def bridge(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "SLACK_", "X_", "REDIS_"))}
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("closed", [False, True], ids=["as shipped", "desk closed"])
def test_the_sandbox_plays_a_case_through_without_credentials(tmp_path: Path, closed: bool) -> None:
    # The shipped settings.toml has service hours: the demo must play the same at any time of day.
    try:
        hours = closed_today_env() if closed else {}
        result = bridge("sandbox", env={"BRIDGE_DATA_DIR": str(tmp_path / "var"), **hours})
    finally:
        stop_embedded(tmp_path / "var" / "sandbox")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in ("1. @kunde_klaus tweets", "2. The worker", "3. Anna", "4. Anna", "5. The bridge tweeted",
                 "6. Her message"):
        assert step in out, out
    assert "^AN'" in out


def test_check_reports_every_problem_in_one_line_each(
    x_emu: XEmulator, slack_emu: SlackEmulator, redis_url: str, tmp_path: Path
) -> None:
    settings = (ROOT / "settings.toml").read_text().replace('"C0DSLTEAM1"', '"C0MISSING1"')
    (tmp_path / "settings.toml").write_text(settings)
    env = {**environment(x_emu, slack_emu, redis_url), "BRIDGE_SETTINGS": str(tmp_path / "settings.toml"),
           "X_ACCESS_TOKEN_SECRET": "wrong-secret"}
    result = bridge("check", env=env, timeout=60)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("slack: channel C0MISSING1: channel_not_found") for line in lines), lines
    assert any(line.startswith("x: ") for line in lines), lines
    assert len([line for line in lines if not line.startswith("warning: ")]) == 2, lines
    # The shipped settings let anyone act: allowed, so a warning, not a problem.
    assert "warning: slack.agents is empty: anyone in the workspace may claim a case and tweet as the brand" \
        in result.stdout, lines
    assert "wrong-secret" not in result.stdout + result.stderr

    good = {**env, "X_ACCESS_TOKEN_SECRET": environment(x_emu, slack_emu, redis_url)["X_ACCESS_TOKEN_SECRET"],
            "BRIDGE_SETTINGS": str(ROOT / "settings.toml")}
    slack_emu_channels_ok = bridge("check", env=good, timeout=60)
    assert slack_emu_channels_ok.returncode == 0, slack_emu_channels_ok.stdout
