"""Prometheus metrics of an API process, and the text `GET /metrics` answers.

Per process (prometheus_client's process-wide registry): requests by method, route template and
status, their latency, bytes of artifacts served, plus the service's counters
(`venvd.service._metrics`: resolution and environment cache hits/misses, builds queued, running,
finished and their durations) and the client library's process metrics. Several API processes
each expose their own: scrape every one (Prometheus sums them with ``sum by``); there is no
multiprocess mode to set up, since each `venvd serve` is one process.

Fleet-wide figures are read from the store at scrape time (so every node reports the same):
environments by status and the queue depth (builds queued and not started).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from venvd.service import _metrics as service_metrics

__all__ = ["enable", "observe_request", "render"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0)
_ARTIFACT_ROUTE = "/v1/environments/{env_id}/artifact"

_http: dict[str, Any] = {}
_lock = threading.Lock()


def enable() -> None:
    """Create the metrics of this process (once; idempotent)."""
    service_metrics.enable()
    with _lock:
        if _http:
            return
        from prometheus_client import Counter, Histogram

        _http.update(
            requests=Counter("venvd_http_requests", "HTTP requests answered, by method, route "
                             "template and status", ["method", "route", "status"]),
            latency=Histogram("venvd_http_request_duration_seconds", "Time from a request's "
                              "arrival to the end of its response, by method and route template",
                              ["method", "route"], buckets=_LATENCY_BUCKETS),
            artifact_bytes=Counter("venvd_artifact_bytes_served", "Bytes of environment "
                                   "archives sent by the artifact route"),
        )


def observe_request(method: str, route: str, status: int, seconds: float, sent: int) -> None:
    if not _http:
        return
    _http["requests"].labels(method, route, str(status)).inc()
    _http["latency"].labels(method, route).observe(seconds)
    if route == _ARTIFACT_ROUTE and sent:
        _http["artifact_bytes"].inc(sent)


class _StoreCollector:
    """Gauges read from the store when scraped: the same on every API node."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        counts = self.store.environment_counts()
        by_status = GaugeMetricFamily("venvd_environments", "Environments in the store, by "
                                      "status", labels=["status"])
        for status, count in sorted(counts.items()):
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily("venvd_queue_depth", "Builds queued and not yet started "
                                "(environments in status queued), fleet-wide",
                                value=counts.get("queued", 0))
        yield GaugeMetricFamily("venvd_builds_building", "Builds running now, fleet-wide "
                                "(environments in status building)",
                                value=counts.get("building", 0))


def render(store: Any) -> tuple[bytes, str]:
    """The exposition text of this process's registry and the store's gauges, and its type."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    fleet = CollectorRegistry(auto_describe=False)
    fleet.register(_StoreCollector(store))
    return generate_latest(REGISTRY) + generate_latest(fleet), CONTENT_TYPE_LATEST
