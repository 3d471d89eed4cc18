"""Build jobs on a distributed queue: Celery on a RabbitMQ broker.

Why Celery on RabbitMQ: an existing engine with the delivery guarantee the builds need. Jobs are
acknowledged late (after the build ended, `task_acks_late`), one unacknowledged job per build slot
(`worker_prefetch_multiplier=1`), on a durable queue with persistent messages and publisher confirms:
a published job survives a broker restart, and the jobs of a worker killed with kill -9 are given
again at once to another consumer (RabbitMQ requeues a closed connection's unacknowledged
deliveries; no visibility timeout to wait for, as with Redis). Delivery is at least once, so the
job handler must be idempotent (see `venvd.service._jobs`).

This layer knows nothing of builds: a job is an environment id handed to a handler. Celery is
imported only when a queue is used.
"""

from __future__ import annotations

from venvd.queue._celery import BuildQueue

__all__ = ["BuildQueue"]
