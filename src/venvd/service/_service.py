"""`Service`: owns the store, the index client and the job pools for one process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from venvd.index import IndexClient, IndexConfig
from venvd.resolver import ResolveReporter
from venvd.service._cleanup import remove_orphan_temps
from venvd.service._owner import Owner
from venvd.service._request import RequestOptions, ResolveRequest
from venvd.service._resolve import ResolutionService, ResolveResult
from venvd.service.settings import Settings
from venvd.store import Store
from venvd.target import Target

__all__ = ["Service"]

_log = logging.getLogger("venvd.service")


class Service:
    """One process's venvd: thread-safe; open with `Service.open(settings)`, then `close()`."""

    def __init__(self, settings: Settings, store: Store, index: IndexClient) -> None:
        self.settings = settings
        self.store = store
        self.index = index
        self.index_config = IndexConfig(index_urls=settings.index_urls, find_links=tuple(settings.find_links))
        self.resolutions = ResolutionService(
            store,
            index,
            ttl=settings.resolution_ttl,
            page_ttl=settings.page_ttl,
            metadata_workers=settings.metadata_workers,
        )
        self._environments: Any = None
        self.owner = Owner.new()  # this Service's identity as the owner of the builds it runs

    @classmethod
    def open(cls, settings: Settings | None = None) -> Service:
        settings = settings or Settings()
        (settings.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        store = Store.open(settings.resolved_database_url)
        config = IndexConfig(index_urls=settings.index_urls, find_links=tuple(settings.find_links))
        index = IndexClient(
            config,
            timeout=settings.http_timeout,
            retries=settings.http_retries,
            work_dir=settings.data_dir / "tmp",
        )
        service = cls(settings, store, index)
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
        if self.settings.requeue_interrupted and self.store.unfinished_environments(self.owner.host):
            self.environments.recover()

    def close(self) -> None:
        self.owner.release()
        if self._environments is not None:
            self._environments.close()
        self.resolutions.close()
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
        return ResolveRequest.create(
            requirements,
            target,
            constraints=constraints,
            options=opts,
            index=self.index_config.to_json(),
        )

    @property
    def environments(self) -> Any:
        """The environment builder service (created on first use: it starts a worker pool)."""
        if self._environments is None:
            from venvd.service._environments import EnvironmentService

            self._environments = EnvironmentService(self)
        return self._environments

    def resolve(
        self,
        request: ResolveRequest,
        *,
        reporter: ResolveReporter | None = None,
        refresh: bool = False,
    ) -> ResolveResult:
        return self.resolutions.resolve(request, reporter=reporter, refresh=refresh)

