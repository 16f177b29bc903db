"""The outbox's own bookkeeping, on a real Redis."""

from __future__ import annotations

from collections.abc import Callable

import redis

from bridge.storage.outbox import Outbox


class _InterleavingClient(redis.Redis):
    """A client after whose first command another client's step runs (a worker on another thread)."""

    then: Callable[[], None] | None = None

    def execute_command(self, *args, **options):  # type: ignore[override]
        result = super().execute_command(*args, **options)
        if self.then:
            self.then, step = None, self.then
            step()
        return result


def test_pending_counts_a_job_moved_to_another_lane_while_it_counts(redis_url: str) -> None:
    # A job done on one lane queues its follow-up on another in the same step: whenever pending()
    # looks, the follow-up or the job itself is there. Counting lane by lane once saw neither, and
    # a test "drained" before a thread notice was posted.
    plain = redis.Redis.from_url(redis_url, decode_responses=True)
    worker = Outbox(plain, "xdesk:")
    worker.push("x", {"id": "reply:1", "kind": "reply"})

    def complete() -> None:
        worker.complete("x", {"id": "reply:1"}, True, [("post:C0DSLTEAM1", {"id": "notice:1", "kind": "notice"})])

    client = _InterleavingClient.from_url(redis_url, decode_responses=True)
    client.then = complete
    counting = Outbox(client, "xdesk:")
    assert counting.pending() == 1
    assert worker.lanes() == ["post:C0DSLTEAM1"]
