"""Environment builds: lock + target → immutable artifact, built once, shared by every client.

The environment id is `builder.environment_key(lock, target, options)`. `create` is idempotent: the
store's atomic create decides which caller queues the build; everyone else gets the same record. Builds run
on a bounded worker pool off the request path; their progress and outcome live in the store, so any API
process can report on any build (the API streams progress from one listener per process:
LISTEN/NOTIFY on PostgreSQL, one shared poller on SQLite).

Artifacts live in the object store, behind `self.artifacts` (`_artifacts`): records keep the
artifact's object key, builds and downloads lease what they use from GC.

Every build ends `ready` or `failed`, whatever raises (a last-resort guarded update covers a failure
inside the failure handling). Each build records its owner (host, pid, start identity, token; see
`_owner`): a build whose owner died on this host is taken over at once, by `recover` at start-up or by
the next `create`, instead of after the stale timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from venvd.builder import (
    Artifact,
    BuildCache,
    BuildEvent,
    BuildOptions,
    build_environment,
    environment_key,
)
from venvd.errors import InvalidLock, LimitExceeded, NoSpaceLeft, NotFound, VenvdError
from venvd.lock import Lock
from venvd.objects import ObjectInfo, is_no_space
from venvd.service import _metrics
from venvd.service._artifacts import Artifacts
from venvd.service._owner import owner_is_dead
from venvd.store import EnvironmentRecord
from venvd.target import Target, target_from_request

if TYPE_CHECKING:
    from venvd.service._service import Service

__all__ = ["EnvironmentService"]

_log = logging.getLogger("venvd.builds")

_TERMINAL = ("ready", "failed")
_UNFINISHED = ("queued", "building")
# A store write that fails while ending a build is retried this many times (a database blip).
_FINAL_WRITE_ATTEMPTS = 3
_TRANSIENT = frozenset({"upstream_error", "upstream_timeout", "hash_mismatch", "internal_error",
                        "no_space"})


class EnvironmentService:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._store = service.store
        self.owner = service.owner
        settings = service.settings
        self.cache = BuildCache(settings.data_dir / "cache")
        self.options = BuildOptions(no_build=settings.no_build, build_timeout=settings.build_timeout,
                                    max_wheel_expanded_size=settings.max_wheel_expanded_size,
                                    max_wheel_expansion_ratio=settings.max_wheel_expansion_ratio)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.build_workers), thread_name_prefix="venvd-build"
        )
        self._jobs: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stale_after = timedelta(seconds=settings.build_timeout * 3 + 300)
        self.artifacts = Artifacts(self._store, self.cache, settings, rebuild=self.rebuild)

    def close(self) -> None:
        self.artifacts.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- create -------------------------------------------------------------------------------
    def create_from_json(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/environments: resolve if asked, then find or queue the build; the status document
        (plus `"created": bool`)."""
        if not isinstance(body, dict):
            raise InvalidLock("the request body must be a JSON object")
        resolved_cached: bool | None = None
        settings = self._service.settings
        max_tags = settings.max_compatible_tags
        if body.get("lock") is not None:
            lock = Lock.from_json(body["lock"])
            self._check_lock_bounds(lock)
            locked_target = Target.from_json(lock.target, max_tags=max_tags)
            target = (
                target_from_request(body["target"], max_tags=max_tags)
                if body.get("target") is not None
                else locked_target
            )
            if target.to_json() != locked_target.to_json():
                raise InvalidLock("the lock was resolved for another target than the one requested")
            self._check_files_are_listed(lock, target)
        else:
            target = target_from_request(body.get("target"), max_tags=max_tags)
            request = self._service.make_request(
                body.get("requirements") or [],
                target,
                constraints=body.get("constraints") or [],
                options=body.get("options"),
            )
            result = self._service.resolve(request)
            lock, resolved_cached = result.lock, result.cached
        doc, created = self.create(lock, target, request=body)
        doc["created"] = created
        if resolved_cached is not None:
            doc["resolution_cached"] = resolved_cached
        return doc

    def _check_lock_bounds(self, lock: Lock) -> None:
        """A posted lock within the request bounds (each of its packages costs an index fetch)."""
        settings = self._service.settings
        count = len(lock.packages)
        if count > settings.max_lock_packages:
            raise LimitExceeded(
                f"the lock has {count} packages, more than the {settings.max_lock_packages} allowed "
                "(the max_lock_packages setting)",
                limit="max_lock_packages", max=settings.max_lock_packages, actual=count)
        longest = max((len(p.name) for p in lock.packages), default=0)
        if longest > settings.max_requirement_length:
            raise LimitExceeded(
                f"a package name in the lock is {longest} characters long, more than the "
                f"{settings.max_requirement_length} allowed (the max_requirement_length setting)",
                limit="max_requirement_length", max=settings.max_requirement_length, actual=longest)
        self._service.limits.check(lock.requirements, lock.constraints)

    def _check_files_are_listed(self, lock: Lock, target: Target) -> None:
        """Refuse a client's lock unless each of its files is one our indexes list, as they list it:
        same URL and sha256 (the server downloads only what its own indexes serve), same file name
        and size, the package's name and version equal to those the file name carries, a wheel's tags
        usable on `target` (sdists are built, or refused by `no_build`, as for any lock). Else
        InvalidLock naming the package and file."""
        from venvd.service._resolve import listing_disagreement

        listed = self._service.resolutions.listed_files([p.name for p in lock.packages], target)
        for package in lock.packages:
            for file in package.files:
                entry = listed.get(package.name, {}).get((file.url, file.sha256))
                problem = (
                    "is not listed with that URL and sha256 on this server's indexes"
                    if entry is None
                    else listing_disagreement(
                        package.name, package.version, file.filename, file.size, entry, target
                    )
                )
                if problem:
                    raise InvalidLock(
                        f"lock file {file.filename} of {package.name} {package.version} {problem}",
                        package=package.name,
                        filename=file.filename,
                        url=file.url,
                    )

    def create(
        self, lock: Lock, target: Target, request: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], bool]:
        env_id = environment_key(lock, target, self.options)
        roots = sorted({_name(r) for r in lock.requirements})
        record, created = self._store.create_environment(
            env_id,
            lock_id=lock.id,
            target_key=target.key,
            status="queued",
            roots=roots,
            lock=lock.to_json(),
            request=_request_summary(request),
        )
        needs_build = created
        if not created and record.status == "failed":
            # An index outage may be over: try again. A build that failed on its own inputs (a broken
            # sdist, no compatible wheel) would fail the same way, so its failure stands.
            needs_build = (record.error or {}).get("code") in _TRANSIENT
        taking_over: EnvironmentRecord | None = None
        if not created and record.status in _UNFINISHED and env_id not in self._jobs:
            age = datetime.now(UTC) - record.updated_at
            if age > self._stale_after or self._abandoned(record):
                needs_build, taking_over = True, record
        if record.status == "ready" and self.artifacts.info(record) is None:
            needs_build = True  # the artifact was collected (GC) or lost: rebuild it
        _metrics.environment_lookup(hit=not needs_build)
        if needs_build:
            self._queue(env_id, lock, target, request, taking_over=taking_over)
        return self.status(env_id), created

    def _abandoned(self, record: EnvironmentRecord) -> bool:
        """True when the build's recorded owner is a process of this host that is gone."""
        return (
            record.owner_host == self.owner.host
            and record.owner_token != self.owner.token
            and owner_is_dead(record.owner_pid, record.owner_start, record.owner_token)
        )

    def recover(self) -> list[str]:
        """Requeue at once the builds that a dead process of this host left `queued` or `building`
        (a server killed mid-build); the ids taken over. Each is claimed with a compare-and-set on
        its old owner, so two servers starting together take each build once."""
        taken = []
        for record in self._store.unfinished_environments(self.owner.host):
            if not self._abandoned(record):
                continue
            _log.warning(
                "environment %s was left %s by process %s (gone): building it again",
                record.id, record.status, record.owner_pid,
            )
            try:
                lock = Lock.from_json(record.lock)
                target = Target.from_json(lock.target)
                if self._queue(record.id, lock, target, record.request, taking_over=record):
                    taken.append(record.id)
            except Exception as exc:
                _log.exception("environment %s cannot be built again", record.id)
                self._store.claim_environment(
                    record.id,
                    record.owner_token,
                    status="failed",
                    error=_internal_error(f"{type(exc).__name__}: {exc}"),
                )
        return taken

    def _queue(
        self,
        env_id: str,
        lock: Lock,
        target: Target,
        request: dict[str, Any] | None,
        *,
        taking_over: EnvironmentRecord | None = None,
    ) -> bool:
        """Record this process as the build's owner and submit it; False when another job or
        process got it first."""
        with self._lock:
            job = self._jobs.get(env_id)
            if job is not None and not job.done():
                return False
            fields: dict[str, Any] = {
                "status": "queued",
                "error": None,
                "progress": {
                    "step": "queued" if taking_over is None else "interrupted",
                    "done": 0,
                    "total": 0,
                },
                **self.owner.columns(),
            }
            if taking_over is not None:
                if not self._store.claim_environment(env_id, taking_over.owner_token, **fields):
                    return False
            else:
                self._store.update_environment(env_id, **fields)
            try:
                self._jobs[env_id] = self._pool.submit(self._run, env_id, lock, target, request)
                _metrics.build_queued()
            except RuntimeError as exc:  # the pool is shut down: this Service is closing
                self._store.update_environment(
                    env_id, status="failed", error=_internal_error(f"not built: {exc}")
                )
                raise
            return True

    def _run(self, env_id: str, lock: Lock, target: Target, request: dict[str, Any] | None) -> None:
        """Build, then record the outcome: always ends the record `ready` or `failed`."""
        started = time.perf_counter()
        step_starts: dict[str, float] = {}
        finished = _metrics.build_started()
        holder: str | None = None  # the build's leases on cache keys, released once it is recorded
        try:
            artifact: Artifact | None = None
            error: dict[str, Any] | None = None
            holder = self.artifacts.lease_build(env_id, lock, self.owner.token)
            try:
                artifact = self._build(env_id, lock, target, step_starts)
                key = self.artifacts.publish(artifact)
            except VenvdError as exc:
                error = exc.to_json()["error"]
            except Exception as exc:
                if is_no_space(exc):
                    error = NoSpaceLeft(f"no space left on device: {exc}", step="build").to_json()["error"]
                else:
                    _log.exception("build of environment %s failed unexpectedly", env_id)
                    error = _internal_error(f"{type(exc).__name__}: {exc}")
            if artifact is None or error is not None:
                self._store.update_environment(
                    env_id,
                    status="failed",
                    error=error or _internal_error("the build gave no artifact"),
                    progress={"step": "failed", "timings": _step_timings(step_starts, started)},
                )
                finished("failed")
                return
            self._store.set_environment_packages(env_id, [(p.name, p.version) for p in lock.packages])
            self._store.update_environment(
                env_id,
                status="ready",
                artifact_path=key,
                sha256=artifact.sha256,
                size=artifact.size,
                manifest=_manifest_summary(artifact.manifest),
                progress={
                    "step": "done",
                    "done": 1,
                    "total": 1,
                    "seconds": round(time.perf_counter() - started, 3),
                    "timings": _step_timings(step_starts, started),
                },
            )
            finished("ready")
        except Exception as exc:
            _log.exception("environment %s: recording the end of its build failed", env_id)
            self._fail_last_resort(env_id, exc)
            finished("failed")
        finally:
            if holder is not None:
                self.artifacts.release(holder)
            with self._lock:
                self._jobs.pop(env_id, None)

    def _build(
        self, env_id: str, lock: Lock, target: Target, step_starts: dict[str, float]
    ) -> Artifact:
        """Run the builder, writing its progress to the store (at most 5 writes a second a step)."""
        last: list[Any] = [0.0, ""]

        def progress(event: BuildEvent) -> None:
            now = time.monotonic()
            step_starts.setdefault(event.step, time.perf_counter())
            if event.step == last[1] and now - last[0] < 0.2 and event.done != event.total:
                return
            last[0], last[1] = now, event.step
            self._store.update_environment(
                env_id,
                status="building",
                progress={
                    "step": event.step,
                    "package": event.package,
                    "done": event.done,
                    "total": event.total,
                    "message": event.message,
                },
            )

        self._store.update_environment(env_id, status="building")
        return build_environment(
            lock,
            target,
            cache=self.cache,
            fetch=self._service.index.download,
            metadata=self._service.resolutions,
            options=self.options,
            sandbox=self._service.sandbox,
            progress=progress,
            # From the lock, not the caller's spelling: the same key must mean the same bytes.
            request={
                "requirements": list(lock.requirements),
                "constraints": list(lock.constraints),
            },
        )

    def _fail_last_resort(self, env_id: str, exc: BaseException) -> None:
        """Mark the build failed with the fewest moving parts, retrying a failing store briefly;
        if even that fails, the stale timeout (or a restart's recovery) ends the build."""
        for attempt in range(_FINAL_WRITE_ATTEMPTS):
            try:
                self._store.update_environment(
                    env_id,
                    status="failed",
                    error=_internal_error(f"{type(exc).__name__}: {exc}"),
                    progress={"step": "failed"},
                )
                return
            except Exception:
                _log.exception("environment %s: cannot record its failure", env_id)
                time.sleep(0.5 * 2**attempt)

    # -- read ---------------------------------------------------------------------------------
    def _record(self, env_id: str) -> Any:
        record = self._store.get_environment(env_id)
        if record is None:
            raise NotFound(f"no environment with id {env_id!r}", id=env_id)
        return record

    def status(self, env_id: str) -> dict[str, Any]:
        record = self._record(env_id)
        ready = record.status == "ready"
        return {
            "id": record.id,
            "status": record.status,
            "lock_id": record.lock_id,
            "lock": record.lock,
            "progress": record.progress,
            "error": record.error,
            "manifest": record.manifest if ready else None,
            "timings": (record.progress or {}).get("timings"),
            "artifact_url": f"/v1/environments/{record.id}/artifact" if ready else None,
            "sha256": record.sha256,
            "size": record.size,
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
        }

    def wait(self, env_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the build ends (or `timeout`); the final status document."""
        for _ in self.events(env_id, timeout=timeout):
            pass
        return self.status(env_id)

    def snapshot(self, env_id: str) -> dict[str, Any]:
        """One short store read: what a progress event carries (id, status, progress, error)."""
        record = self._record(env_id)
        return {
            "id": env_id,
            "status": record.status,
            "progress": record.progress,
            "error": record.error,
        }

    def events(
        self, env_id: str, *, interval: float = 0.2, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Progress documents as they change, ending with the terminal status (blocking: for
        in-process callers; the HTTP route uses the process's progress hub, `api/_progress.py`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        previous: Any = None
        while True:
            current = self.snapshot(env_id)
            if current != previous:
                yield current
                previous = current
            if current["status"] in _TERMINAL:
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(interval)

    # -- artifacts ----------------------------------------------------------------------------
    def artifact(self, env_id: str) -> tuple[EnvironmentRecord, ObjectInfo]:
        """The ready environment's record and its artifact in the object store (see
        `Artifacts.get`: NotFound, with ``details.building`` while it is (re)built)."""
        record = self._record(env_id)
        return record, self.artifacts.get(record)

    def rebuild(self, record: EnvironmentRecord) -> None:
        """Queue the build of a ready environment whose artifact is gone (same lock, same bytes)."""
        lock = Lock.from_json(record.lock)
        self.create(lock, Target.from_json(lock.target), request=record.request)

    def artifact_path(self, env_id: str) -> Path:
        """A local file holding the artifact (for the in-process client)."""
        return self.artifacts.local_path(self._record(env_id))

    def containing(self, name: str) -> list[str]:
        return list(self._store.environments_containing(_name(name)))


def _step_timings(starts: dict[str, float], started: float) -> dict[str, float]:
    """Seconds spent in each build step (from its first event to the next step's), and the total;
    only the total when no step began."""
    now = time.perf_counter()
    order = sorted(starts.items(), key=lambda item: item[1])
    ends = [begin for _, begin in order[1:]] + [now] if order else []
    timings = {step: round(end - begin, 3) for (step, begin), end in zip(order, ends, strict=True)}
    timings["total"] = round(now - started, 3)
    return timings


def _internal_error(message: str) -> dict[str, Any]:
    return {"code": "internal_error", "message": message, "details": {}}


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(requirement).name)
    except Exception:
        return canonicalize_name(requirement)


def _request_summary(request: dict[str, Any] | None) -> dict[str, Any] | None:
    if not request:
        return None
    return {k: request[k] for k in ("requirements", "constraints", "options") if k in request}


def _manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without the lock (the status document carries it once already)."""
    return {k: v for k, v in manifest.items() if k != "lock"}
