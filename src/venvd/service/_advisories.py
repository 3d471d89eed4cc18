"""`AdvisoryService` (`Service.advisories`): import OSV advisories, and list the environments
they affect, each with the fixed version to move to.

    read_documents(path, max_file_bytes) -> [(source, document), ...]
        the OSV documents of a file (*.json, *.yaml, *.yml: one document or a list) or of a
        directory tree of them (sorted; other files ignored); InvalidDocument naming the file.
    import_documents([(source, document), ...]) -> {"imported", "unchanged", "skipped"}: ids
        every document parsed first (InvalidDocument naming source and field, nothing stored),
        then all stored in one transaction (see `venvd.store._advisories`).
    impact(package=None, advisory=None, limit=1000, offset=0)
        -> {"items": [{"advisory", "aliases", "summary", "package", "version", "fixed",
                       "environment": ENV}], "total", "limit", "offset"}
           ENV as `venvd.service._impact` documents; `fixed`: the lowest fixed version above the
           one held, null when none is known.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from venvd.errors import InvalidDocument, InvalidRequest
from venvd.service._impact import environment_json, package_name
from venvd.service._osv import parse_advisory
from venvd.store import Advisories, Impact, Store

__all__ = ["MAX_IMPACT_PAGE", "AdvisoryService", "read_documents"]

MAX_IMPACT_PAGE = 10_000
_SUFFIXES = (".json", ".yaml", ".yml")


def _load(path: Path, max_bytes: int) -> Any:
    name = str(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidDocument(f"cannot read: {exc.strerror or exc}", file=name, kind="osv") from None
    if len(data) > max_bytes:
        raise InvalidDocument(f"larger than {max_bytes} bytes (the max_advisory_file_bytes "
                              "setting)", file=name, kind="osv")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidDocument("not UTF-8 text", file=name, kind="osv") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidDocument(f"not valid JSON: {exc.msg}", file=name, line=exc.lineno,
                                  kind="osv") from None
    import yaml

    try:
        loaded = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidDocument(f"not valid YAML: {problem}", file=name,
                              line=mark.line + 1 if mark else None, kind="osv") from None
    return _as_json(loaded, name)


def _as_json(value: Any, file: str) -> Any:
    """YAML's data as JSON's: timestamps (YAML reads unquoted ones as datetimes) become RFC 3339
    strings, so a document is stored and sent as the JSON it would have been; binary, sets and
    non-string keys are refused."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise InvalidDocument("a mapping has a key that is not a string", file=file,
                                  kind="osv")
        return {k: _as_json(v, file) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v, file) for v in value]
    if isinstance(value, datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidDocument(f"a value of YAML type {type(value).__name__} has no JSON form",
                          file=file, kind="osv")


def read_documents(path: Path, max_file_bytes: int) -> list[tuple[str, Any]]:
    """See the module docstring."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    elif path.exists():
        files = [path]
    else:
        raise InvalidDocument("no such file or directory", file=str(path), kind="osv")
    found: list[tuple[str, Any]] = []
    for file in files:
        loaded = _load(file, max_file_bytes)
        if isinstance(loaded, list):
            found += [(f"{file}[{i}]", doc) for i, doc in enumerate(loaded)]
        else:
            found.append((str(file), loaded))
    return found


class AdvisoryService:
    """Advisories over one store (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self._advisories = Advisories(store)
        self._impact = Impact(store)

    def import_documents(self, documents: Sequence[tuple[str, Any]]) -> dict[str, list[str]]:
        parsed = [parse_advisory(doc, source) for source, doc in documents]
        counts = self._advisories.put(parsed, datetime.now(UTC))
        return {"imported": counts.imported, "unchanged": counts.unchanged,
                "skipped": counts.skipped}

    def impact(self, package: str | None = None, advisory: str | None = None,
               limit: int = 1000, offset: int = 0) -> dict[str, Any]:
        if not 1 <= limit <= MAX_IMPACT_PAGE:
            raise InvalidRequest(f"limit: must be 1 to {MAX_IMPACT_PAGE}, not {limit}",
                                 problems=[{"field": "limit", "problem": "out of range"}])
        if offset < 0:
            raise InvalidRequest(f"offset: must be 0 or more, not {offset}",
                                 problems=[{"field": "offset", "problem": "negative"}])
        rows, total = self._advisories.affected(
            package=package_name(package) if package else None, advisory=advisory or None,
            limit=limit, offset=offset)
        summaries = self._impact.summaries(row.environment_id for row in rows)
        return {"items": [{"advisory": row.advisory, "aliases": row.aliases,
                           "summary": row.summary, "package": row.package,
                           "version": row.version, "fixed": row.fixed,
                           "environment": environment_json(summaries[row.environment_id])}
                          for row in rows if row.environment_id in summaries],
                "total": total, "limit": limit, "offset": offset}
