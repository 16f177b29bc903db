"""The ports say what the bridge needs from X and Slack; the real adapters and the fakes both fill them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import bridge
from bridge.slack.client import SlackSide
from bridge.slack.port import SlackPort
from bridge.x.client import XClient
from bridge.x.direct import XDirect
from bridge.x.media import XMedia
from bridge.x.port import DirectPort, MediaPort, XPort
from tests.fakes import FakeDirect, FakeSlack, FakeX


def methods(port: type) -> dict[str, list[str]]:
    return {name: list(inspect.signature(fn).parameters) for name, fn in vars(port).items()
            if inspect.isfunction(fn) and not name.startswith("_")}


@pytest.mark.parametrize(("port", "implementations"), [
    (XPort, [XClient, FakeX]), (DirectPort, [XDirect, FakeDirect]), (MediaPort, [XMedia]),
    (SlackPort, [SlackSide, FakeSlack]),
], ids=["x", "direct", "media", "slack"])
def test_every_method_of_a_port_is_there_with_the_same_parameters(port: type, implementations: list[type]) -> None:
    wanted = methods(port)
    assert wanted, f"{port.__name__} names no method"
    for implementation in implementations:
        have = {name: list(inspect.signature(getattr(implementation, name)).parameters)
                for name in wanted if hasattr(implementation, name)}
        assert have == wanted, f"{implementation.__name__} does not fill {port.__name__}"


def test_the_rooms_above_the_adapters_import_the_ports_not_the_clients() -> None:
    root = Path(bridge.__file__).parent
    clients = {"SlackSide", "WebClient", "XClient", "XDirect", "XMedia"}
    found = [f"{path.relative_to(root)}:{node.lineno} imports {alias.name}"
             for room in ("core", "storage", "intake", "desk", "effects")
             for path in sorted((root / room).rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)
             for alias in node.names if alias.name in clients]
    assert found == []
