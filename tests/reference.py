"""Where the published X and Slack specs are: ``../shared/reference`` beside the checkout.

CI lays ``shared/`` beside the clone. A missing folder fails the spec tests rather than skipping
them: a skipped check is no check.
"""

from __future__ import annotations

import os
from pathlib import Path

REFERENCE = Path(os.environ.get("XDESK_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"))


def reference(*parts: str) -> Path:
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the spec tests need ../shared/reference (or XDESK_REFERENCE)")
    return path
