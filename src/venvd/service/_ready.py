"""Readiness checks: named callables that raise when a dependency of the service is unreachable.

`Service.ready_checks` holds them; the parts of the service that need something shared register
theirs there (the object store, the queue...). `GET /v1/ready` runs them all, each within a time
bound, and answers 503 naming those that failed. A check must be cheap (one round trip).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ReadyCheck", "default_checks", "queue_check", "store_check"]

ReadyCheck = Callable[[], None]


def store_check(store: Any) -> ReadyCheck:
    def check() -> None:
        store.ping()

    return check


def queue_check(url: str, timeout: float = 3.0) -> ReadyCheck | None:
    """A connection check of the broker at `url` with kombu, or None when kombu is not installed
    (then the queue is not checked: the readiness of a node without the fleet extra)."""
    import importlib

    try:
        # The fleet extra's (Celery's transport); by name, so no stubs are needed. kombu
        # replaces its module object, so importlib.util.find_spec cannot be asked instead.
        kombu: Any = importlib.import_module("kombu")
    except ImportError:
        return None

    def check() -> None:
        with kombu.Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)

    return check


def default_checks(settings: Any, store: Any) -> list[tuple[str, ReadyCheck]]:
    """The store, and the queue when a `queue_url` is configured and kombu is available."""
    checks: list[tuple[str, ReadyCheck]] = [("store", store_check(store))]
    queue_url = getattr(settings, "queue_url", None)
    if queue_url:
        queue = queue_check(queue_url)
        if queue is not None:
            checks.append(("queue", queue))
    return checks
