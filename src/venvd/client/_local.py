"""LocalClient: the service in this process, on the embedded default (SQLite + the local data dir).

It takes the HTTP API's bodies (dicts of their JSON, or the models themselves), validated by the
same models (`venvd.service._bodies`) and turned into the same service calls as the API's routes,
so a body means, and fails, the same in process as over HTTP."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from venvd.formats import render, render_universal
from venvd.service import Service, Settings
from venvd.service._bodies import EnvironmentBody, ResolveBody, parse_body, restrict_result

__all__ = ["LocalClient"]


class LocalClient:
    def __init__(self, settings: Settings | None = None) -> None:
        # A short-lived command must not start (and wait at exit for) builds it was not asked for:
        # an interrupted build is taken over when a `create` asks for it.
        settings = (settings or Settings()).model_copy(update={"requeue_interrupted": False})
        self.service = Service.open(settings, embedded=True)

    def resolve(
        self, body: dict[str, Any] | ResolveBody, fmt: str = "json", reporter: Any = None
    ) -> dict[str, Any] | str:
        service = self.service
        parsed = parse_body(ResolveBody, body)
        if parsed.targets is not None:  # a universal lock
            universal = service.resolve_universal(parsed, reporter=reporter)
            return universal.to_json() if fmt == "json" else render_universal(universal.lock, fmt)[0]
        request = service.request_for(parsed)
        result = restrict_result(parsed, service.resolve(request, reporter=reporter))
        if fmt == "json":
            return result.to_json()
        return render(result.lock, fmt)[0]

    def create_environment(self, body: dict[str, Any] | EnvironmentBody) -> dict[str, Any]:
        data = parse_body(EnvironmentBody, body).to_service(
            max_tags=self.service.settings.max_compatible_tags,
            direct_url_prefixes=self.service.limits.direct_url_prefixes)
        doc: dict[str, Any] = self.service.environments.create_from_json(data)
        return doc

    def environment(self, env_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.service.environments.status(env_id)
        return doc

    def sbom(self, env_id: str) -> str:
        from venvd.outputs import environment_sbom

        return environment_sbom(self.service, env_id)

    def environments_with(self, name: str, specifier: str, limit: int = 50,
                          offset: int = 0) -> dict[str, Any]:
        return self.service.impact.environments_with(name, specifier, limit=limit, offset=offset)

    def why(self, env_id: str, name: str) -> dict[str, Any]:
        return self.service.impact.why(env_id, name)

    def import_advisories(self, documents: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        return self.service.advisories.import_documents(documents)

    def advisory_impact(self, package: str | None = None, advisory: str | None = None,
                        limit: int = 1000, offset: int = 0) -> dict[str, Any]:
        return self.service.advisories.impact(package, advisory, limit=limit, offset=offset)

    def events(self, env_id: str) -> Iterator[dict[str, Any]]:
        events: Iterator[dict[str, Any]] = self.service.environments.events(env_id)
        return events

    def download(
        self, env_id: str, dest: Path, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        path = self.service.environments.artifact_path(env_id)
        part = dest.with_name(dest.name + ".part")
        shutil.copyfile(path, part)
        digest = hashlib.sha256(part.read_bytes()).hexdigest()
        part.replace(dest)
        if progress:
            progress(dest.stat().st_size, dest.stat().st_size)
        return {"sha256": digest, "size": dest.stat().st_size}

    def upload(self, index: str | None, path: Path) -> dict[str, Any]:
        from venvd.errors import InputError

        private = self.service.private
        if private is None:
            raise InputError("no private index is configured: set VENVD_PRIVATE_INDEXES (e.g. "
                             "'{\"team\": []}') or upload to a server with --server")
        if index is None:
            if len(private.names) != 1:
                raise InputError(f"--index: one of {', '.join(private.names)}")
            index = private.names[0]
        with path.open("rb") as fh:
            record = private.upload(index, fh, path.name)
        return {"ok": True, "file": record.to_json()}

    def open_artifact(self, env_id: str) -> Any:
        """The artifact of `env_id` as a source for `venvd.materialize.materialize` (the service's
        own file: nothing is copied)."""
        from venvd.materialize import FileSource

        return FileSource(self.service.environments.artifact_path(env_id))

    def close(self) -> None:
        self.service.close()
