"""X's errors, as the core sees them: each with a ``reason`` an agent in Slack can read.

The mapping from X's status codes and problem bodies lives here with them:
https://docs.x.com/x-api/fundamentals/response-codes-and-errors
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from bridge.core.log import kv

log = logging.getLogger(__name__)


class XError(Exception):
    """An X call failed. ``reason`` is a sentence for an agent in Slack; it never holds a secret.

    ``fix``: what an operator must do before any retry can succeed (None: time alone may fix it).
    """

    retryable = False

    def __init__(self, reason: str, *, status: int | None = None, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.fix = fix


class RateLimited(XError):
    """429: wait until ``reset_at`` (epoch seconds; None when X did not say). ``daily``: the 24-hour
    cap on posting, not the 15-minute window."""

    retryable = True

    def __init__(self, reset_at: float | None, daily: bool, reason: str | None = None) -> None:
        when = time.strftime("%H:%M UTC", time.gmtime(reset_at)) if reset_at else "in a moment"
        which = "X's 24-hour posting limit for the brand account" if daily else "X's rate limit"
        super().__init__(reason or f"{which} is used up; the bridge tries again {when}", status=429)
        self.reset_at = reset_at
        self.daily = daily


class XUnavailable(XError):
    """5xx, timeouts, connection errors, or an answer the bridge cannot read."""

    retryable = True


class XAuthError(XError):
    """401: the brand account's keys or tokens are wrong or revoked."""


class ReplyNotAllowed(XError):
    """403: X lets an app reply only to a tweet whose author mentioned or quoted the brand."""

    def __init__(self, brand_username: str | None) -> None:
        brand = f"@{brand_username}" if brand_username else "the brand"
        super().__init__(f"X refused: the customer did not mention or quote {brand}, so the brand cannot "
                         "reply publicly", status=403)


class TweetGone(XError):
    """The customer's tweet was deleted (or is no longer visible to the brand)."""

    def __init__(self, status: int | None = None) -> None:
        super().__init__("X refused: the customer's tweet was deleted (or is no longer visible), so it "
                         "cannot be answered", status=status)


class XRefused(XError):
    """Any other 4xx; ``reason`` carries X's own explanation."""


# Every X API request that is not a read changes something on the account.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class DryRunRefused(XError):
    """A write to X while ``[x] dry_run`` is on. Not retryable: it would be refused again."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"dry run is on ([x] dry_run = true), so nothing is posted to X ({method} {path} "
                         "was not sent)")


def error_from(response: requests.Response, brand_username: str | None) -> XError:
    """X's status and problem body -> the matching XError.

    Problems: https://docs.x.com/x-api/fundamentals/response-codes-and-errors
    """
    status = response.status_code
    try:
        body = response.json()
    except requests.JSONDecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    # An invalid-request problem says what is wrong in errors[].message, its detail is generic.
    detail = str(next((e["message"] for e in errors if "message" in e), "") or body.get("detail")
                 or response.reason or f"HTTP {status}")
    problem_type = str(body.get("type") or "")
    said = detail.lower()
    if status == 429:
        headers = response.headers
        for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
            if headers.get(f"{prefix}-remaining") == "0":
                return RateLimited(_float(headers.get(f"{prefix}-reset")), daily=True)
        if problem_type.endswith("/usage-capped"):
            return RateLimited(None, daily=False, reason=f"X's usage cap for this app is used up ({detail})")
        return RateLimited(_float(headers.get("x-rate-limit-reset")), daily=False)
    if status == 401:
        return XAuthError("X rejected the brand account's credentials (HTTP 401): check X_API_KEY, "
                          "X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET", status=401,
                          fix="set working X credentials (python -m bridge check tells) and restart the worker")
    if status >= 500:
        return XUnavailable(f"X is not answering right now (HTTP {status}); the bridge will retry",
                            status=status)
    if status == 400 and (refused := _refused_fields(errors)):
        # The first sign of a wire-format change such as OpenAPI 2.167's Tweet -> Post rename, whose
        # expansions no longer know referenced_tweets.id: no retry helps until the bridge follows.
        log.error(kv("x.fields_refused", fields=refused, hint="X no longer knows fields the bridge asks for "
                     "(a Tweet->Post rename as in OpenAPI 2.167?); bridge/x/wire.py FIELDS must follow"))
        return XUnavailable(f"X refused the fields the bridge asks for ({refused}): X changed its API and an "
                            "operator must update the bridge", status=400,
                            fix="update xdesk to a version that speaks X's current API")
    if status == 403 and ("mentioned or otherwise engaged" in said or "reply to this conversation" in said):
        return ReplyNotAllowed(brand_username)
    if "deleted or not visible" in said or status == 404 or problem_type.endswith("/resource-not-found"):
        return TweetGone(status)
    if "shorter" in said or "too long" in said:
        return XRefused("X refused: the reply is longer than 280 characters as X counts them", status=status)
    return XRefused(f"X refused: {detail}", status=status)


FIELD_PARAMETERS = ("expansions", "tweet.fields", "user.fields", "media.fields", "dm_event.fields")


def _refused_fields(errors: list[dict[str, Any]]) -> str:
    """``expansions=referenced_tweets.id`` for each field parameter X's 400 names, comma-separated."""
    named = [f"{name}={value}" for e in errors for name, values in (e.get("parameters") or {}).items()
             if name in FIELD_PARAMETERS for value in (values if isinstance(values, list) else [values])]
    return ", ".join(named)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
