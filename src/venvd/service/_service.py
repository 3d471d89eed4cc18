"""`Service`: owns the store, the index client and the job pools for one process."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from venvd.index import IndexClient, IndexConfig
from venvd.resolver import ResolveReporter
from venvd.service._request import RequestLimits, RequestOptions, ResolveRequest
from venvd.service._resolve import ResolutionService, ResolveResult
from venvd.service.settings import Settings
from venvd.store import Store
from venvd.target import Target

__all__ = ["Service"]


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
            timeout=settings.resolution_timeout,
        )
        self.limits = RequestLimits.from_settings(settings)
        self._environments: Any = None

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
        return cls(settings, store, index)

    def close(self) -> None:
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
            limits=self.limits,
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
