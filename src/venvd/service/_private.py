"""Private indexes: uploads into named indexes the server holds, and their part in resolution.

Each index the `private_indexes` setting names (with the upstream projects it may shadow) takes
uploads (`upload`: checked whole before anything is stored, never replacing a file) and lists its
own files (`files`, for its /<index>/simple/ pages). Its files live in the object store, content-
addressed (``private-v1/<sha[:2]>/<sha>/<filename>`` and the core metadata next to it as
``<filename>.metadata``), outside the prefixes cache GC collects; their rows in the store
(`venvd.store.PrivateFiles`), added last, so a listed file's bytes always exist.

Resolution (`project_files`): the private indexes come first, in configuration order, with the
first-index strategy: a project one of them holds is taken from it only, whatever upstream lists.
Their files' URLs are ``venvd-private://<index>/<sha256>/<filename>``, fetched by `download` (the
service's fetcher sends those here). Resolution keys carry the indexes' `generation` (the largest
file id, which grows with every upload; files are never removed), so an upload changes the key of
every request and no lock cached before it can hide the new file. Another server sharing the store
sees an upload within `GENERATION_SECONDS` (the generation is read at most that often per process).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO

from packaging.utils import NormalizedName, canonicalize_name

from venvd.dist import CoreMetadata, DistFile
from venvd.errors import (
    HashMismatch,
    InvalidUpload,
    NoSpaceLeft,
    NotFound,
    UploadConflict,
    UpstreamError,
)
from venvd.objects import ObjectStore, is_no_space
from venvd.service._dist_check import check_distribution
from venvd.store import PrivateFile, PrivateFiles, Store

__all__ = ["GENERATION_SECONDS", "OBJECT_PREFIX", "URL_SCHEME", "PrivateIndexes", "object_key"]

OBJECT_PREFIX = "private-v1/"
URL_SCHEME = "venvd-private"
GENERATION_SECONDS = 1.0
_CHUNK = 1 << 20

_log = logging.getLogger("venvd.service")


def object_key(sha256: str, filename: str) -> str:
    """The object key of an uploaded file (its metadata: this key + ".metadata")."""
    return f"{OBJECT_PREFIX}{sha256[:2]}/{sha256}/{filename}"


def _file_url(index: str, sha256: str, filename: str) -> str:
    return f"{URL_SCHEME}://{index}/{sha256}/{filename}"


class PrivateIndexes:
    """The private indexes of one service (thread-safe)."""

    def __init__(self, indexes: Mapping[str, Sequence[str]], store: Store, objects: ObjectStore, *,
                 upstream_has: Callable[[NormalizedName], bool],
                 put_metadata: Callable[[str, CoreMetadata], object], work_dir: Path,
                 max_upload_bytes: int, max_expanded: int, max_ratio: float) -> None:
        """`indexes`: name → upstream projects it may shadow. `upstream_has(name)`: whether an
        upstream index lists the project (raises UpstreamError when it cannot tell).
        `put_metadata(file_key, meta)`: the store's metadata cache, which resolution reads."""
        self.names = tuple(indexes)
        self._shadow = {name: frozenset(canonicalize_name(p) for p in shadow)
                        for name, shadow in indexes.items()}
        self._files = PrivateFiles(store)
        self._objects = objects
        self._upstream_has = upstream_has
        self._put_metadata = put_metadata
        self._work_dir = work_dir
        self._max_upload = max_upload_bytes
        self._max_expanded = max_expanded
        self._max_ratio = max_ratio
        self._lock = threading.Lock()
        self._generation = (0, -GENERATION_SECONDS)  # (value, when read: monotonic)
        self._projects: tuple[int, dict[str, set[NormalizedName]]] | None = None

    def require(self, index: str) -> str:
        """`index` when it is configured; NotFound otherwise."""
        if index not in self._shadow:
            raise NotFound(f"no private index {index!r} on this server", index=index)
        return index

    # -- uploads ------------------------------------------------------------------------------
    def upload(self, index: str, content: BinaryIO, filename: str, *,
               sha256_digest: str | None = None, name: str | None = None,
               version: str | None = None, uploaded_by: str | None = None) -> PrivateFile:
        """Store `content` (read to its end, at most `max_upload_bytes`) as `filename` in `index`.

        Checked before anything is stored: the size, the digest (when given), the archive and its
        metadata (`check_distribution`), the `name`/`version` the uploader declared (when given),
        that `index` has no file of that name (UploadConflict) and, for a project new to the index,
        that upstream does not have it unless the index may shadow it (UploadConflict). NotFound
        for an unknown index; InvalidUpload for everything wrong with the file."""
        self.require(index)
        with _no_space(filename):
            return self._upload(index, content, filename, sha256_digest=sha256_digest, name=name,
                                version=version, uploaded_by=uploaded_by)

    def _upload(self, index: str, content: BinaryIO, filename: str, *, sha256_digest: str | None,
                name: str | None, version: str | None, uploaded_by: str | None) -> PrivateFile:
        self._work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._work_dir, prefix=".tmp-upload-") as spool:
            sha256, size = self._spool(content, spool, filename)
            path = Path(spool.name)
            if sha256_digest and sha256_digest.strip().lower() != sha256:
                raise InvalidUpload(
                    f"{filename}: the sha256_digest sent ({sha256_digest}) is not the digest of "
                    f"the content received ({sha256})", filename=filename, problem="digest")
            checked = check_distribution(path, filename, max_expanded=self._max_expanded,
                                         max_ratio=self._max_ratio)
            self._check_declared(checked.project, str(checked.version), name, version, filename)
            if self._files.holds(index, filename):  # checked again, atomically, by `add`
                raise PrivateFiles.conflict(index, filename)
            self._check_shadowing(index, checked.project)
            key = object_key(sha256, filename)
            self._objects.put_file(key, path)
        metadata_sha256 = hashlib.sha256(checked.metadata_bytes).hexdigest()
        self._objects.put_stream(key + ".metadata", io.BytesIO(checked.metadata_bytes))
        self._put_metadata(f"sha256:{sha256}", checked.metadata)
        record = self._files.add(PrivateFile(
            index=index, project=checked.project, version=checked.version, filename=filename,
            sha256=sha256, size=size, requires_python=checked.metadata.requires_python,
            metadata_sha256=metadata_sha256, uploaded_at=datetime.now(UTC),
            uploaded_by=uploaded_by))
        with self._lock:  # this process sees its own upload at once
            self._generation = (max(self._generation[0], record.id), time.monotonic())
        _log.info("uploaded %s to the private index %r (sha256 %s, by %s)", filename, index,
                  sha256, uploaded_by or "-")
        return record

    def _spool(self, content: BinaryIO, out: IO[bytes], filename: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        while chunk := content.read(_CHUNK):
            size += len(chunk)
            if size > self._max_upload:
                raise InvalidUpload(
                    f"{filename}: larger than the {self._max_upload} bytes allowed (the "
                    "max_upload_bytes setting)", filename=filename, problem="size",
                    limit="max_upload_bytes", max=self._max_upload)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        if size == 0:
            raise InvalidUpload(f"{filename}: the file is empty", filename=filename,
                                problem="empty")
        return digest.hexdigest(), size

    @staticmethod
    def _check_declared(project: NormalizedName, version: str, name: str | None,
                        declared_version: str | None, filename: str) -> None:
        from packaging.version import InvalidVersion, Version

        if name and canonicalize_name(name) != project:
            raise InvalidUpload(f"{filename}: the name sent ({name}) is not the file's ({project})",
                                filename=filename, problem="name")
        if declared_version:
            try:
                same = Version(declared_version) == Version(version)
            except InvalidVersion:
                same = False
            if not same:
                raise InvalidUpload(f"{filename}: the version sent ({declared_version}) is not the "
                                    f"file's ({version})", filename=filename, problem="version")

    def _check_shadowing(self, index: str, project: NormalizedName) -> None:
        if project in self._shadow[index] or self._files.files(index, project):
            return  # allowed, or already this index's (it has shadowed it since)
        try:
            upstream = self._upstream_has(project)
        except UpstreamError as exc:
            raise UpstreamError(f"cannot tell whether {project} exists upstream, so the upload "
                                f"is refused: {exc.message}", project=project) from None
        if upstream:
            raise UploadConflict(
                f"{project} exists on an upstream index; the private index {index!r} may not "
                "shadow it (add it to the index's shadow list in the private_indexes setting)",
                index=index, project=project)

    # -- reading ------------------------------------------------------------------------------
    def files(self, index: str, project: str) -> list[PrivateFile]:
        """The files of `project` in `index` (empty when it has none); NotFound for an unknown
        index."""
        return self._files.files(self.require(index), project)

    def projects(self, index: str) -> list[NormalizedName]:
        """The projects `index` holds, sorted; NotFound for an unknown index."""
        return sorted(self._files.projects([self.require(index)])[index])

    def file(self, index: str, sha256: str, filename: str) -> PrivateFile:
        """The file of `index` with that digest and name; NotFound otherwise."""
        found = self._files.file(self.require(index), sha256, filename)
        if found is None:
            raise NotFound(f"no file {filename} with sha256 {sha256} in the private index "
                           f"{index!r}", index=index, filename=filename)
        return found

    def open(self, file: PrivateFile, *, metadata: bool = False) -> tuple[Path | None, int]:
        """Where `file` (or its metadata file) is on this machine's disk (None when the object
        store is remote: read it with `blocks`), and its size."""
        key = object_key(file.sha256, file.filename) + (".metadata" if metadata else "")
        info = self._objects.stat(key)
        if info is None:
            raise NotFound(f"the bytes of {file.filename} are missing from the object store",
                           filename=file.filename)
        return self._objects.local_path(key), info.size

    def blocks(self, file: PrivateFile, *, metadata: bool = False) -> Iterator[bytes]:
        """The bytes of `file` (or its metadata file) in blocks, from the object store."""
        key = object_key(file.sha256, file.filename) + (".metadata" if metadata else "")
        return self._objects.open_range(key)

    # -- resolution ---------------------------------------------------------------------------
    def generation(self) -> int:
        """The indexes' generation, at most GENERATION_SECONDS old in this process (and current
        after this process's own uploads)."""
        now = time.monotonic()
        value, when = self._generation
        if now - when >= GENERATION_SECONDS:
            fresh = self._files.generation(self.names)
            with self._lock:
                value = max(self._generation[0], fresh)
                self._generation = (value, now)
        return value

    def key(self) -> dict[str, object]:
        """The resolution key's part: which private indexes, in order, and their generation."""
        return {"indexes": list(self.names), "generation": self.generation()}

    def project_files(self, name: NormalizedName) -> Sequence[DistFile] | None:
        """The files of `name` on the first private index that holds it, as an index lists them;
        None when none holds it (then upstream's page counts)."""
        generation = self.generation()
        held = self._projects
        if held is None or held[0] != generation:
            held = (generation, self._files.projects(self.names))
            self._projects = held
        for index in self.names:
            if name in held[1].get(index, ()):
                return [_dist_file(f) for f in self._files.files(index, name)]
        return None

    @staticmethod
    def handles(url: str) -> bool:
        return url.startswith(URL_SCHEME + "://")

    def download(self, url: str, sha256: str, dest: Path) -> None:
        """Copy the private file `url` names (or, for `url` + ".metadata", its PEP 658 metadata
        file) to `dest`, verified against `sha256` (HashMismatch; NotFound when no index holds
        it)."""
        index, _, rest = url[len(URL_SCHEME) + 3:].partition("/")
        digest, _, filename = rest.partition("/")
        metadata = filename.endswith(".metadata")  # uploads are only .whl and .tar.gz files
        file = self.file(index, digest, filename.removesuffix(".metadata") if metadata else filename)
        dest.parent.mkdir(parents=True, exist_ok=True)
        key = object_key(file.sha256, file.filename) + (".metadata" if metadata else "")
        self._objects.get_file(key, dest)
        with dest.open("rb") as fh:
            actual = hashlib.file_digest(fh, "sha256").hexdigest()
        if actual != sha256:
            dest.unlink(missing_ok=True)
            raise HashMismatch(f"{filename} from the private index {index!r} has sha256 {actual}, "
                               f"expected {sha256}", url=url)


@contextlib.contextmanager
def _no_space(filename: str) -> Iterator[None]:
    """A full disk or object store while storing an upload is NoSpaceLeft (507), not a fault:
    what was half-written is a temporary name (removed) and nothing was recorded."""
    try:
        yield
    except OSError as exc:
        if not is_no_space(exc):
            raise
        raise NoSpaceLeft(f"no space left to store the upload {filename}: {exc.strerror or exc}",
                          package=filename, step="upload") from None


def _dist_file(file: PrivateFile) -> DistFile:
    dist = DistFile.from_filename(
        file.filename, _file_url(file.index, file.sha256, file.filename), sha256=file.sha256,
        size=file.size, requires_python=file.requires_python, upload_time=file.uploaded_at,
        metadata_sha256=file.metadata_sha256, index_url=f"{URL_SCHEME}://{file.index}/")
    assert dist is not None  # its name was checked at upload
    return dist
