"""Structured logs: one event per line, ``key=value``, and never a secret.

Every record goes through :class:`SecretFilter`, which replaces each configured secret (tokens, signing
secret, X keys) wherever it appears, so a secret that slips into an exception message or a library's
debug line still never reaches the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable


def kv(event: str, **fields: object) -> str:
    """``event key=value ...``: values with spaces are quoted so the line stays machine-readable."""
    parts = [event]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c in text for c in ' "=\n'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class SecretFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return text


def setup(secrets: Iterable[str], level: str = "INFO") -> None:
    """Log to stderr, one line per event, with every secret scrubbed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that log request bodies or headers at DEBUG stay at INFO whatever the level.
    for noisy in ("urllib3", "tweepy", "slack_sdk", "slack_bolt", "oauthlib", "requests_oauthlib"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger(noisy).level))
