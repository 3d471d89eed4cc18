"""`BuildQueue`: publish build jobs (environment ids) and run a Celery worker that hands them to a
handler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BuildQueue"]

_log = logging.getLogger("venvd.queue")

TASK_NAME = "venvd.build_environment"
# A job whose handler raised (the store unreachable) is published again this much later, this many
# times at most; after that the relay re-publishes the build if it is still unfinished.
_RETRY_SECONDS = 10
_MAX_RETRIES = 60
# A redelivered job (its consumer's connection dropped) whose build still looks owned: that owner
# may be dying right now (killed, its connection closed before its process was gone), so look again
# this much later, this many times, before leaving the build to its owner (and the relay).
HELD = "held"
_HELD_RETRY_SECONDS = 2
_HELD_RETRIES = 3


class BuildQueue:
    """One broker queue of build jobs. Thread-safe; `publish` blocks until the broker confirmed
    the job (or raises after a few seconds when it cannot be reached)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        """The Celery application (created on first use)."""
        with self._lock:
            if self._app is None:
                self._app = _make_app(self.url, self.name)
            return self._app

    def publish(self, env_id: str) -> None:
        """Hand a build job to the broker (durable, confirmed); raises when it cannot."""
        self.app.send_task(
            TASK_NAME,
            args=[env_id],
            queue=self.name,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5,
                          "interval_max": 1},
        )

    def depth(self) -> int:
        """Jobs waiting in the queue (not delivered to a worker); raises when the broker is
        unreachable."""
        from amqp.exceptions import NotFound  # type: ignore[import-untyped]

        with self.app.connection_for_write() as conn:
            try:
                _, count, _ = conn.default_channel.queue_declare(self.name, passive=True)
            except NotFound:
                return 0  # nothing was ever published or consumed
            return int(count)

    def run_worker(
        self,
        handler: Callable[[str], str],
        *,
        concurrency: int,
        loglevel: str = "info",
        hostname: str | None = None,
    ) -> None:
        """Consume jobs with `concurrency` threads, each calling `handler(env_id)` (which returns
        what it did; `"held"`: another live owner builds it); blocks until the worker is stopped
        (SIGTERM/SIGINT: warm shutdown, the running builds finish)."""
        app = self.app

        @app.task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
        def build_environment(task: Any, env_id: str) -> str:
            try:
                outcome = handler(env_id)
            except Exception as exc:
                _log.exception("job for environment %s failed; retrying in %ss", env_id, _RETRY_SECONDS)
                raise task.retry(exc=exc, countdown=_RETRY_SECONDS, max_retries=_MAX_RETRIES) from exc
            redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
            if outcome == HELD and (redelivered or task.request.retries) \
                    and task.request.retries < _HELD_RETRIES:
                _log.info("job for environment %s: redelivered while owned; looking again in %ss",
                          env_id, _HELD_RETRY_SECONDS)
                raise task.retry(countdown=_HELD_RETRY_SECONDS, max_retries=_HELD_RETRIES)
            _log.info("job for environment %s: %s", env_id, outcome)
            return outcome

        argv = [
            "worker",
            "--pool=threads",
            f"--concurrency={max(1, concurrency)}",
            f"--queues={self.name}",
            f"--loglevel={loglevel}",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        if hostname:
            argv.append(f"--hostname={hostname}")
        app.worker_main(argv=argv)

    def purge_and_delete(self) -> None:
        """Remove the queue and its jobs (tests and tear-downs)."""
        with self.app.connection_for_write() as conn:
            conn.default_channel.queue_delete(self.name)

    def close(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.close()
                self._app = None


def _make_app(url: str, name: str) -> Any:
    from celery import Celery  # type: ignore[import-untyped]

    app = Celery("venvd", broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=name,
        task_create_missing_queues=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # The job is on the broker (a durable queue, a persistent message) when publish returns.
        broker_transport_options={"confirm_publish": True},
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        # A worker that lost its broker connection keeps its running builds: their jobs are
        # redelivered to another worker, which finds the build owned by a live process and skips.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        enable_utc=True,
    )
    return app
