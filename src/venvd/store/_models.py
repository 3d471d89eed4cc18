"""The store's tables as SQLAlchemy 2 typed ORM models.

The schema itself is created and changed only by the Alembic migrations in `migrations/`; these
models must describe the same schema (a test compares them with the migrated database).

    projects 1──* files                     a project page as last fetched from its index
    core_metadata 1──* dependency_edges     per-file metadata (immutable) and its Requires-Dist
    resolutions                             cached locks by resolution key
    environments 1──* environment_packages  builds by environment key, and what they contain
    tokens                                  API bearer tokens (hashed) and their scopes
    object_leases                           cached objects in use (GC keeps them)
    advisories 1──* advisory_ranges         imported OSV advisories and their affected intervals
    private_files                           files uploaded to the private indexes (never replaced)
    built_wheels                            wheels built from sdists, by sdist and build key
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from venvd.store._types import JSON_VALUE, VERSION_KEY, UTCDateTime

__all__ = [
    "ENVIRONMENT_STATUSES",
    "TOKEN_SCOPES",
    "AdvisoryRangeRow",
    "AdvisoryRow",
    "Base",
    "BuiltWheelRow",
    "DependencyEdgeRow",
    "EnvironmentPackageRow",
    "EnvironmentRow",
    "FileRow",
    "MetadataRow",
    "ObjectLeaseRow",
    "PrivateFileRow",
    "ProjectRow",
    "ResolutionRow",
    "TokenRow",
]

ENVIRONMENT_STATUSES = ("queued", "building", "ready", "failed")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String, unique=True)  # canonical (PEP 503)
    index_url: Mapped[str] = mapped_column(sa.String)
    etag: Mapped[str | None] = mapped_column(sa.String)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FileRow(Base):
    __tablename__ = "files"
    __table_args__ = (sa.Index("ix_files_project_id_version_key", "project_id", "version_key"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(sa.Integer)  # the index's order, kept for determinism
    filename: Mapped[str] = mapped_column(sa.String)
    url: Mapped[str] = mapped_column(sa.String)
    sha256: Mapped[str | None] = mapped_column(sa.String)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    requires_python: Mapped[str | None] = mapped_column(sa.String)
    yanked: Mapped[str | None] = mapped_column(sa.String)  # NULL: not yanked; else the reason
    upload_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    metadata_sha256: Mapped[str | None] = mapped_column(sa.String)
    version: Mapped[str] = mapped_column(sa.String)
    version_key: Mapped[str] = mapped_column(VERSION_KEY)
    kind: Mapped[str] = mapped_column(sa.String)
    tags: Mapped[list[str]] = mapped_column(JSON_VALUE)
    index_url: Mapped[str] = mapped_column(sa.String)


class MetadataRow(Base):
    __tablename__ = "core_metadata"
    __table_args__ = (sa.Index("ix_core_metadata_name_version_key", "name", "version_key"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    file_key: Mapped[str] = mapped_column(sa.String, unique=True)  # DistFile.cache_key
    name: Mapped[str] = mapped_column(sa.String)
    version: Mapped[str] = mapped_column(sa.String)
    version_key: Mapped[str] = mapped_column(VERSION_KEY)
    requires_python: Mapped[str | None] = mapped_column(sa.String)
    requires_dist: Mapped[list[str]] = mapped_column(JSON_VALUE)
    provides_extra: Mapped[list[str]] = mapped_column(JSON_VALUE)


class DependencyEdgeRow(Base):
    """One Requires-Dist entry: `project` (the metadata's name, repeated so that graph walks need no
    join) depends on `dependency` under whatever extras and markers `requirement` carries."""

    __tablename__ = "dependency_edges"
    __table_args__ = (
        sa.Index("ix_dependency_edges_project_dependency", "project", "dependency"),
        sa.Index("ix_dependency_edges_dependency", "dependency"),
        sa.Index("ix_dependency_edges_metadata_id", "metadata_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    metadata_id: Mapped[int] = mapped_column(
        sa.ForeignKey("core_metadata.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(sa.String)
    dependency: Mapped[str] = mapped_column(sa.String)
    requirement: Mapped[str] = mapped_column(sa.String)


class ResolutionRow(Base):
    __tablename__ = "resolutions"

    key: Mapped[str] = mapped_column(sa.String, primary_key=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON_VALUE)
    lock: Mapped[dict[str, Any]] = mapped_column(JSON_VALUE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # NULL: permanent


class EnvironmentRow(Base):
    __tablename__ = "environments"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('queued', 'building', 'ready', 'failed')", name="status"),
        sa.Index("ix_environments_status", "status"),
        sa.Index("ix_environments_lock_id", "lock_id"),
    )

    id: Mapped[str] = mapped_column(sa.String, primary_key=True)  # the environment key
    lock_id: Mapped[str] = mapped_column(sa.String)
    target_key: Mapped[str] = mapped_column(sa.String)
    status: Mapped[str] = mapped_column(sa.String)
    roots: Mapped[list[str]] = mapped_column(JSON_VALUE)  # canonical names requested
    lock: Mapped[Any | None] = mapped_column(JSON_VALUE)  # the lock JSON it was built from
    request: Mapped[Any | None] = mapped_column(JSON_VALUE)  # a summary of the request
    artifact_path: Mapped[str | None] = mapped_column(sa.String)
    sha256: Mapped[str | None] = mapped_column(sa.String)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    manifest: Mapped[Any | None] = mapped_column(JSON_VALUE)
    error: Mapped[Any | None] = mapped_column(JSON_VALUE)
    progress: Mapped[Any | None] = mapped_column(JSON_VALUE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The process that queued or runs the build (migration 0002); NULL before it or when nobody does.
    owner_host: Mapped[str | None] = mapped_column(sa.String)
    owner_pid: Mapped[int | None] = mapped_column(sa.Integer)
    owner_start: Mapped[str | None] = mapped_column(sa.String)  # the process's start identity
    owner_token: Mapped[str | None] = mapped_column(sa.String)  # random, one per Service
    # Builds started since the last verdict that was not a bug (migration 0003_jobs).
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    # When a build job was last handed to the queue; NULL: never (migration 0003_jobs).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the environment was last served (0004_impact); roughly: written throttled.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EnvironmentPackageRow(Base):
    __tablename__ = "environment_packages"
    __table_args__ = (sa.Index("ix_environment_packages_name", "name"),)

    environment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String, primary_key=True)  # canonical
    version: Mapped[str] = mapped_column(sa.String)
    version_key: Mapped[str] = mapped_column(VERSION_KEY)


TOKEN_SCOPES = ("read", "build", "admin")  # each includes those before it


class TokenRow(Base):
    """An API bearer token (migration 0003_tokens): only its sha256 is stored. Revoked tokens keep
    their row (who had access, and until when); a name is unique among the tokens not revoked."""

    __tablename__ = "tokens"
    __table_args__ = (
        sa.CheckConstraint("scope IN ('read', 'build', 'admin')", name="scope"),
        sa.Index("ix_tokens_active_name", "name", unique=True,
                 sqlite_where=sa.text("revoked_at IS NULL"),
                 postgresql_where=sa.text("revoked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String)
    scope: Mapped[str] = mapped_column(sa.String)
    token_hash: Mapped[str] = mapped_column(sa.String, unique=True)  # sha256 hex of the token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # roughly (throttled)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ObjectLeaseRow(Base):
    """An object key, or a key prefix ending in "/", that GC keeps until `expires_at` (0003)."""

    __tablename__ = "object_leases"
    __table_args__ = (sa.Index("ix_object_leases_expires_at", "expires_at"),)

    holder: Mapped[str] = mapped_column(sa.String, primary_key=True)  # one build or download
    key: Mapped[str] = mapped_column(sa.String, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdvisoryRow(Base):
    """An imported OSV advisory (0004_impact): the newest `modified` of its id, document kept."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(sa.String, primary_key=True)
    modified: Mapped[datetime] = mapped_column(UTCDateTime())
    published: Mapped[datetime | None] = mapped_column(UTCDateTime())
    summary: Mapped[str] = mapped_column(sa.String)
    aliases: Mapped[list[str]] = mapped_column(JSON_VALUE)
    document: Mapped[dict[str, Any]] = mapped_column(JSON_VALUE)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdvisoryRangeRow(Base):
    """One affected interval of an advisory for one (canonical) PyPI package: versions `v` with
    ``low_key <= key(v)`` (NULL: no lower bound) and ``key(v) < high_key`` (``<=`` when
    `high_inclusive`; NULL: no upper bound). `high` is a fixed version unless `high_inclusive`."""

    __tablename__ = "advisory_ranges"
    __table_args__ = (
        sa.Index("ix_advisory_ranges_package", "package"),
        sa.Index("ix_advisory_ranges_advisory_id", "advisory_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    advisory_id: Mapped[str] = mapped_column(
        sa.ForeignKey("advisories.id", ondelete="CASCADE"))
    package: Mapped[str] = mapped_column(sa.String)
    low: Mapped[str | None] = mapped_column(sa.String)
    low_key: Mapped[str | None] = mapped_column(VERSION_KEY)
    high: Mapped[str | None] = mapped_column(sa.String)
    high_key: Mapped[str | None] = mapped_column(VERSION_KEY)
    high_inclusive: Mapped[bool] = mapped_column(sa.Boolean)
class PrivateFileRow(Base):
    """A file uploaded to a private index (migration 0004_private_files). Never replaced nor
    changed: a filename is unique within its index; the bytes are the object store's
    ``private-v1/<sha[:2]>/<sha>/<filename>`` (and its core metadata ``...<filename>.metadata``)."""

    __tablename__ = "private_files"
    __table_args__ = (
        sa.UniqueConstraint("index_name", "filename"),
        sa.Index("ix_private_files_index_name_project_version_key", "index_name", "project",
                 "version_key"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)  # grows: the indexes' generation
    index_name: Mapped[str] = mapped_column(sa.String)
    project: Mapped[str] = mapped_column(sa.String)  # canonical (PEP 503)
    version: Mapped[str] = mapped_column(sa.String)
    version_key: Mapped[str] = mapped_column(VERSION_KEY)
    filename: Mapped[str] = mapped_column(sa.String)
    sha256: Mapped[str] = mapped_column(sa.String)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    requires_python: Mapped[str | None] = mapped_column(sa.String)
    metadata_sha256: Mapped[str] = mapped_column(sa.String)  # of the core metadata file's bytes
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str | None] = mapped_column(sa.String)  # token name; NULL without tokens


class BuiltWheelRow(Base):
    """A wheel a builder built from an sdist and published (migration 0005_built_wheels), so that
    every API node's `/simple/` lists it: its bytes are the object store's
    ``built-v1/<sdist sha256>/<build key>/<filename>``. Added once, never changed (the first
    build of a (sdist, build key) pair is the one the cache keeps)."""

    __tablename__ = "built_wheels"

    sdist_sha256: Mapped[str] = mapped_column(sa.String, primary_key=True)
    build_key: Mapped[str] = mapped_column(sa.String, primary_key=True)  # sandbox.build_key()
    filename: Mapped[str] = mapped_column(sa.String)
    sha256: Mapped[str] = mapped_column(sa.String)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    requires_python: Mapped[str | None] = mapped_column(sa.String)  # the wheel's Requires-Python
    metadata_sha256: Mapped[str | None] = mapped_column(sa.String)  # of its METADATA; None: none
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())
