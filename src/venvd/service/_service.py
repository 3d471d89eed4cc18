"""`Service`: owns the store, the index client and the job pools for one process."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from venvd.index import IndexClient, IndexConfig
from venvd.resolver import ResolveReporter
from venvd.service._owner import Owner
from venvd.service._request import RequestOptions, ResolveRequest
from venvd.service._resolve import ResolutionService, ResolveResult
from venvd.service.settings import Settings
from venvd.store import Store
from venvd.target import Target

__all__ = ["Service"]

_log = logging.getLogger("venvd.service")
# The prefix of the builder's temporary names (venvd.builder._cache.TEMP_PREFIX).
_TEMP_PREFIX = ".tmp-"


def _is_temporary(name: str) -> bool:
    """The builder's `.tmp-*` names, and the index client's `.<file>.<random>.part` downloads."""
    return name.startswith(_TEMP_PREFIX) or (name.startswith(".") and name.endswith(".part"))


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


def remove_orphan_temps(data_dir: Path, older_than: float) -> list[Path]:
    """Remove the temporary files and directories that no live writer uses: `.tmp-*` and `.*.part`
    names under data_dir/cache and anything under data_dir/tmp, untouched for `older_than` seconds (a live
    writer keeps its temp files fresh, and no step of a build outlives the build timeout).
    The paths removed; errors are logged, never raised."""
    removed: list[Path] = []
    cutoff = time.time() - older_than
    candidates: list[Path] = []
    cache = data_dir / "cache"
    for root, dirs, files in os.walk(cache):
        for name in [*dirs, *files]:
            if _is_temporary(name):
                candidates.append(Path(root) / name)
        dirs[:] = [d for d in dirs if not _is_temporary(d)]
    with contextlib.suppress(OSError):
        candidates.extend((data_dir / "tmp").iterdir())
    for path in candidates:
        try:
            if _newest_mtime(path) > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except FileNotFoundError:
            continue
        except OSError:
            _log.exception("cannot remove the leftover temporary %s", path)
    if removed:
        _log.warning("removed %d leftover temporary file(s) under %s", len(removed), data_dir)
    return removed


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                try:
                    newest = max(newest, (Path(root) / name).lstat().st_mtime)
                except FileNotFoundError:
                    continue
    return newest
