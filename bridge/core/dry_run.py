"""Dry run (``[x] dry_run = true``): everything works as live, but nothing is posted to X.

For trying xdesk on the real brand account before going live: cases come in, claims and notes work,
and a claimer's reply shows in its thread as what would have been tweeted. Reads (polling, the
timeline look-ups) go to X as usual. Two layers: each feature that would write to X checks the setting
and shows its would-be effect instead (:func:`would_have_tweeted` for replies), and the X client
itself refuses every write (:class:`bridge.x.errors.DryRunRefused`), so that no feature can post by mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.core.models import Case, tweet_url
from bridge.core.mrkdwn import escape_mrkdwn


def would_have_tweeted(case: Case, parts: Sequence[str], brand_username: str) -> str:
    """The thread notice for a reply that dry run kept from X: each part quoted, as inert text."""
    customer = tweet_url(case.customer.username, case.latest_customer_tweet)
    quoted = "\n\n".join("\n".join(f">{escape_mrkdwn(line)}" for line in part.split("\n")) for part in parts)
    chain = f" a chain of {len(parts)} tweets" if len(parts) > 1 else ""
    return (f"Dry run: not tweeted. Would have tweeted{chain} as @{brand_username} in reply to {customer}:\n"
            f"{quoted}")
