"""One build of one environment, by its id: the code every build runs, in a server's own pool or in a
`venvd worker` (see `_jobs`).

A build is started by a compare-and-set on the record's owner (`BuildRunner.start`): of any number of
processes starting the same id, one wins, the others leave it. While it runs, the owner writes the
record at least every `lease / 4` seconds (progress, or a bare heartbeat), so a build whose owner went
silent for `lease` seconds is known abandoned on any host. Every write is conditional on still owning
the build: a process that lost it (taken over after its lease ran out) can no longer change it.

Every build ends `ready` or `failed`, whatever raises (a last-resort guarded write covers a failure
inside the failure handling). Artifacts are written by the builder to a temporary name and renamed
into place, then published to the object store (`_artifacts.Artifacts`; a completed upload or a
rename), so a build killed at any point leaves nothing half-visible. The record keeps the artifact's
object key; what the build uses is leased from cache GC until the build is recorded.

A request's tests (`_env_tests`) run after the build and before anything is published: a failing
one ends the build `failed` (`tests_failed`); their document is kept in the record's progress.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from venvd.builder import (
    Artifact,
    BuildCache,
    BuildEvent,
    BuildOptions,
    Fetcher,
    MetadataSource,
    build_environment,
)
from venvd.errors import NoSpaceLeft, TestsFailed, VenvdError
from venvd.lock import Lock
from venvd.objects import is_no_space
from venvd.sandbox import Sandbox, build_key
from venvd.service import _metrics
from venvd.service._artifacts import Artifacts
from venvd.service._built_wheels import BuiltWheelRecorder
from venvd.service._owner import Owner
from venvd.store import EnvironmentRecord, Store
from venvd.target import Target

__all__ = ["BuildRunner", "internal_error"]

_log = logging.getLogger("venvd.builds")

# A store write that fails while ending a build is retried this many times (a database blip).
_FINAL_WRITE_ATTEMPTS = 3


class BuildRunner:
    """Runs builds by environment id for an owner; thread-safe, holds no per-build state."""

    def __init__(
        self,
        store: Store,
        *,
        cache: BuildCache,
        fetch: Fetcher,
        metadata: MetadataSource,
        sandbox: Sandbox,
        options: BuildOptions,
        lease: float,
        max_attempts: int,
        artifacts: Artifacts,
        test_timeout: float = 300.0,
        built: BuiltWheelRecorder | None = None,
    ) -> None:
        """`built` records the wheels a build built from sdists (for every node's `/simple/`)."""
        self._store = store
        self.artifacts = artifacts
        self.cache = cache
        self._fetch = fetch
        self._metadata = metadata
        self._sandbox = sandbox
        self.options = options
        self.lease = lease
        self.max_attempts = max_attempts
        self.test_timeout = test_timeout
        self._built = built

    def start(self, record: EnvironmentRecord, owner: Owner, *, step: str | None = None) -> bool:
        """Claim `record`'s build for `owner` from its recorded owner (a compare-and-set) and
        count one attempt (and show `step` as its progress, if given); False when another process
        got it first. A build already started
        `max_attempts` times without a verdict (its builder died each time, or failed on a bug)
        is ended `failed` instead, and False returned."""
        if record.attempts >= self.max_attempts:
            _log.error(
                "environment %s: giving up, its build was started %d times without ending",
                record.id, record.attempts,
            )
            self._store.claim_environment(
                record.id,
                record.owner_token,
                status="failed",
                error=internal_error(
                    f"the build was started {record.attempts} times and never ended "
                    "(its builder crashed or failed on a bug each time); not trying again",
                    attempts=record.attempts,
                ),
                progress={"step": "failed"},
            )
            return False
        shown = {} if step is None else {"progress": {"step": step, "done": 0, "total": 0}}
        return self._store.claim_environment(
            record.id,
            record.owner_token,
            attempt=True,
            status="building",
            error=None,
            **shown,
            **owner.columns(),
        )

    def run(self, env_id: str, owner: Owner) -> None:
        """Build the environment that `owner` has started (`start`), then record the outcome:
        the record ends `ready` or `failed` unless another owner took the build over meanwhile."""
        started = time.perf_counter()
        step_starts: dict[str, float] = {}
        beating = threading.Event()
        heart = threading.Thread(
            target=self._heartbeat, args=(env_id, owner, beating), name="venvd-lease", daemon=True
        )
        heart.start()
        finished = _metrics.build_started()
        holders: list[str] = []  # the build's leases on cache keys, released once it is recorded
        try:
            artifact: Artifact | None = None
            key: str | None = None
            packages: list[tuple[str, str]] = []
            error: dict[str, Any] | None = None
            tests: dict[str, Any] | None = None
            try:
                artifact, packages = self._build(env_id, owner, step_starts, holders)
                # The request's tests, before anything is published: a failing one fails the build.
                tests = self._tests(env_id, owner, artifact, step_starts)
                if tests is not None and tests["status"] == "failed":
                    raise _tests_failed(tests)
                key = self.artifacts.publish(artifact)
                self._record_built(env_id, artifact)
            except VenvdError as exc:
                error = exc.to_json()["error"]
            except Exception as exc:
                if is_no_space(exc):
                    error = NoSpaceLeft(f"no space left on device: {exc}", step="build").to_json()["error"]
                else:
                    _log.exception("build of environment %s failed unexpectedly", env_id)
                    error = internal_error(f"{type(exc).__name__}: {exc}")
            finally:
                beating.set()
            if artifact is None or key is None or error is not None:
                self._end(env_id, owner, status="failed",
                          error=error or internal_error("the build gave no artifact"),
                          progress={"step": "failed", "timings": _step_timings(step_starts, started),
                                    **({"tests": tests} if tests is not None else {})})
                finished("failed")
                return
            self._end(
                env_id,
                owner,
                packages=packages,
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
                    **({"tests": tests} if tests is not None else {}),
                },
            )
            finished("ready")
        except Exception as exc:
            _log.exception("environment %s: recording the end of its build failed", env_id)
            self._fail_last_resort(env_id, owner, exc)
            finished("failed")
        finally:
            beating.set()
            for holder in holders:
                self.artifacts.release(holder)

    def _record_built(self, env_id: str, artifact: Artifact) -> None:
        """Record the wheels built from the sdists of a published artifact; a failure is logged
        (the environment is built: a missing row only keeps the wheel off `/simple/` until the
        next build using it records it)."""
        if self._built is None:
            return
        sdists = [package["file"]["sha256"] for package in artifact.manifest.get("packages", [])
                  if package.get("built_from_sdist")]
        try:
            self._built.record(sdists, build_key())
        except Exception:
            _log.exception("environment %s: cannot record the wheels it built from sdists", env_id)

    def _end(self, env_id: str, owner: Owner, *, packages: list[tuple[str, str]] | None = None,
             **fields: Any) -> None:
        if packages is not None:
            record = self._store.get_environment(env_id)
            if record is None or record.owner_token != owner.token:
                _log.warning("environment %s: another process took its build over", env_id)
                return
            self._store.set_environment_packages(env_id, packages)
        if not self._store.claim_environment(env_id, owner.token, **fields):
            _log.warning(
                "environment %s: another process took its build over; this build's %s is dropped",
                env_id, fields.get("status"),
            )

    def _heartbeat(self, env_id: str, owner: Owner, done: threading.Event) -> None:
        """Renew the lease (touch the record) while the build runs, whatever its steps write."""
        while not done.wait(self.lease / 4):
            try:
                if not self._store.claim_environment(env_id, owner.token):
                    return  # finished, or taken over: nothing more to renew
            except Exception:
                _log.warning("environment %s: cannot renew its build lease", env_id, exc_info=True)

    def _build(
        self, env_id: str, owner: Owner, step_starts: dict[str, float], holders: list[str]
    ) -> tuple[Artifact, list[tuple[str, str]]]:
        """Run the builder on the record's lock, writing its progress to the store (at most 5
        writes a second a step); the artifact and the (name, version) pairs it contains. The
        cache keys the build uses are leased from GC first (the lease's holder appended to
        `holders`, for the caller to release once the build is recorded)."""
        record = self._store.get_environment(env_id)
        if record is None or record.lock is None:
            raise RuntimeError(f"environment {env_id} has no record or no lock to build from")
        lock = Lock.from_json(record.lock)
        target = Target.from_json(lock.target)
        holders.append(self.artifacts.lease_build(env_id, lock, owner.token))
        last: list[Any] = [0.0, ""]

        def progress(event: BuildEvent) -> None:
            now = time.monotonic()
            step_starts.setdefault(event.step, time.perf_counter())
            if event.step == last[1] and now - last[0] < 0.2 and event.done != event.total:
                return
            last[0], last[1] = now, event.step
            self._store.claim_environment(
                env_id,
                owner.token,
                status="building",
                progress={
                    "step": event.step,
                    "package": event.package,
                    "done": event.done,
                    "total": event.total,
                    "message": event.message,
                },
            )

        artifact = build_environment(
            lock,
            target,
            cache=self.cache,
            fetch=self._fetch,
            metadata=self._metadata,
            options=self.options,
            sandbox=self._sandbox,
            progress=progress,
            # From the lock, not the caller's spelling: the same key must mean the same bytes.
            request={
                "requirements": list(lock.requirements),
                "constraints": list(lock.constraints),
            },
        )
        return artifact, [(p.name, p.version) for p in lock.packages]

    def _tests(self, env_id: str, owner: Owner, artifact: Artifact,
               step_starts: dict[str, float]) -> dict[str, Any] | None:
        """The tests document of the record's request (see `_env_tests`), None when it has no
        tests: run here when its target is this server's platform, else recorded as not run."""
        from venvd.service._env_tests import not_run_reason, run_tests

        record = self._store.get_environment(env_id)
        tests = ((record.request or {}).get("tests") if record is not None else None) or None
        if record is None or tests is None:
            return None
        reason = not_run_reason(Target.from_json(Lock.from_json(record.lock).target))
        if reason is not None:
            return {"status": "not_run", "reason": reason, "results": []}
        step_starts.setdefault("tests", time.perf_counter())
        total = len(tests.get("imports", [])) + len(tests.get("commands", []))
        self._store.claim_environment(env_id, owner.token, status="building",
                                      progress={"step": "tests", "done": 0, "total": total})
        return run_tests(artifact.path, tests, sandbox=self._sandbox, timeout=self.test_timeout)

    def _fail_last_resort(self, env_id: str, owner: Owner, exc: BaseException) -> None:
        """Mark the build failed with the fewest moving parts, retrying a failing store briefly;
        if even that fails, the lease (or the stale timeout) ends the build."""
        for attempt in range(_FINAL_WRITE_ATTEMPTS):
            try:
                self._store.claim_environment(
                    env_id,
                    owner.token,
                    status="failed",
                    error=internal_error(f"{type(exc).__name__}: {exc}"),
                    progress={"step": "failed"},
                )
                return
            except Exception:
                _log.exception("environment %s: cannot record its failure", env_id)
                time.sleep(0.5 * 2**attempt)


def internal_error(message: str, **details: Any) -> dict[str, Any]:
    return {"code": "internal_error", "message": message, "details": details}


def _tests_failed(tests: dict[str, Any]) -> TestsFailed:
    """The error of a failed tests document: its last result is the test that failed."""
    last = tests["results"][-1]
    how = (f"was stopped ({last['killed']})" if last.get("killed")
           else f"failed with exit code {last['returncode']}")
    return TestsFailed(f"the environment's test {last['kind']} {last['text']!r} {how}",
                       test=last["text"], kind=last["kind"], returncode=last["returncode"],
                       output_tail=last["output_tail"])


def _step_timings(starts: dict[str, float], started: float) -> dict[str, float]:
    """Seconds spent in each build step (from its first event to the next step's), and the total;
    only the total when no step began."""
    now = time.perf_counter()
    order = sorted(starts.items(), key=lambda item: item[1])
    ends = [begin for _, begin in order[1:]] + [now] if order else []
    timings = {step: round(end - begin, 3) for (step, begin), end in zip(order, ends, strict=True)}
    timings["total"] = round(now - started, 3)
    return timings


def _manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without the lock (the status document carries it once already)."""
    return {k: v for k, v in manifest.items() if k != "lock"}

