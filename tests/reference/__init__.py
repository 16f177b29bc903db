"""The published X and Slack API documents (and SPEC's settings example) the tests check against.

They are kept in this folder (see README.md here) so that a plain clone needs nothing beside it. A
missing file fails the tests that need it rather than skipping them: a skipped check is no check.
"""

from __future__ import annotations

from pathlib import Path

REFERENCE = Path(__file__).resolve().parent


def reference(*parts: str) -> Path:
    path = REFERENCE.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the tests check against the documents in tests/reference")
    return path
