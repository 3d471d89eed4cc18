"""Environment builds: lock + target → immutable artifact, built once, shared by every client.

The environment id is `builder.environment_key(lock, target, options, tests)`. `create` is idempotent: the
store's atomic create decides which caller queues the build; everyone else gets the same record. Builds
run off the request path, on this process's pool or on `venvd worker`s taking jobs from a queue (see
`_jobs`); their progress and outcome live in the store, so any API process can report on any build
(the API streams progress from one listener per process: LISTEN/NOTIFY on PostgreSQL, one shared
poller on SQLite). The build itself is `_builds.BuildRunner`. Artifacts live in the object store,
behind `self.artifacts` (`_artifacts`): records keep the artifact's object key, builds and downloads
lease what they use from GC.

Collaborators are passed in (`EnvironmentService.__init__`): the store, the settings, the resolve
entry point, the index listing (to check posted locks), the request limits, the build jobs and the
build runner (its options are part of every environment id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from venvd.builder import BuildCache, BuildOptions, environment_key
from venvd.dist import DistFile
from venvd.errors import InvalidLock, LimitExceeded, NotFound
from venvd.lock import Lock, LockedFile
from venvd.service import _metrics
from venvd.service._artifacts import Artifacts, Served
from venvd.service._builds import BuildRunner
from venvd.service._jobs import BuildJobs, QueueJobs
from venvd.service._request import RequestLimits
from venvd.service._resolve import ResolveResult
from venvd.service.settings import Settings
from venvd.store import EnvironmentRecord, Store
from venvd.target import Target, target_from_request

__all__ = ["EnvironmentService", "ListFiles", "ResolveEntry"]

_log = logging.getLogger("venvd.builds")

_TERMINAL = ("ready", "failed")
_UNFINISHED = ("queued", "building")
# Failures that may not happen again (an index outage): the next request builds again. A build that
# failed on its own inputs (a broken sdist, no compatible wheel) would fail the same way.
_TRANSIENT = frozenset({"upstream_error", "upstream_timeout", "hash_mismatch", "no_space"})

# (requirements, target, constraints, options) → the resolution (validated, cached, coalesced).
ResolveEntry = Callable[[Sequence[str], Target, Sequence[str], Mapping[str, Any] | None], ResolveResult]
# (project names, target) → every file the indexes list for each, by (url, sha256).
ListFiles = Callable[[list[str], Target], dict[str, dict[tuple[str, str], DistFile]]]


class EnvironmentService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        resolve: ResolveEntry,
        list_files: ListFiles,
        limits: RequestLimits,
        jobs: BuildJobs,
        builds: BuildRunner,
        artifacts: Artifacts,
        used: Callable[[str], None] | None = None,
    ) -> None:
        """`used(id)` is told each time a ready environment is served (its status read, or its
        artifact): `Service.impact.used`, which records `last_used` throttled."""
        self._store = store
        self._used = used
        self._settings = settings
        self._resolve = resolve
        self._list_files = list_files
        self._limits = limits
        self.jobs = jobs
        self._builds = builds
        self.artifacts = artifacts

    @property
    def cache(self) -> BuildCache:
        """This process's working copy of the build caches."""
        return self._builds.cache

    @property
    def options(self) -> BuildOptions:
        """The build options: part of every environment id, and what the builds run with."""
        return self._builds.options

    @options.setter
    def options(self, options: BuildOptions) -> None:
        self._builds.options = options

    def close(self) -> None:
        self.jobs.close()
        self.artifacts.close()

    # -- create -------------------------------------------------------------------------------
    def create_from_json(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/environments: resolve if asked, then find or queue the build; the status document
        (plus `"created": bool`)."""
        if not isinstance(body, dict):
            raise InvalidLock("the request body must be a JSON object")
        resolved_cached: bool | None = None
        settings = self._settings
        max_tags = settings.max_compatible_tags
        if isinstance(body.get("lock"), dict) and "targets" in body["lock"]:
            # A universal lock: build the own lock of the target the request names.
            from venvd.service._universal import lock_for_target

            lock, target = lock_for_target(
                body["lock"], body.get("target"), max_targets=settings.max_targets,
                max_packages=settings.max_lock_packages, max_tags=max_tags)
            self._check_lock_bounds(lock)
            self._check_files_are_listed(lock, target)
        elif body.get("lock") is not None:
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
            result = self._resolve(
                body.get("requirements") or [],
                target,
                body.get("constraints") or [],
                body.get("options"),
            )
            lock, resolved_cached = result.lock, result.cached
            if body.get("pinned") is not None:  # a document's --hash pins (hash-checking mode)
                from venvd.inputs import restrict_to_hashes

                lock = Lock.from_json(restrict_to_hashes(lock.to_json(), body["pinned"]))
        doc, created = self.create(lock, target, request=body)
        doc["created"] = created
        if resolved_cached is not None:
            doc["resolution_cached"] = resolved_cached
        return doc

    def _check_lock_bounds(self, lock: Lock) -> None:
        """A posted lock within the request bounds (each of its packages costs an index fetch)."""
        settings = self._settings
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
        self._limits.check(lock.requirements, lock.constraints)

    def _check_files_are_listed(self, lock: Lock, target: Target) -> None:
        """Refuse a client's lock unless each of its files is one our indexes list, as they list it:
        same URL and sha256 (the server downloads only what its own indexes serve), same file name
        and size, the package's name and version equal to those the file name carries, a wheel's tags
        usable on `target` (sdists are built, or refused by `no_build`, as for any lock). Else
        InvalidLock naming the package and file."""
        from venvd.service._resolve import listing_disagreement

        listed = self._list_files([p.name for p in lock.packages], target)
        for package in lock.packages:
            for file in package.files:
                entry = listed.get(package.name, {}).get((file.url, file.sha256))
                if entry is None:
                    problem = self._direct_file_problem(package.name, package.version, file,
                                                        target)
                else:
                    problem = listing_disagreement(
                        package.name, package.version, file.filename, file.size, entry, target
                    )
                if problem:
                    raise InvalidLock(
                        f"lock file {file.filename} of {package.name} {package.version} {problem}",
                        package=package.name,
                        filename=file.filename,
                        url=file.url,
                    )

    def _direct_file_problem(self, name: str, version: str, file: LockedFile,
                             target: Target) -> str | None:
        """What refuses a lock's file that our indexes do not list: None when it is a direct
        reference this server would fetch (its URL under `direct_url_prefixes`) and its name
        says it is this package's, at this version, usable on `target`."""
        from venvd.dist import DistFile
        from venvd.inputs import DirectURLPolicy
        from venvd.service._resolve import listing_disagreement

        unlisted = "is not listed with that URL and sha256 on this server's indexes"
        prefixes = self._limits.direct_url_prefixes
        if not prefixes:
            return unlisted
        refused = DirectURLPolicy(prefixes).problem(file.url)
        if refused is not None or "#" in file.url:
            return f"{unlisted}, and is no direct reference it takes ({refused or 'a fragment'})"
        from urllib.parse import unquote, urlsplit

        entry = DistFile.from_filename(file.filename, file.url, sha256=file.sha256)
        if entry is None or unquote(urlsplit(file.url).path).rsplit("/", 1)[-1] != file.filename:
            return f"{unlisted}, and its URL does not name a wheel or sdist called {file.filename}"
        return listing_disagreement(name, version, file.filename, None, entry, target)

    def create(
        self, lock: Lock, target: Target, request: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Find or queue the build of `lock` for `target`: the status document and whether this
        call created the record. A failed build is queued again when its failure may not happen
        again (an upstream outage; a bug, `build_max_attempts` times at most), a ready one whose
        artifact is gone is rebuilt, an abandoned one is taken over."""
        tests = (request or {}).get("tests") or None
        env_id = environment_key(lock, target, self.options, tests)
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
        hit = False
        if created:
            self.jobs.submit(record)
        elif record.status == "failed" and self._retryable(record):
            # Transient failures reset the count: only bugs (and crashes) use the attempts up.
            keep = (record.error or {}).get("code") == "internal_error"
            self._requeue(record, "failed", attempts=record.attempts if keep else 0)
        elif record.status == "ready" and self.artifacts.info(record) is None:
            # The artifact was collected (GC) or lost: rebuild it (same lock, same bytes).
            self._requeue(record, "ready", attempts=0)
        elif record.status in _UNFINISHED and self.jobs.should_take_over(record):
            self.jobs.submit(record, taking_over=True)
        else:
            hit = True
        _metrics.environment_lookup(hit=hit)
        if not hit:
            _metrics.build_queued()
        return self.status(env_id), created

    def _retryable(self, record: EnvironmentRecord) -> bool:
        code = (record.error or {}).get("code")
        if code == "internal_error":
            return record.attempts < self._settings.build_max_attempts
        return code in _TRANSIENT

    def _requeue(self, record: EnvironmentRecord, from_status: Any, *, attempts: int) -> None:
        """Queue a finished build again; of racing requests one does (a compare-and-set)."""
        if self._store.requeue_environment(
            record.id, from_status, status="queued", error=None, attempts=attempts,
            progress={"step": "queued", "done": 0, "total": 0}, published_at=None,
            owner_host=None, owner_pid=None, owner_start=None, owner_token=None,
        ):
            queued = self._store.get_environment(record.id)
            if queued is not None and queued.status == "queued":
                self.jobs.submit(queued)

    def run_job(self, env_id: str) -> str:
        """A `venvd worker`'s side of a build job (see `_jobs.QueueJobs.run_job`)."""
        if not isinstance(self.jobs, QueueJobs):
            raise RuntimeError("build jobs come from a queue only when queue_url is set")
        return self.jobs.run_job(env_id)

    def recover(self) -> list[str]:
        """Take over at once the builds that a dead process of this host left unfinished (the
        in-process pool; with a queue the relay does it); the ids taken over."""
        return self.jobs.recover()

    # -- read ---------------------------------------------------------------------------------
    def _record(self, env_id: str) -> EnvironmentRecord:
        record = self._store.get_environment(env_id)
        if record is None:
            raise NotFound(f"no environment with id {env_id!r}", id=env_id)
        return record

    def status(self, env_id: str) -> dict[str, Any]:
        record = self._record(env_id)
        ready = record.status == "ready"
        if ready and self._used is not None:
            self._used(env_id)
        return {
            "id": record.id,
            "status": record.status,
            "lock_id": record.lock_id,
            "lock": record.lock,
            "progress": record.progress,
            "error": record.error,
            "tests": (record.progress or {}).get("tests"),
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
    def artifact(self, env_id: str) -> tuple[EnvironmentRecord, Served]:
        """The ready environment's record and what serves its artifact from the object store (see
        `Artifacts.get`: NotFound, with ``details.building`` while it is (re)built)."""
        record = self._record(env_id)
        served = self.artifacts.get(record)
        if self._used is not None:
            self._used(env_id)
        return record, served

    def rebuild(self, record: EnvironmentRecord) -> None:
        """Queue the build of a ready environment whose artifact is gone (same lock, same bytes)."""
        lock = Lock.from_json(record.lock)
        self.create(lock, Target.from_json(lock.target), request=record.request)

    def artifact_path(self, env_id: str) -> Path:
        """A local file holding the artifact (for the in-process client)."""
        path = self.artifacts.local_path(self._record(env_id))
        if self._used is not None:
            self._used(env_id)
        return path

    def containing(self, name: str) -> list[str]:
        return list(self._store.environments_containing(_name(name)))


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
    return {k: request[k] for k in ("requirements", "constraints", "options", "tests")
            if k in request}


