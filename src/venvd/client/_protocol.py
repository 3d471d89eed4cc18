"""The client contract shared by the HTTP and in-process clients."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Client", "connect"]


class Client(Protocol):
    def resolve(self, body: dict[str, Any], fmt: str = "json") -> dict[str, Any] | str:
        """POST /v1/resolve: the lock JSON (fmt json) or the rendered text."""

    def create_environment(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/environments: the environment status document."""

    def environment(self, env_id: str) -> dict[str, Any]:
        """GET /v1/environments/{id}."""

    def sbom(self, env_id: str) -> str:
        """GET /v1/environments/{id}/sbom: CycloneDX 1.6 JSON text (NotReady until it is built)."""

    def environments_with(self, name: str, specifier: str, limit: int = 50,
                          offset: int = 0) -> dict[str, Any]:
        """GET /v1/packages/{name}/environments: environments holding a version in `specifier`."""

    def why(self, env_id: str, name: str) -> dict[str, Any]:
        """GET /v1/environments/{id}/why/{name}: the dependency chains to `name`."""

    def import_advisories(self, documents: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """POST /v1/advisories: store (source, OSV document) pairs in one transaction."""

    def advisory_impact(self, package: str | None = None, advisory: str | None = None,
                        limit: int = 1000, offset: int = 0) -> dict[str, Any]:
        """GET /v1/advisories/impact: affected environments with their fixed versions."""

    def events(self, env_id: str) -> Iterator[dict[str, Any]]:
        """Progress events of a build until it is ready or failed."""

    def download(
        self, env_id: str, dest: Path, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Fetch the artifact to `dest` (verified); returns {"sha256", "size"}."""

    def open_artifact(self, env_id: str) -> Any:
        """The artifact as a `venvd.materialize.ArtifactSource` (fragments read on demand)."""

    def upload(self, index: str | None, path: Path) -> dict[str, Any]:
        """POST /{index}/ (the legacy upload API): `path` into a private index; `index` None
        means the only one configured (in-process only). {"ok", "file": the stored record}."""

    def close(self) -> None: ...


def connect(server: str | None, settings: Any = None) -> Client:
    """An HttpClient for `server`, else a LocalClient running the service in this process."""
    if server:
        from venvd.client._http import HttpClient

        return HttpClient(server)
    from venvd.client._local import LocalClient

    return LocalClient(settings)
