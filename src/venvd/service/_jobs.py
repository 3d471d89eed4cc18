"""Who runs a queued build: this process's own pool (the embedded default), or `venvd worker`s taking
build jobs from a queue (Celery on RabbitMQ, `venvd.queue`) when `queue_url` is set.

A job is just an environment id; the environment record in the store is the truth about the build.

Queue design (the record is the outbox):

- Enqueueing. `create` commits the record (`queued`, no owner) first, then publishes the job with
  publisher confirms (the broker has it on a durable queue when `publish` returns), then stamps
  `published_at`. No job is ever published without a committed record. If the broker is down, or
  the API process dies between the commit and the publish, the record stays `queued` and
  unpublished: the relay (`QueueJobs`'s sweeper thread, one per API node) re-publishes every
  `queue_sweep_seconds` the unfinished records that may have no job (`Store.republish_candidates`:
  unclaimed and never published; unclaimed and published longer ago than the stale timeout, in case
  an operator purged the queue; claimed by an owner silent for longer than its lease). The relay
  takes each record with a compare-and-set on `published_at`, so of several API nodes one publishes
  it per period, and at most `_RELAY_BATCH` records per round: bounded and idempotent. So no record
  stays `queued` without a job for longer than a sweep period once the broker is back.
- Delivery: at least once. Jobs are acknowledged late (after the build ended), with prefetch 1 per
  build slot: a worker killed with kill -9 drops its AMQP connection and RabbitMQ delivers its
  unacknowledged jobs again at once to another worker. Jobs may also arrive twice (relay, racing
  API nodes re-queueing a failed build), so the handler (`run_job`) is idempotent by id: no record
  → acked and dropped; `ready`/`failed` → acked and skipped; owned by a live owner (a process of
  this host that runs, or any owner that renewed its lease within `build_lease_seconds`) → acked
  and skipped, that owner's own job still covers the build (and the relay, should it die after
  acknowledging). Otherwise the worker claims the build by a compare-and-set on the recorded owner
  (`BuildRunner.start`), so no two builds of one id run at once, and builds it.
- A killed worker: its job is redelivered, the new worker sees the recorded owner dead (same host:
  its pid is gone; another host: its lease ran out; until then the job is skipped and the relay
  re-publishes it once the lease has run out) and takes the build over. Artifacts are renamed into
  place, so the killed build left nothing visible.
- Bounded retries: each start counts an attempt in the record; a build started
  `build_max_attempts` times without a verdict (crash loop) or that failed with `internal_error`
  that often is not started again. A failure on the build's inputs is final; an upstream failure
  (index outage) is retried on the next request, with the count reset.

An operator runs RabbitMQ (any durable setup; `consumer_timeout` above the longest build), the
PostgreSQL store, `venvd serve` (with `queue_url`) on API nodes and `venvd worker` (same settings)
on build machines.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Protocol

from venvd.queue import BuildQueue  # light: Celery itself is imported when a queue is used
from venvd.service._builds import BuildRunner, internal_error
from venvd.service._owner import Owner, owner_is_dead
from venvd.store import EnvironmentRecord, Store

__all__ = ["BuildJobs", "LocalJobs", "QueueJobs", "holder_is_alive"]

_log = logging.getLogger("venvd.builds")

_UNFINISHED = ("queued", "building")
_RELAY_BATCH = 100  # records re-published at most per relay round


class BuildJobs(Protocol):
    """Runs the builds of queued records (`submit`), and tells whether a request should take an
    unfinished build over."""

    def submit(self, record: EnvironmentRecord, *, taking_over: bool = False) -> bool: ...

    def should_take_over(self, record: EnvironmentRecord) -> bool: ...

    def recover(self) -> list[str]: ...

    def close(self) -> None: ...


def holder_is_alive(record: EnvironmentRecord, lease: float) -> bool:
    """Whether the recorded owner of an unfinished build may still run it: a process of this host
    that runs (judged by pid and start identity), or any owner that wrote within `lease`
    seconds. False when nobody owns it."""
    if record.owner_token is None:
        return False
    if record.owner_host == _host() and owner_is_dead(
        record.owner_pid, record.owner_start, record.owner_token
    ):
        return False
    return bool(
        record.owner_host == _host()
        or datetime.now(UTC) - record.updated_at < timedelta(seconds=lease)
    )


def _host() -> str:
    import socket

    return socket.gethostname()


class LocalJobs:
    """Builds run on this process's thread pool, owned by this process's `owner`."""

    def __init__(self, store: Store, runner: BuildRunner, owner: Owner, *, workers: int,
                 stale_after: timedelta) -> None:
        self._store = store
        self._runner = runner
        self._owner = owner
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="venvd-build")
        self._jobs: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stale_after = stale_after

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def should_take_over(self, record: EnvironmentRecord) -> bool:
        if record.id in self._jobs:
            return False
        age = datetime.now(UTC) - record.updated_at
        return age > self._stale_after or self._abandoned(record)

    def _abandoned(self, record: EnvironmentRecord) -> bool:
        """True when the build's recorded owner is a process of this host that is gone."""
        return (
            record.owner_host == self._owner.host
            and record.owner_token != self._owner.token
            and owner_is_dead(record.owner_pid, record.owner_start, record.owner_token)
        )

    def submit(self, record: EnvironmentRecord, *, taking_over: bool = False) -> bool:
        """Record this process as the build's owner (a compare-and-set on the recorded one) and
        queue it on the pool; False when another job or process got it first."""
        env_id = record.id
        with self._lock:
            job = self._jobs.get(env_id)
            if job is not None and not job.done():
                return False
            step = "interrupted" if taking_over else "queued"
            if not self._store.claim_environment(
                env_id, record.owner_token, attempt=False, status="queued", error=None,
                progress={"step": step, "done": 0, "total": 0}, **self._owner.columns(),
            ):
                return False
            try:
                self._jobs[env_id] = self._pool.submit(self._run, env_id)
            except RuntimeError as exc:  # the pool is shut down: this Service is closing
                self._store.claim_environment(
                    env_id, self._owner.token, status="failed",
                    error=internal_error(f"not built: {exc}"),
                )
                raise
            return True

    def _run(self, env_id: str) -> None:
        try:
            record = self._store.get_environment(env_id)
            if record is not None and self._runner.start(record, self._owner):
                self._runner.run(env_id, self._owner)
        except Exception:
            _log.exception("environment %s: its build could not start", env_id)
        finally:
            with self._lock:
                self._jobs.pop(env_id, None)

    def recover(self) -> list[str]:
        """Requeue at once the builds that a dead process of this host left `queued` or `building`
        (a server killed mid-build); the ids taken over. Each is claimed with a compare-and-set on
        its old owner, so two servers starting together take each build once."""
        taken = []
        for record in self._store.unfinished_environments(self._owner.host):
            if not self._abandoned(record):
                continue
            _log.warning(
                "environment %s was left %s by process %s (gone): building it again",
                record.id, record.status, record.owner_pid,
            )
            if self.submit(record, taking_over=True):
                taken.append(record.id)
        return taken


