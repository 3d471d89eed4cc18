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
    "EnvironmentRow", "check_status", "claim", "containing", "get", "mark_published", "progress",
    "republish_candidates", "requeue", "set_packages", "unfinished", "update", "why",
]

UPDATABLE_FIELDS = frozenset({
    "status", "roots", "lock", "request", "artifact_path", "sha256", "size", "manifest", "error",
    "progress", "owner_host", "owner_pid", "owner_start", "owner_token", "attempts", "published_at",
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


def _checked(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"cannot update environment field(s) {sorted(unknown)}")
    if "status" in fields:
        check_status(fields["status"])


def claim(s: Session, environment_id: str, expected_owner: str | None,
          fields: Mapping[str, Any], now: datetime, attempt: bool = False) -> bool:
    """Update an unfinished build only if the token `expected_owner` still owns it (None: nobody
    does): one compare-and-set, so of several processes taking over a build exactly one wins.
    `attempt` also counts one more build attempt."""
    _checked(fields)
    owned = (EnvironmentRow.owner_token.is_(None) if expected_owner is None
             else EnvironmentRow.owner_token == expected_owner)
    values: dict[str, Any] = {**fields, "updated_at": now}
    if attempt:
        values["attempts"] = EnvironmentRow.attempts + 1
    result = s.execute(
        sa.update(EnvironmentRow)
        .where(EnvironmentRow.id == environment_id, EnvironmentRow.status.in_(UNFINISHED), owned)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        notify_changed(s, environment_id)  # in this transaction: sent only if it commits
    return changed


def requeue(s: Session, environment_id: str, from_status: str, fields: Mapping[str, Any],
            now: datetime) -> bool:
    """Set `fields` on the environment only while its status is `from_status` (a finished build
    queued again): of racing callers exactly one wins."""
    _checked(fields)
    result = s.execute(
        sa.update(EnvironmentRow)
        .where(EnvironmentRow.id == environment_id, EnvironmentRow.status == check_status(from_status))
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


def mark_published(s: Session, environment_id: str, expected: datetime | None,
                   published_at: datetime | None) -> bool:
    """Compare-and-set of `published_at` (from `expected`); True if this call changed it."""
    current = (EnvironmentRow.published_at.is_(None) if expected is None
               else EnvironmentRow.published_at == expected)
    result = s.execute(
        sa.update(EnvironmentRow)
        .where(EnvironmentRow.id == environment_id, current)
        .values(published_at=published_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def republish_candidates(s: Session, *, quiet_since: datetime, lost_since: datetime,
                         lease_since: datetime, limit: int) -> list[EnvironmentRecord]:
    """Unfinished builds that may have no job in the queue (oldest first, at most `limit`): not
    claimed and never published; not claimed and last published before `lost_since`; or claimed
    by an owner that has not written since `lease_since`. All quiet (no write, no publication)
    since `quiet_since`."""
    row = EnvironmentRow
    unpublished = row.published_at.is_(None)
    unclaimed = row.owner_token.is_(None)
    rows = s.scalars(
        sa.select(row)
        .where(
            row.status.in_(UNFINISHED),
            row.updated_at < quiet_since,
            sa.or_(unpublished, row.published_at < quiet_since),
            sa.or_(
                sa.and_(unclaimed, sa.or_(unpublished, row.published_at < lost_since)),
                sa.and_(~unclaimed, row.updated_at < lease_since),
            ),
        )
        .order_by(row.updated_at, row.id)
        .limit(limit)
    )
    return [EnvironmentRecord.from_row(r) for r in rows]


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
