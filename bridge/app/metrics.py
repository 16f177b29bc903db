"""``GET /metrics`` and ``GET /readyz``: the desk's figures for Prometheus, and whether it can work.

Every figure is read from Redis at scrape time (bridge/storage/figures.py counts them where the work
is done), so any ``web`` answers the same numbers. They are rendered by prometheus-client through a
custom collector: https://prometheus.github.io/client_python/collector/custom/
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import redis
import requests
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from bridge.core.log import kv
from bridge.storage.figures import BILLED_READS, FIRST_RESPONSE_BUCKETS, Figures
from bridge.storage.loops import REDIS_ERRORS
from bridge.storage.store import Store

log = logging.getLogger(__name__)

HEARTBEAT_FRESH = 30.0  # seconds: an older freshest heartbeat means no worker is working (SPEC)
AUTH_CHECKED_FOR = 60.0  # seconds a passed auth.test is trusted by /readyz


class DeskCollector(Collector):
    """The SPEC's ``xdesk_*`` metrics, from Redis."""

    def __init__(self, store: Store, figures: Figures) -> None:
        self.store = store
        self.figures = figures

    def collect(self) -> Iterator[object]:
        totals = self.figures.totals()
        opened = CounterMetricFamily("xdesk_cases_opened", "Cases opened, by topic (\"\": the default channel)",
                                     labels=["topic"])
        replies = CounterMetricFamily("xdesk_replies_sent", "Replies sent as the brand, by kind", labels=["kind"])
        requests_ = CounterMetricFamily("xdesk_x_requests", "Calls to X, by endpoint and answer",
                                        labels=["endpoint", "status"])
        for name, value in sorted(totals.items()):
            what, _, label = name.partition("|")
            if what == "cases_opened":
                opened.add_metric([label], float(value))
            elif what == "replies":
                replies.add_metric([label], float(value))
            elif what == "xreq":
                endpoint, _, status = label.rpartition("|")
                requests_.add_metric([endpoint, status], float(value))
        for kind in ("tweet", "dm"):
            if f"replies|{kind}" not in totals:
                replies.add_metric([kind], 0.0)
        yield from (opened, replies, requests_)
        count = float(totals.get("fr_count", 0))
        buckets = [(str(float(le)), float(totals.get(f"fr_le|{le}", 0))) for le in FIRST_RESPONSE_BUCKETS]
        yield HistogramMetricFamily("xdesk_first_response_seconds",
                                    "Time from a case's first customer message to the brand's first reply, "
                                    "in open hours", buckets=[*buckets, ("+Inf", count)],
                                    sum_value=float(totals.get("fr_sum", 0)))
        r, keys = self.store.r, self.store.keys
        now = time.time()
        oldest = r.zrange(keys.queue, 0, 0, withscores=True)
        yield GaugeMetricFamily("xdesk_unclaimed_cases", "Open cases nobody has claimed", value=r.zcard(keys.queue))
        yield GaugeMetricFamily("xdesk_oldest_unclaimed_seconds", "How long the oldest unclaimed case has waited",
                                value=max(0.0, now - oldest[0][1]) if oldest else 0.0)
        yield GaugeMetricFamily("xdesk_outbox_jobs", "Jobs waiting in the outbox", value=self.store.outbox.pending())
        yield GaugeMetricFamily("xdesk_dead_letters", "Jobs given up on (python -m bridge outbox)",
                                value=r.llen(keys.dead))
        limits = GaugeMetricFamily("xdesk_x_rate_limit_remaining", "X's budget left, by endpoint, as X last said",
                                   labels=["endpoint"])
        for endpoint, remaining in sorted(self.figures.x_limits().items()):
            limits.add_metric([endpoint], float(remaining))
        yield limits
        yield CounterMetricFamily("xdesk_x_cost_usd", "What X bills for the calls made (estimate, [x.prices])",
                                  value=float(totals.get("xcost", 0)))
        yield CounterMetricFamily("xdesk_slack_app_rate_limited", "Times Slack said it dropped the app's events "
                                  "for a minute (app_rate_limited)",
                                  value=float(totals.get("slack_app_rate_limited", 0)))
        age = self.figures.heartbeat_age()
        yield GaugeMetricFamily("xdesk_worker_heartbeat_age_seconds", "Seconds since the freshest worker was heard of",
                                value=age if age is not None else float("inf"))


def registry(store: Store, figures: Figures) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DeskCollector(store, figures))
    return reg


def x_observer(figures: Figures) -> Callable[[str, str, requests.Response | None], None]:
    """What the X adapter tells of each call, counted in Redis; X's answer is read only where X bills it."""

    def observe(endpoint: str, status: str, response: requests.Response | None) -> None:
        remaining = response.headers.get("x-rate-limit-remaining") if response is not None else None
        body = None
        if response is not None and endpoint in BILLED_READS and status.startswith("2"):
            try:
                body = response.json()
            except requests.JSONDecodeError:
                body = None  # the adapter says what is wrong with it
        try:
            figures.x_call(endpoint, status, int(remaining) if remaining and remaining.isdigit() else None,
                           body if isinstance(body, dict) else None)
        except REDIS_ERRORS as exc:  # a figure lost is better than a call to X failed
            log.warning(kv("figures.x_call_lost", endpoint=endpoint, error=type(exc).__name__))

    return observe


class Readiness:
    """``/readyz``: Redis answers, Slack accepted the token, a worker is alive (and, in Socket Mode,
    the socket is connected)."""

    def __init__(self, redis_client: redis.Redis, figures: Figures, auth_test: Callable[[], object],
                 socket_connected: Callable[[], bool] | None = None) -> None:
        self.redis = redis_client
        self.figures = figures
        self.auth_test = auth_test
        self.socket_connected = socket_connected
        self._auth_ok_until = 0.0

    def check(self) -> dict[str, str]:
        """What is not ready, by part, in words; empty when all is."""
        problems: dict[str, str] = {}
        try:
            self.redis.ping()
        except (*REDIS_ERRORS, OSError) as exc:
            return {"redis": f"not answering ({type(exc).__name__})", "worker": "unknown while Redis is down"}
        if time.monotonic() >= self._auth_ok_until:
            try:
                self.auth_test()
                self._auth_ok_until = time.monotonic() + AUTH_CHECKED_FOR
            except Exception as exc:  # whatever the Slack client raised, Slack is not usable now
                problems["slack"] = f"auth.test failed ({str(exc)[:80]})"
        if self.socket_connected is not None and not self.socket_connected():
            problems["socket_mode"] = "not connected"
        age = self.figures.heartbeat_age()
        if age is None:
            problems["worker"] = "no worker has been heard of"
        elif age > HEARTBEAT_FRESH:
            problems["worker"] = f"the freshest worker heartbeat is {age:.0f} s old"
        return problems
