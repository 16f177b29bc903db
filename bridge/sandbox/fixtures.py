"""The made-up workspace the emulators and the bridge share when they run together.

Credentials the bridge is configured with and the emulators accept, the Slack users and channels of
the fault tests and the soak, the process environment the bridge starts with, and what a person
reads in a message's blocks. Used by ``tests/`` and ``bench/``; none of it is a real secret.
"""

from __future__ import annotations

from typing import Any

from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
APP_TOKEN = "xapp-1-A0XDESK01-4242-0123456789abcdef"
X_KEYS = {
    "consumer_key": "xk-consumer-3nVuSoBZnx6U4vzUxf5w",
    "consumer_secret": "xs-consumer-Bcs59EFbbsdF6Sl9Ng71smgStWEGwXXKSjYvPVt7qys",
    "access_token": "1000000001-xat-0U2L7Z9lAmYfNPp8WhQ",
    "access_token_secret": "xats-secret-gtHh7bE9kZ0WyXq4PZfXc2fN",
}

ANNA, BEN, CARL, ADMIN = "U0ANNA0001", "U0BEN00002", "U0CARL0003", "U0ADMIN001"
WS_ADMIN = "U0OWNER001"  # a Slack workspace admin who is not in settings.toml
GENERAL, DSL, MOBILE = "C0GENERAL1", "C0DSLTEAM1", "C0MOBILE01"


def environment(x: XEmulator, slack: SlackEmulator, redis_url: str, **more: str) -> dict[str, str]:
    """The process environment the bridge is started with, as an operator would set it."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "X_API_KEY": X_KEYS["consumer_key"],
        "X_API_SECRET": X_KEYS["consumer_secret"],
        "X_ACCESS_TOKEN": X_KEYS["access_token"],
        "X_ACCESS_TOKEN_SECRET": X_KEYS["access_token_secret"],
        "REDIS_URL": redis_url,
        "SLACK_API_URL": slack.url,
        "X_API_URL": x.url,
        **more,
    }


def block_text(blocks: list[dict]) -> str:
    """Every text a person sees in ``blocks``."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)
