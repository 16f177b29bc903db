"""Settings: every SPEC key exists and is commented (bar those of features not built yet); a wrong value
stops the process with one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.reference import reference

ROOT = Path(__file__).resolve().parent.parent
# SPEC.md's settings example, verbatim (tests/reference/README.md): the contract settings.toml ships.
SPEC_EXAMPLE = reference("spec-settings-example.toml")

# Keys and sections SPEC.md already lists for features not built yet, each with the issue that builds
# it. They cannot be in the shipped settings.toml yet: the settings refuse unknown keys, so the bridge
# would not start. Whoever builds one ships its key (commented) and removes it from here;
# test_the_pending_spec_keys_are_in_the_spec_and_not_yet_shipped fails until they do.
PENDING: dict[str, int] = {}


def run_check(settings: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "SLACK_", "X_"))}
    return subprocess.run(
        [sys.executable, "-m", "bridge", "worker"],
        cwd=ROOT, env={**clean, "BRIDGE_SETTINGS": str(settings), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def spec_example() -> dict[str, Any]:
    # The file's first line is a comment naming its source; the rest is the ```toml block as in SPEC.md.
    return tomllib.loads(SPEC_EXAMPLE.read_text())


def spec_names(example: dict[str, Any]) -> set[str]:
    """Every section (``sla``) and key (``slack.mode``) of the example, by the names PENDING uses."""
    names = set(example)
    for section, keys in example.items():
        if isinstance(keys, dict):
            names |= {f"{section}.{key}" for key in keys}
    return names


def test_the_checked_in_settings_have_every_key_of_the_spec_each_commented() -> None:
    shipped_text = (ROOT / "settings.toml").read_text()
    shipped = tomllib.loads(shipped_text)
    example = spec_example()
    for section, keys in example.items():
        if section in PENDING:
            continue
        if section == "topics":
            assert set(keys[0]) <= set(shipped["topics"][0])
            continue
        assert section in shipped, section
        for key in keys:
            if f"{section}.{key}" not in PENDING:
                assert key in shipped[section], f"{section}.{key}"
    for line in shipped_text.splitlines():
        if re.match(r"^\s*[a-z_]+\s*=", line):
            assert "#" in line, f"uncommented key: {line}"


def test_the_pending_spec_keys_are_in_the_spec_and_not_yet_shipped() -> None:
    shipped = tomllib.loads((ROOT / "settings.toml").read_text())
    assert set(PENDING) <= spec_names(spec_example()), "PENDING names a key the SPEC example no longer has"
    for name, issue in PENDING.items():
        section, _, key = name.partition(".")
        present = section in shipped and (not key or key in shipped[section])
        assert not present, f"{name} is in settings.toml: issue {issue} built it, remove it from PENDING"


@pytest.mark.parametrize(
    ("change", "env", "names"),
    [
        (('default_channel = "C0GENERAL1"', 'default_channel = "general"'), {}, "slack.default_channel"),
        (('long = "split"', 'long = "sometimes"'), {}, "replies.long"),
        (('min_poll_interval = 5', 'min_poll_interval = -1'), {}, "x.min_poll_interval"),
        (('default_channel = "C0GENERAL1"', ""), {}, "slack.default_channel"),
        (('include_retweets = false', 'include_retweet = false'), {}, "x.include_retweet"),
        ((), {"BRIDGE_SLACK__MODE": "carrier-pigeon"}, "slack.mode"),
        (('ask_dm = "envelope"', 'ask_dm = "eyes"'), {}, "emoji"),
        (('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'), {}, "hours.timezone"),
        (('monday = ["08:00-20:00"]', 'monday = ["20:00-08:00"]'), {}, "hours.monday"),
    ],
)
def test_a_wrong_or_missing_value_stops_with_one_line_naming_the_key(
    tmp_path: Path, change: tuple, env: dict, names: str
) -> None:
    text = (ROOT / "settings.toml").read_text()
    if change:
        assert change[0] in text
        text = text.replace(change[0], change[1], 1)
    path = tmp_path / "settings.toml"
    path.write_text(text)
    result = run_check(path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert names in lines[0]


def test_environment_overrides_a_settings_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.core.settings import load

    monkeypatch.setenv("BRIDGE_SETTINGS", str(ROOT / "settings.toml"))
    monkeypatch.setenv("BRIDGE_SLACK__DEFAULT_CHANNEL", "C0OTHER001")
    monkeypatch.setenv("BRIDGE_REPLIES__LONG", "refuse")
    settings = load()
    assert settings.slack.default_channel == "C0OTHER001"
    assert settings.replies.long == "refuse"
    assert settings.agents["U0ANNA0001"].signature == "^AN"


def test_missing_credentials_are_named(tmp_path: Path) -> None:
    result = run_check(ROOT / "settings.toml")
    assert result.returncode == 2
    assert "X_API_KEY" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_agent_added_from_the_environment_keeps_its_slack_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.core.settings import load

    monkeypatch.setenv("BRIDGE_SETTINGS", str(ROOT / "settings.toml"))
    monkeypatch.setenv("BRIDGE_AGENTS__U0BOB00001__SIGNATURE", "^BO")
    assert load().signature_of("U0BOB00001") == "^BO"


def test_a_list_override_that_is_not_json_names_the_environment(tmp_path: Path) -> None:
    result = run_check(ROOT / "settings.toml", BRIDGE_SLACK__ADMINS="U0ADMIN001")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("xdesk: environment:") and "slack" in line and "JSON" in line


def test_check_warns_when_anyone_may_tweet_as_the_brand_and_when_an_agent_signs_nothing(tmp_path: Path) -> None:
    from bridge.core.settings import Settings

    base = {"slack": {"default_channel": "C0GENERAL1"}}
    assert Settings.of(base).warnings() == [
        "slack.agents is empty: anyone in the workspace may claim a case and tweet as the brand (list the agents, "
        "or add them with /xdesk agent add)"]
    listed = Settings.of({"slack": {"default_channel": "C0GENERAL1", "agents": ["U0ANNA0001", "U0BEN00002",
                                                                              "S0AGENTS01"]},
                          "agents": {"U0ANNA0001": {"signature": "^AN"}, "U0CARL0003": {}}})
    assert listed.warnings() == [
        "agents.U0BEN00002: no signature: their tweets go out unsigned (set agents.U0BEN00002.signature)",
        "agents.U0CARL0003: no signature: their tweets go out unsigned (set agents.U0CARL0003.signature)"]
