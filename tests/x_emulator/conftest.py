"""The fixtures of the X emulator's spec tests: X's OpenAPI document, its schemas, an emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from bridge.sandbox.x.server import XEmulator
from tests.x_emulator.contract import KEYS, OPENAPI


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text())


@pytest.fixture(scope="module")
def registry(spec: dict[str, Any]) -> Registry:
    # OpenAPI 3.0 schema objects are closest to JSON Schema draft 4.
    resource = Resource.from_contents(spec, default_specification=DRAFT4)
    return Registry().with_resource("urn:x-openapi", resource)


@pytest.fixture
def emu() -> Iterator[XEmulator]:
    with XEmulator(window_seconds=60, **KEYS) as x:
        yield x
