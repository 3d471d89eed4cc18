"""The SBOM of a stored environment: its record (lock, manifest) and its archive's METADATA files.

Used by the API route and the in-process client alike, so both answer the same bytes and the same
errors: NotFound for an unknown id, NotReady while the environment is not built (its licences are
read from the built archive).
"""

from __future__ import annotations

import tarfile
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name

from venvd.errors import NotReady, UpstreamError
from venvd.outputs._licences import Licence, archive_metadata, licence_of, metadata_members
from venvd.outputs._sbom import render_sbom

__all__ = ["environment_sbom"]

# Environments are immutable, so their SBOMs are too: the last few are kept (one costs a pass
# over the archive's stream).
_KEPT = 32
_cache: OrderedDict[tuple[str, str], str] = OrderedDict()
_cache_lock = threading.Lock()


def environment_sbom(service: Any, env_id: str) -> str:
    """CycloneDX 1.6 JSON of environment `env_id` of `service` (a `venvd.service.Service`).

    Raises NotFound (unknown id), NotReady (queued, building or failed), UpstreamError (the
    object store failed, or the archive is unreadable)."""
    environments = service.environments
    doc = environments.status(env_id)  # NotFound first
    if doc["status"] != "ready":
        raise NotReady(f"environment {env_id} is {doc['status']}: its SBOM needs the built "
                       "environment (follow its events, then ask again)",
                       id=env_id, status=doc["status"])
    # Keyed by creation time too: two stores in one process may hold the same environment id
    # (the same lock, target and options) created at different times.
    key = (env_id, str(doc.get("created_at")))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    manifest = doc.get("manifest") or {}
    licences = _licences(environments.artifact_path(env_id), manifest)
    created = datetime.fromisoformat(doc["created_at"]) if doc.get("created_at") else None
    text = render_sbom(env_id=env_id, lock=doc.get("lock") or {}, manifest=manifest,
                       licences=licences, created=created)
    with _cache_lock:
        _cache[key] = text
        while len(_cache) > _KEPT:
            _cache.popitem(last=False)
    return text


def _licences(archive: Any, manifest: dict[str, Any]) -> dict[str, Licence]:
    """Each installed distribution's licence by canonical name, from its METADATA in `archive`."""
    import zstandard

    site_packages = str((manifest.get("layout") or {}).get("site_packages") or "")
    members = [m for p in manifest.get("packages") or []
               for m in metadata_members(site_packages, p.get("files") or [])]
    try:
        found = archive_metadata(archive, members)
    except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
        raise UpstreamError(f"cannot read the archive of environment {manifest.get('environment')}: "
                            f"{exc}") from None
    licences: dict[str, Licence] = {}
    for data in found.values():
        raw, _ = parse_email(data)
        if raw.get("name"):
            licences[canonicalize_name(raw["name"])] = licence_of(data)
    return licences
