"""Multi-process fleet tests: real subprocesses, the real broker, the real PostgreSQL."""

from tests.fleet._queue_support import (  # noqa: F401 - fixtures
    fleet,
    fleet_database_url,
    fleet_index,
    rabbitmq_url,
    unique_queue,
)
