"""Service metrics (Prometheus): resolution and environment cache hits and misses, builds.

Every function here is a no-op until `enable()` is called, which the HTTP API does when it builds
its app: importing prometheus_client costs ~70 ms, which the in-process CLI should not pay. The
metrics live in prometheus_client's process-wide registry, so each process counts what it did
itself (an API process its requests and resolutions, the process running a build that build);
fleet-wide figures (queue depth, environments by status) are read from the store at scrape time
by the API (see `venvd.api._metrics`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "build_queued",
    "build_started",
    "enable",
    "enabled",
    "environment_lookup",
    "resolution_lookup",
]

# Build durations: seconds (a cached environment packs in well under a second, a cold one with
# sdist builds takes minutes).
_BUILD_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

_metrics: dict[str, Any] = {}
_lock = threading.Lock()


def enable() -> None:
    """Create the service metrics in the process-wide registry (once per process)."""
    with _lock:
        if _metrics:
            return
        from prometheus_client import Counter, Gauge, Histogram

        _metrics.update(
            resolutions=Counter("venvd_resolution_cache", "Resolutions asked of this process, "
                                "by whether a fresh cached lock answered them", ["result"]),
            environments=Counter("venvd_environment_cache", "Environment requests of this "
                                 "process, by whether an existing environment answered them "
                                 "(hit) or a build was queued (miss)", ["result"]),
            queued=Counter("venvd_builds_queued", "Builds queued by this process"),
            running=Gauge("venvd_builds_running", "Builds running in this process now"),
            finished=Counter("venvd_builds_finished", "Builds that ended in this process, by "
                             "outcome", ["outcome"]),
            duration=Histogram("venvd_build_duration_seconds", "Wall time of the builds that "
                               "ended in this process, by outcome", ["outcome"],
                               buckets=_BUILD_BUCKETS),
        )
        for result in ("hit", "miss"):  # present (at 0) from the first scrape
            _metrics["resolutions"].labels(result)
            _metrics["environments"].labels(result)
        for outcome in ("ready", "failed"):
            _metrics["finished"].labels(outcome)


def enabled() -> bool:
    return bool(_metrics)


def resolution_lookup(cached: bool) -> None:
    if _metrics:
        _metrics["resolutions"].labels("hit" if cached else "miss").inc()


def environment_lookup(hit: bool) -> None:
    if _metrics:
        _metrics["environments"].labels("hit" if hit else "miss").inc()


def build_queued() -> None:
    if _metrics:
        _metrics["queued"].inc()


def build_started() -> Callable[[str], None]:
    """Count a build as running in this process; call the function returned once, with the
    outcome (``"ready"`` or ``"failed"``), when it ends."""
    if not _metrics:
        return _ignore
    started = time.perf_counter()
    _metrics["running"].inc()
    done = threading.Event()

    def finished(outcome: str) -> None:
        if done.is_set():
            return
        done.set()
        _metrics["running"].dec()
        _metrics["finished"].labels(outcome).inc()
        _metrics["duration"].labels(outcome).observe(time.perf_counter() - started)

    return finished


def _ignore(outcome: str) -> None:
    pass
