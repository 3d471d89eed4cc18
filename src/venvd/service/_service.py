"""`Service`: owns the store, the index client and the job pools for one process, and wires them.

The environment machinery (builder, artifacts, jobs) and universal locks are imported when first
used: a `venvd resolve` in-process pays for what resolving needs only (the builder's imports alone
were a fifth of the service's import time, on the start-up path of every cold command).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from venvd.index import IndexClient, IndexConfig
from venvd.sandbox import Limits, Sandbox
from venvd.service import _metrics
from venvd.service._bodies import ResolveBody, check_direct_references
from venvd.service._cleanup import remove_orphan_temps
from venvd.service._owner import Owner
from venvd.service._ready import ReadyCheck, default_checks
from venvd.service._request import RequestLimits, RequestOptions, ResolveRequest
from venvd.service._resolve import ResolutionService, ResolveResult
from venvd.service._source import Memo
from venvd.service.settings import Settings
from venvd.store import Store
from venvd.target import Target, target_from_request

if TYPE_CHECKING:
    from venvd.builder import BuildCache
    from venvd.dist import DistFile
    from venvd.lock import Lock
    from venvd.objects import ObjectStore
    from venvd.resolver import ResolveReporter
    from venvd.service._advisories import AdvisoryService
    from venvd.service._build_requirements import BuildRequirementWheels
    from venvd.service._environments import EnvironmentService
    from venvd.service._impact import ImpactService
    from venvd.service._jobs import BuildJobs
    from venvd.service._private import PrivateIndexes
    from venvd.service._simple import SimpleIndex
    from venvd.service._universal import UniversalResult

__all__ = ["Service"]

_log = logging.getLogger("venvd.service")


class Service:
    """One process's venvd: thread-safe; open with `Service.open(settings)`, then `close()`."""

    def __init__(self, settings: Settings, store: Store, index: IndexClient,
                 sandbox: Sandbox | None = None, *, relay: bool = True) -> None:
        """`relay`: with a queue (`settings.queue_url`), run the relay that re-publishes build jobs
        the queue may not have (API nodes); a `venvd worker` does not."""
        self.settings = settings
        self._relay = relay
        self.store = store
        self.index = index
        self.index_config = IndexConfig(index_urls=settings.index_urls, find_links=tuple(settings.find_links))
        self._objects: ObjectStore | None = None
        self._cache: BuildCache | None = None
        self._cache_lock = threading.Lock()
        # Private indexes come first in every resolution (first-index strategy, see _private).
        self.private: PrivateIndexes | None = (
            self._make_private() if settings.private_indexes else None)
        private_files = self.private.project_files if self.private is not None else None
        self.resolutions = ResolutionService(
            store,
            index,
            ttl=settings.resolution_ttl,
            page_ttl=settings.page_ttl,
            metadata_workers=settings.metadata_workers,
            timeout=settings.resolution_timeout,
            memo=Memo(settings.memo_metadata_entries, settings.memo_page_entries,
                      settings.memo_page_files),
            answers_kept=settings.resolution_cache_entries,
            answers_weight=settings.resolution_cache_weight,
            work_dir=settings.data_dir / "tmp",
            downloads=self.cache,
            private=private_files,
        )
        self.limits = RequestLimits.from_settings(settings)
        self._environments: EnvironmentService | None = None
        self._impact: ImpactService | None = None
        self._advisories: AdvisoryService | None = None
        self._simple: SimpleIndex | None = None
        self._simple_lock = threading.Lock()
        # sdist builds (metadata and wheels) get their build requirements through our own indexes,
        # resolved on a pool of their own: a metadata build runs on a worker of `resolutions`, and
        # waiting there for that same pool could deadlock. Wheels only, so it never nests further.
        # Its caches hold build requirements only (setuptools, wheel, ...): a tenth of the bounds.
        self._build_resolutions = ResolutionService(
            store, index, ttl=settings.resolution_ttl, page_ttl=settings.page_ttl, metadata_workers=4,
            memo=Memo(settings.memo_metadata_entries // 10, settings.memo_page_entries // 10,
                      settings.memo_page_files // 10),
            answers_kept=settings.resolution_cache_entries // 10,
            answers_weight=settings.resolution_cache_weight // 10,
            private=private_files,
        )
        self.sandbox = sandbox if sandbox is not None else index.sandbox
        self._build_requirement_wheels: BuildRequirementWheels | None = None
        self.sandbox.requirements = self._build_requirements
        self.owner = Owner.new()  # this Service's identity as the owner of the builds it runs
        # Named readiness checks (GET /v1/ready): other parts append theirs.
        self.ready_checks: list[tuple[str, ReadyCheck]] = default_checks(settings, store)

    def _build_requirements(self, requirements: Sequence[str]) -> list[Path]:
        """The sandbox's provider of build requirements (made at the first sdist build)."""
        if self._build_requirement_wheels is None:
            from venvd.service._build_requirements import BuildRequirementWheels

            self._build_requirement_wheels = BuildRequirementWheels(
                self._resolve_build_requirements, self._download, self.cache)
        return self._build_requirement_wheels(requirements)

    @property
    def objects(self) -> ObjectStore:
        """The object store (`object_store` setting), opened once per Service at its first use:
        a command that never reads it (a `venvd resolve`) never imports boto3."""
        with self._cache_lock:
            if self._objects is None:
                from venvd.objects import open_object_store

                settings = self.settings
                self._objects = open_object_store(settings.object_store, settings.data_dir / "cache",
                                                  endpoint_url=settings.s3_endpoint_url)
            return self._objects

    @property
    def cache(self) -> BuildCache:
        """The builder's cache, the one every part of this Service reads and writes: downloads
        (builds, direct references, build requirements, `/simple/` files), built wheels and
        fragments. With an object store other than this directory it is shared through the store
        (opened at the first miss or write, see `_shared_cache`), so what one machine fetched
        or built the others read instead of fetching or building it again."""
        with self._cache_lock:
            if self._cache is None:
                from venvd.service._shared_cache import service_cache

                self._cache = service_cache(self.settings, lambda: self.objects)
            return self._cache

    def _make_private(self) -> PrivateIndexes:
        from venvd.service._private import PrivateIndexes

        settings = self.settings
        return PrivateIndexes(
            settings.private_indexes, self.store, self.objects,
            # Looked up at each call, like `_download`: tests swap the index client.
            upstream_has=lambda name: self.index.project_page(name) is not None,
            put_metadata=self.store.put_metadata, work_dir=settings.data_dir / "tmp",
            max_upload_bytes=settings.max_upload_bytes,
            max_expanded=settings.max_wheel_expanded_size,
            max_ratio=settings.max_wheel_expansion_ratio)

    @classmethod
    def open(cls, settings: Settings | None = None, *, embedded: bool = False,
             relay: bool = True) -> Service:
        """`embedded`: the in-process default on a user's own machine, where sdists build
        unsandboxed (with a warning) when bubblewrap is missing; a server refuses unless
        `settings.unsafe_builds`. `relay`: see `__init__`."""
        settings = settings or Settings()
        # Relative paths would break in the build children, which run elsewhere.
        settings.data_dir = settings.data_dir.resolve()
        (settings.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        store = Store.open(settings.resolved_database_url)
        config = IndexConfig(index_urls=settings.index_urls, find_links=tuple(settings.find_links))
        sandbox = Sandbox(
            limits=Limits(
                timeout=settings.build_timeout,
                tmp_mb=settings.build_tmp_mb,
                disk_mb=settings.build_disk_mb,
                max_processes=settings.build_max_processes,
            ),
            work_dir=settings.data_dir / "tmp",
            without_bwrap="allow" if settings.unsafe_builds else ("warn" if embedded else "refuse"),
            hidden=[settings.data_dir],
        )
        index = IndexClient(
            config,
            timeout=settings.http_timeout,
            retries=settings.http_retries,
            work_dir=settings.data_dir / "tmp",
            sandbox=sandbox,
            redirect_check=_direct_redirects(tuple(settings.direct_url_prefixes)),
        )
        service = cls(settings, store, index, sandbox, relay=relay)
        try:
            service.recover()
        except Exception:
            # Recovery is a courtesy: the stale timeout still ends what it could not take over.
            _log.exception("recovering the builds left by a dead process failed")
        return service

    def recover(self) -> None:
        """Start-up clean-up after a crash: remove temporary files nobody writes any more (in the
        background) and, when `requeue_interrupted` is set, rebuild at once the builds that a dead
        process of this host left unfinished."""
        threading.Thread(
            target=remove_orphan_temps,
            # Twice the build timeout: a margin for a step that ends right at its limit.
            args=(self.settings.data_dir, 2 * self.settings.build_timeout),
            name="venvd-cleanup",
            daemon=True,
        ).start()
        if self.settings.queue_url and self._relay:
            self.environments  # noqa: B018 - starts the relay now, not at the first request
        elif self.settings.requeue_interrupted and self.store.unfinished_environments(self.owner.host):
            self.environments.recover()

    def close(self) -> None:
        self.owner.release()
        if self._environments is not None:
            self._environments.close()
        self.resolutions.close()
        self._build_resolutions.close()
        self.index.close()
        self.store.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolution ---------------------------------------------------------------------------
    def make_request(
        self,
        requirements: Iterable[str],
        target: Target,
        *,
        constraints: Iterable[str] = (),
        options: Mapping[str, Any] | RequestOptions | None = None,
    ) -> ResolveRequest:
        """Validate and canonicalize a request (raises InputError subclasses naming the bad part)."""
        opts = options if isinstance(options, RequestOptions) else RequestOptions.from_json(options)
        index: dict[str, Any] = dict(self.index_config.to_json())
        if self.private is not None:
            # An upload changes every key: no lock cached before it can hide the new file.
            index["private"] = self.private.key()
        return ResolveRequest.create(
            requirements,
            target,
            constraints=constraints,
            options=opts,
            index=index,
            limits=self.limits,
        )

    def request_for(self, body: ResolveBody) -> ResolveRequest:
        """The request a resolve body asks for (`POST /v1/resolve`, or the in-process client's),
        its target parsed within the max_compatible_tags bound."""
        check_direct_references(body, self.limits.direct_url_prefixes)
        target = target_from_request(body.target_json(),
                                     max_tags=self.settings.max_compatible_tags)
        return self.make_request(body.requirements, target, constraints=body.constraints,
                                 options=body.options)

    def resolve_universal(self, body: ResolveBody, *, refresh: bool = False,
                          reporter: ResolveReporter | None = None) -> UniversalResult:
        """One universal lock for a body's `targets` (see `_universal`): each target resolved
        alone (cached, coalesced), then merged; InputError subclasses name a bad target."""
        from venvd.service._universal import parse_targets, resolve_universal

        settings = self.settings
        check_direct_references(body, self.limits.direct_url_prefixes)
        targets = parse_targets(body.targets_json(), max_targets=settings.max_targets,
                                max_tags=settings.max_compatible_tags)
        return resolve_universal(
            targets,
            lambda target: self.make_request(body.requirements, target,
                                             constraints=body.constraints, options=body.options),
            lambda request: self.resolve(request, reporter=reporter, refresh=refresh))

    @property
    def environments(self) -> EnvironmentService:
        """The environment builder service (created on first use: it starts a worker pool, or
        connects to the queue)."""
        if self._environments is None:
            self._environments = self._make_environments()
        return self._environments

    @property
    def impact(self) -> ImpactService:
        """Impact queries: environment listings, who holds what, why, graphs (`_impact`)."""
        if self._impact is None:
            from venvd.service._impact import ImpactService

            self._impact = ImpactService(self.store)
        return self._impact

    @property
    def advisories(self) -> AdvisoryService:
        """OSV advisories: import, and the environments they affect (`_advisories`)."""
        if self._advisories is None:
            from venvd.service._advisories import AdvisoryService

            self._advisories = AdvisoryService(self.store)
        return self._advisories

    @property
    def simple(self) -> SimpleIndex:
        """The package index's read side (`/simple/`; created on first use)."""
        with self._simple_lock:
            if self._simple is None:
                self._simple = self._make_simple()
            return self._simple

    def _make_simple(self) -> SimpleIndex:
        from venvd.sandbox import build_key
        from venvd.service._simple import SimpleIndex

        # The page machinery wants a target only to prefetch dependencies' pages after metadata,
        # which listing a page never reads.
        target = Target.current()

        def list_page(name: str) -> list[DistFile]:
            return list(self.resolutions.listed_files([name], target)[name].values())

        config = self.index_config
        return SimpleIndex(self.store, list_page, self._download, self.cache,
                           build_key, (*config.index_urls, *config.find_links),
                           flush=self.resolutions.flush)

    def _make_environments(self) -> EnvironmentService:
        from venvd.builder import BuildOptions
        from venvd.service._artifacts import Artifacts
        from venvd.service._builds import BuildRunner
        from venvd.service._built_wheels import BuiltWheelRecorder
        from venvd.service._environments import EnvironmentService
        from venvd.service._jobs import LocalJobs, QueueJobs
        from venvd.store import BuiltWheels

        settings = self.settings
        options = BuildOptions(no_build=settings.no_build, build_timeout=settings.build_timeout,
                               max_wheel_expanded_size=settings.max_wheel_expanded_size,
                               max_wheel_expansion_ratio=settings.max_wheel_expansion_ratio)
        cache = self.cache
        # A collected artifact is rebuilt through the environment service (created just below).
        artifacts = Artifacts(self.store, cache, settings, self.objects,
                              rebuild=lambda record: self.environments.rebuild(record))
        runner = BuildRunner(
            self.store, cache=cache, fetch=self._download,
            metadata=self.resolutions, sandbox=self.sandbox, options=options,
            lease=settings.build_lease_seconds, max_attempts=settings.build_max_attempts,
            artifacts=artifacts, test_timeout=settings.test_timeout,
            built=BuiltWheelRecorder(BuiltWheels(self.store), cache),
        )
        # A build older than this is taken over whoever owns it (an owner of another host, or
        # a build queued before owners were recorded).
        stale_after = settings.build_timeout * 3 + 300
        jobs: BuildJobs
        if settings.queue_url:
            from venvd.queue import BuildQueue

            jobs = QueueJobs(
                self.store, runner, self.owner, BuildQueue(settings.queue_url, settings.queue_name),
                sweep_seconds=settings.queue_sweep_seconds, lost_after=stale_after, relay=self._relay,
            )
        else:
            jobs = LocalJobs(self.store, runner, self.owner, workers=settings.build_workers,
                             stale_after=timedelta(seconds=stale_after))
        return EnvironmentService(
            self.store, settings, resolve=self._resolve_for, list_files=self.resolutions.listed_files,
            limits=self.limits, jobs=jobs, builds=runner, artifacts=artifacts,
            used=lambda env_id: self.impact.used(env_id),
        )

    def _download(self, url: str, sha256: str, dest: Path) -> None:
        if self.private is not None and self.private.handles(url):
            self.private.download(url, sha256, dest)
            return
        # Looked up at each call: the index client may be swapped (tests inject faults through it).
        self.index.download(url, sha256, dest)

    def _resolve_for(self, requirements: Sequence[str], target: Target, constraints: Sequence[str],
                     options: Mapping[str, Any] | None) -> ResolveResult:
        return self.resolve(self.make_request(requirements, target, constraints=constraints,
                                              options=options))

    def _resolve_build_requirements(
        self, requirements: Sequence[str], target: Target, options: dict[str, Any]
    ) -> Lock:
        request = self.make_request(requirements, target, options=options)
        return self._build_resolutions.resolve(request).lock

    def resolve(
        self,
        request: ResolveRequest,
        *,
        reporter: ResolveReporter | None = None,
        refresh: bool = False,
    ) -> ResolveResult:
        result = self.resolutions.resolve(request, reporter=reporter, refresh=refresh)
        _metrics.resolution_lookup(result.cached)
        return result

    def cache_sizes(self) -> dict[str, dict[str, int]]:
        """Entries in this process's memory caches, by cache; each stays within its setting
        (memo_metadata_entries, memo_page_entries / _files, resolution_cache_entries / _weight,
        recipe_cache_entries; the build requirements' caches within a tenth of theirs)."""
        sizes = {"resolutions": self.resolutions.cache_sizes(),
                 "build_resolutions": self._build_resolutions.cache_sizes()}
        if self._environments is not None:
            sizes["artifacts"] = {"recipes": self._environments.artifacts.cached_recipes()}
        return sizes

    def remembered(self, request: ResolveRequest) -> ResolveResult | None:
        """A fresh answer this process holds in memory (never blocks), or None: then `resolve`."""
        result = self.resolutions.remembered(request)
        if result is not None:
            _metrics.resolution_lookup(True)
        return result


def _direct_redirects(prefixes: tuple[str, ...]) -> Callable[[str, str], str | None] | None:
    """The index client's redirect check: a direct reference's download (its URL under one of
    `prefixes`) follows a redirect only to another allowed URL, so an open redirect on an allowed
    host does not make the server fetch from anywhere (the hash would refuse the bytes, but the
    request would be made). Downloads from the indexes follow their redirects as before."""
    if not prefixes:
        return None
    from venvd.inputs import DirectURLPolicy

    policy = DirectURLPolicy(prefixes)

    def check(url: str, following: str) -> str | None:
        if policy.problem(url) is not None:
            return None  # not a direct reference's URL
        return None if policy.problem(following) is None else "this server's direct_url_prefixes do not allow"

    return check
