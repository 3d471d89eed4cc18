"""Environment queries, run inside a `Store` session (the Store owns transactions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from packaging.version import Version
from sqlalchemy.orm import Session

from venvd.errors import NotFound
from venvd.store._graph import WHY_SQL
from venvd.store._models import ENVIRONMENT_STATUSES, EnvironmentPackageRow, EnvironmentRow
from venvd.store._notify import notify_changed
from venvd.store._records import EnvironmentRecord
from venvd.store.versionkey import version_sort_key

__all__ = [
    "EnvironmentRow", "check_status", "claim", "containing", "get", "progress", "set_packages",
    "unfinished", "update", "why",
]

UPDATABLE_FIELDS = frozenset({
    "status", "roots", "lock", "request", "artifact_path", "sha256", "size", "manifest", "error",
    "progress", "owner_host", "owner_pid", "owner_start", "owner_token",
})
UNFINISHED = ("queued", "building")
_CHUNK = 500  # bound parameters per IN list


def check_status(status: str) -> str:
    if status not in ENVIRONMENT_STATUSES:
        raise ValueError(f"unknown environment status {status!r}; one of {ENVIRONMENT_STATUSES}")
    return status


def _require(s: Session, environment_id: str) -> EnvironmentRow:
    row = s.get(EnvironmentRow, environment_id)
    if row is None:
        raise NotFound(f"no environment {environment_id!r}", environment_id=environment_id)
    return row


def get(s: Session, environment_id: str) -> EnvironmentRecord | None:
    row = s.get(EnvironmentRow, environment_id, populate_existing=True)
    return None if row is None else EnvironmentRecord.from_row(row)


def update(s: Session, environment_id: str, fields: Mapping[str, Any],
           now: datetime) -> EnvironmentRecord:
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"cannot update environment field(s) {sorted(unknown)}")
    values = dict(fields)
    if "status" in values:
        check_status(values["status"])
    if "roots" in values:
        values["roots"] = sorted({canonicalize_name(r) for r in values["roots"]})
    row = _require(s, environment_id)
    for field, value in values.items():
        setattr(row, field, value)
    row.updated_at = now
    s.flush()
    notify_changed(s, environment_id)
    return EnvironmentRecord.from_row(row)


def claim(s: Session, environment_id: str, expected_owner: str | None,
          fields: Mapping[str, Any], now: datetime) -> bool:
    """Update an unfinished build only if the token `expected_owner` still owns it (None: nobody
    does): one compare-and-set, so of several processes taking over a build exactly one wins."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"cannot update environment field(s) {sorted(unknown)}")
    if "status" in fields:
        check_status(fields["status"])
    owned = (EnvironmentRow.owner_token.is_(None) if expected_owner is None
             else EnvironmentRow.owner_token == expected_owner)
    result = s.execute(
        sa.update(EnvironmentRow)
        .where(EnvironmentRow.id == environment_id, EnvironmentRow.status.in_(UNFINISHED), owned)
        .values(**fields, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        notify_changed(s, environment_id)
    return changed


def progress(s: Session, environment_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`{"status", "progress", "error"}` of each of `environment_ids` that exists (one query per
    500 ids)."""
    ids = sorted(set(environment_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = s.execute(
            sa.select(EnvironmentRow.id, EnvironmentRow.status, EnvironmentRow.progress,
                      EnvironmentRow.error).where(EnvironmentRow.id.in_(ids[start:start + _CHUNK])))
        found.update((row.id, {"status": row.status, "progress": row.progress, "error": row.error})
                     for row in rows)
    return found


def unfinished(s: Session, host: str) -> list[EnvironmentRecord]:
    """Builds still `queued` or `building` whose recorded owner runs on `host`."""
    rows = s.scalars(
        sa.select(EnvironmentRow)
        .where(EnvironmentRow.status.in_(UNFINISHED), EnvironmentRow.owner_host == host)
        .order_by(EnvironmentRow.updated_at, EnvironmentRow.id)
    )
    return [EnvironmentRecord.from_row(row) for row in rows]


def set_packages(s: Session, environment_id: str, packages: Iterable[tuple[str, str]]) -> None:
    _require(s, environment_id)
    rows = {canonicalize_name(name): version for name, version in packages}
    s.execute(sa.delete(EnvironmentPackageRow)
              .where(EnvironmentPackageRow.environment_id == environment_id))
    if rows:
        s.execute(sa.insert(EnvironmentPackageRow), [
            {"environment_id": environment_id, "name": name, "version": version,
             "version_key": version_sort_key(Version(version))}
            for name, version in sorted(rows.items())
        ])


def containing(s: Session, name: str, version: str | None) -> list[str]:
    query = (sa.select(EnvironmentPackageRow.environment_id)
             .where(EnvironmentPackageRow.name == name)
             .order_by(EnvironmentPackageRow.environment_id))
    if version is not None:
        query = query.where(EnvironmentPackageRow.version_key == version_sort_key(Version(version)))
    return list(s.scalars(query))


def why(s: Session, environment_id: str, name: str, limit: int) -> list[list[str]]:
    env = _require(s, environment_id)
    count = s.scalar(sa.select(sa.func.count()).where(
        EnvironmentPackageRow.environment_id == environment_id))
    present = s.get(EnvironmentPackageRow, (environment_id, name))
    if present is None or not env.roots:
        return []
    # A shortest chain visits each package at most once, so it is never longer than `count`.
    paths = s.scalars(WHY_SQL, {
        "environment_id": environment_id, "target": name, "roots": list(env.roots),
        "max_depth": count, "limit": limit,
    })
    return [path.split(" ") for path in paths]