class QueueJobs:
    """Builds run by `venvd worker`s: `submit` publishes a job, a relay thread re-publishes what may
    have none (see the module docstring), `run_job` is the worker's side."""

    def __init__(self, store: Store, runner: BuildRunner, owner: Owner, queue: BuildQueue, *,
                 sweep_seconds: float, lost_after: float, relay: bool) -> None:
        self._store = store
        self._runner = runner
        self._owner = owner
        self._queue = queue
        self._sweep_seconds = sweep_seconds
        self._lost_after = lost_after
        self._stop = threading.Event()
        self._relay: threading.Thread | None = None
        if relay:
            self._relay = threading.Thread(target=self._relay_loop, name="venvd-relay", daemon=True)
            self._relay.start()

    def close(self) -> None:
        self._stop.set()
        if self._relay is not None:
            self._relay.join(timeout=10)
        self._queue.close()

    def should_take_over(self, record: EnvironmentRecord) -> bool:
        return False  # a worker's redelivered job, or the relay, does it

    def recover(self) -> list[str]:
        return []  # the relay does it

    def submit(self, record: EnvironmentRecord, *, taking_over: bool = False) -> bool:
        """Publish a job for the committed, queued `record`; False (logged) when the broker
        cannot take it now: the relay publishes it later."""
        return self._publish(record.id, record.published_at)

    def _publish(self, env_id: str, expected: datetime | None) -> bool:
        try:
            self._queue.publish(env_id)
        except Exception as exc:
            _log.warning(
                "environment %s: its build job was not published (%s); the relay publishes it later",
                env_id, exc,
            )
            return False
        self._store.mark_environment_published(env_id, expected, datetime.now(UTC))
        return True

    # -- the relay (API nodes) ------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """One relay round: re-publish the unfinished builds that may have no job; their ids.
        Stops at the first publication that fails (the broker is down: next round)."""
        published = []
        candidates = self._store.republish_candidates(
            quiet_for=self._sweep_seconds, lost_after=self._lost_after,
            lease=self._runner.lease, limit=_RELAY_BATCH,
        )
        for record in candidates:
            if record.owner_token is not None and holder_is_alive(record, self._runner.lease):
                continue
            now = datetime.now(UTC)
            if not self._store.mark_environment_published(record.id, record.published_at, now):
                continue  # another relay took it
            try:
                self._queue.publish(record.id)
            except Exception as exc:
                self._store.mark_environment_published(record.id, now, record.published_at)
                _log.warning("relay: the queue does not take jobs (%s); trying again later", exc)
                break
            _log.info("relay: published the build job of environment %s (%s)", record.id, record.status)
            published.append(record.id)
        return published

    def _relay_loop(self) -> None:
        while not self._stop.wait(self._sweep_seconds):
            try:
                self.sweep()
            except Exception:
                _log.exception("relay: a round failed")

    # -- the worker's side ------------------------------------------------------------------------
    def run_job(self, env_id: str) -> str:
        """Handle one delivered job (idempotent, see the module docstring); what was done:
        "dropped" (no record), "skipped" (finished), "held" (a live owner builds it), "lost"
        (another worker claimed it first), "gave up" (too many attempts) or "built". Raises only
        when the store cannot be read (the job is then retried later)."""
        record = self._store.get_environment(env_id)
        if record is None:
            _log.warning("job for environment %s: no such record; dropped", env_id)
            return "dropped"
        if record.status not in _UNFINISHED:
            _log.info("job for environment %s: already %s; skipped", env_id, record.status)
            return "skipped"
        if holder_is_alive(record, self._runner.lease):
            _log.info("job for environment %s: process %s on %s builds it; skipped",
                      env_id, record.owner_pid, record.owner_host)
            return "held"
        if record.attempts >= self._runner.max_attempts:
            self._runner.start(record, self._owner)  # ends it failed
            return "gave up"
        step = "started" if record.owner_token is None else "interrupted"
        if not self._runner.start(record, self._owner, step=step):
            _log.info("job for environment %s: another worker claimed it first", env_id)
            return "lost"
        _log.info("building environment %s (attempt %d)", env_id, record.attempts + 1)
        self._runner.run(env_id, self._owner)
        return "built"
