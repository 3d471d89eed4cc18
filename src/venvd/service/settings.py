"""Service configuration: one Settings object, from arguments, environment (VENVD_*) and defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_INDEX_URL", "RESERVED_INDEX_NAMES", "Settings", "check_private_index_name",
           "default_data_dir"]

DEFAULT_INDEX_URL = "https://pypi.org/simple/"

# First path segments the app serves itself (or will: the web UI, /simple/): a private index of
# one of these names would be unreachable or would hide them.
RESERVED_INDEX_NAMES = frozenset({
    "simple", "v1", "files", "docs", "redoc", "static", "environments", "packages", "metrics",
    "openapi.json", "advisories", "api", "health", "ready", "favicon.ico", "robots.txt",
    "assets", "search", "ui", "query", "tokens", "request", "login", "logout",
})
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_private_index_name(name: str) -> str:
    """`name` when it can name a private index (the first path segment of its URLs); ValueError
    naming the problem otherwise."""
    if not _INDEX_NAME.fullmatch(name):
        raise ValueError(f"private index name {name!r}: 1-64 lower-case letters, digits, '.', "
                         "'_' or '-', starting with a letter or digit")
    if name in RESERVED_INDEX_NAMES:
        raise ValueError(f"private index name {name!r} clashes with the server's own /{name} "
                         f"routes (reserved: {', '.join(sorted(RESERVED_INDEX_NAMES))})")
    return name


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("venvd", appauthor=False))


class Settings(BaseSettings):
    """Everything the service needs to run. Environment variables: VENVD_DATA_DIR, VENVD_DATABASE_URL, ..."""

    model_config = SettingsConfigDict(env_prefix="VENVD_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: SQLite file in data_dir
    index_url: str = DEFAULT_INDEX_URL
    extra_index_urls: list[str] = Field(default_factory=list)
    find_links: list[str] = Field(default_factory=list)
    # URL prefixes direct references (`name @ URL#sha256=...`) may be fetched from; empty (the
    # default) refuses every direct reference. https only unless a prefix says http; never
    # file: or credentials (see venvd.inputs._direct).
    direct_url_prefixes: list[str] = Field(default_factory=list)
    resolution_ttl: float = 300.0  # seconds a resolution without exclude_newer stays fresh
    page_ttl: float = 600.0  # seconds a project page is used without revalidation (unless max-age says less)
    http_timeout: float = 30.0
    http_retries: int = 3
    metadata_workers: int = 16
    build_workers: int = 2
    no_build: bool = False
    build_timeout: float = 600.0
    test_timeout: float = Field(default=300.0, gt=0)  # seconds for all of a request's tests, in the env
    unsafe_builds: bool = False  # build sdists without bubblewrap (no sandbox) when it is missing
    build_tmp_mb: int = 1024  # size of an sdist build's private /tmp
    build_disk_mb: int = 4096  # bytes an sdist build may write into its build directory
    build_max_processes: int = 256  # processes an sdist build may run at once
    max_wheel_expanded_size: int = 16 * 1024**3  # bytes one wheel may expand to when installed
    max_wheel_expansion_ratio: float = 200.0  # expanded/compressed of one wheel member (> 1 MiB)
    # Lifetime of one progress stream (the client reconnects), and how often a quiet one sends a
    # comment line (clients time out silent streams).
    events_max_seconds: float = Field(default=300.0, gt=0)
    events_heartbeat_seconds: float = Field(default=15.0, gt=0)
    requeue_interrupted: bool = True  # at start, rebuild what a dead process of this host left
    # Bounds on the work of one request, each checked before work starts (LimitExceeded names it).
    max_body_bytes: int = 8 * 1024 * 1024  # request body, checked before JSON parsing (413)
    max_requirements: int = 1_000
    # One OSV advisory file read by `venvd advisories import` (a PyPA one is a few kilobytes).
    max_advisory_file_bytes: int = 4 * 1024 * 1024
    max_constraints: int = 2_000
    max_requirement_length: int = 1_000  # characters of one requirement or constraint
    max_lock_packages: int = 1_000  # packages in a lock posted to /v1/environments
    max_compatible_tags: int = 20_000  # tags of a complete-platform target (after expansion)
    max_targets: int = Field(default=16, ge=1)  # targets of one universal lock (one resolution each)
    resolution_timeout: float = 300.0  # wall-time budget of one resolution, seconds (then 503)
    # Bearer tokens: "auto" = required when `venvd serve` binds a non-loopback address,
    # "required" = always (loopback too), "off" = never (see api/_auth.py).
    auth: Literal["auto", "required", "off"] = "auto"
    log_format: Literal["text", "json"] = "text"  # one line per request, either way
    # Where wheels, built wheels, fragments and artifacts are shared: "" = data_dir/cache, or
    # s3://bucket/prefix (with s3_endpoint_url for S3-API servers), or a directory (a shared mount).
    object_store: str = ""
    s3_endpoint_url: str | None = None
    presign_downloads: bool = False  # answer artifact downloads with a 307 to a presigned URL (S3)
    presign_expiry: float = Field(default=3600.0, gt=0)  # seconds a presigned URL stays valid
    # Periodic GC of the caches, least recently used first, while they hold more than this
    # ("20GB", "512MiB"; empty = never), every gc_interval seconds; objects used less than
    # gc_min_age seconds ago are kept.
    cache_max_size: str | None = None
    gc_interval: float = Field(default=600.0, gt=0)
    gc_min_age: float = Field(default=60.0, ge=0)
    # Private indexes (see service/_private.py): name → the upstream project names it may shadow,
    # e.g. '{"team": ["requests"]}'; each is served at /<name>/ (uploads) and /<name>/simple/.
    private_indexes: dict[str, list[str]] = Field(default_factory=dict)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)  # one uploaded file

    @field_validator("private_indexes")
    @classmethod
    def _check_private_indexes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from packaging.utils import canonicalize_name

        return {check_private_index_name(name): sorted({canonicalize_name(p) for p in shadow})
                for name, shadow in value.items()}

    @field_validator("direct_url_prefixes")
    @classmethod
    def _check_direct_url_prefixes(cls, value: list[str]) -> list[str]:
        from venvd.inputs import DirectURLPolicy

        try:
            return list(DirectURLPolicy.of(value).prefixes)
        except ValueError as exc:  # DirectError: a settings error at start, naming the prefix
            raise ValueError(str(exc)) from None

    @field_validator("cache_max_size")
    @classmethod
    def _check_cache_max_size(cls, value: str | None) -> str | None:
        if value:
            from venvd.objects import parse_size

            parse_size(value)  # ValueError → a settings error at start, naming the variable
        return value or None
    # Bounds on this process's memory caches (entries; a full cache drops its least recently used
    # or, for metadata and pages, starts over: the store holds it all). See README "Memory".
    memo_metadata_entries: int = Field(default=50_000, ge=0)  # core metadata of files, by file
    memo_page_entries: int = Field(default=5_000, ge=0)  # project pages (file lists), by project
    memo_page_files: int = Field(default=500_000, ge=0)  # files those pages list, in all
    resolution_cache_entries: int = Field(default=1_024, ge=0)  # fresh resolutions (locks)
    resolution_cache_weight: int = Field(default=500_000, ge=0)  # their files + packages in all
    recipe_cache_entries: int = Field(default=256, ge=0)  # parsed artifact recipes, for downloads
    # Fleet: build jobs on a queue (Celery on RabbitMQ) taken by `venvd worker`s; "" = in-process pool.
    queue_url: str = ""  # e.g. amqp://guest:guest@127.0.0.1:5672//
    queue_name: str = "venvd-builds"  # the broker queue of build jobs
    # Relay period: an unfinished build quiet this long whose job may be lost is published again.
    queue_sweep_seconds: float = Field(default=30.0, gt=0)
    build_lease_seconds: float = Field(default=60.0, gt=0)  # a build owner silent this long is dead
    build_max_attempts: int = Field(default=3, ge=1)  # builds of one environment that end in a bug (or crash)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        from venvd.store import sqlite_url_for

        return sqlite_url_for(self.data_dir)

    @property
    def index_urls(self) -> tuple[str, ...]:
        return (self.index_url, *self.extra_index_urls)
