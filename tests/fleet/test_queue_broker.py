"""`BuildQueue` on the real broker: published jobs wait durably in the named queue, counted by
`depth`; a broker that cannot be reached fails `publish` promptly (the relay publishes later)."""

from __future__ import annotations

import time

import pytest
from kombu.exceptions import OperationalError

from tests.fleet._queue_support import TcpGate
from venvd.queue import BuildQueue


def test_published_jobs_wait_in_the_queue(rabbitmq_url: str, unique_queue: str) -> None:
    queue = BuildQueue(rabbitmq_url, unique_queue)
    try:
        assert queue.depth() == 0
        queue.publish("a" * 64)
        queue.publish("b" * 64)
        assert queue.depth() == 2
    finally:
        queue.close()


def test_publishing_to_an_unreachable_broker_fails_promptly(rabbitmq_url: str) -> None:
    gate = TcpGate(5672)  # never opened: connections are refused
    queue = BuildQueue(rabbitmq_url.replace("127.0.0.1:5672", f"127.0.0.1:{gate.port}"), "unused")
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError, match=r"(?i)refused"):
            queue.publish("a" * 64)
        assert time.monotonic() - started < 15
    finally:
        queue.close()
