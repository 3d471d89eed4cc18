"""IndexClient: project pages, core metadata and verified downloads from the configured indexes.

Contracts:
- `project_page(name, etag=)`: the files of `name` from the first index (in configured order) that
  has it, plus the find-links files of that project; `NotModified` when `etag` still holds; None
  when neither an index nor a find-links location has the project. Only 404/410 count as "not here"
  — any other refusal (401, 403, ...) is an error, so that a private project cannot silently fall
  through to a public index that may have a package of the same name.
- `fetch_metadata(file)`: PEP 658/714 `.metadata`, else the wheel's METADATA by HTTP ranges, else
  by a full download; for sdists PKG-INFO when PEP 643 makes it final, else a PEP 517 build in a
  child process.
- `download(url, sha256, dest)`: streams beside `dest`, verifies, renames; a reader never sees a
  partial or unverified file at `dest`. All methods may be called from several threads at once (one
  shared httpx.Client; no other mutable state except a lock-protected hash cache). Failures raise
  `UpstreamError`/`UpstreamTimeout`/`HashMismatch` or `BuildError`, naming the index (or file URL)
  and the project.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx
from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from venvd._archives import ARCHIVE_ERRORS
from venvd.dist import CoreMetadata, DistFile
from venvd.errors import BuildError, HashMismatch, UpstreamError
from venvd.sandbox import Limits, Sandbox

from . import _local, _pages
from ._config import IndexConfig, is_file_url
from ._http import Fetcher, IndexAuth, Where, make_client, raise_for_retry
from ._lazy_zip import RangesUnsupported, RemoteFile
from ._metadata import (
    InvalidCoreMetadata,
    parse_core_metadata,
    read_pkg_info,
    static_pkg_info,
    wheel_metadata_member,
)
from ._zip_directory import wheel_metadata_by_directory

__all__ = ["IndexClient", "NotModified", "ProjectPage"]

# What opening an sdist's archive raises when it is damaged or hostile.
_SDIST_ERRORS: tuple[type[Exception], ...] = (*ARCHIVE_ERRORS, zipfile.BadZipFile)

# Bytes asked for first from a wheel's end: the central directory of nearly every wheel fits.
# 128 KiB: with it, the directory and the METADATA of most wheels (botocore's, jupyterlab's, with
# hundreds to thousands of files) come in one request instead of two or three; a request to
# files.pythonhosted.org waits ~0.1 s for its first byte, the extra bytes cost far less.
RANGE_TAIL = 128 * 1024
# A composite ETag (index ETag + digest of the find-links files) joins its parts with this.
_ETAG_SEP = " ~find-links:"
_MISSING = (404, 410)
_MAX_REDIRECTS = 20  # as httpx


@dataclasses.dataclass(frozen=True)
class ProjectPage:
    """A project's files as one index (plus find-links) lists them; pass `etag` back as is."""

    name: NormalizedName
    index_url: str
    files: tuple[DistFile, ...]
    etag: str | None = None
    max_age: int | None = None


@dataclasses.dataclass(frozen=True)
class NotModified:
    """The caller's page (its `etag`) is still current; `max_age` is the renewed freshness."""

    index_url: str | None = None
    max_age: int | None = None


class IndexClient:
    """Access to the configured indexes (see the module docstring for the contracts).

    `http` lets the caller share or instrument the client (an httpx.MockTransport in tests); it must
    follow redirects. `retries`/`backoff` bound the retries of each request; `work_dir` holds the
    temporary files of sdist metadata builds (default: the system temp dir). `sandbox` runs those
    builds (default: one with `metadata_build_timeout` and no provider of build requirements).
    """

    def __init__(self, config: IndexConfig, *, http: httpx.Client | None = None,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                 metadata_build_timeout: float = 300.0, work_dir: Path | None = None,
                 sandbox: Sandbox | None = None,
                 redirect_check: Callable[[str, str], str | None] | None = None) -> None:
        self.config = config
        # (download URL, where it redirects) → why that hop is refused, or None: the service
        # keeps a direct reference's download inside the allowed prefixes, hop by hop.
        self._redirect_check = redirect_check
        self._own_http = http is None
        self._http = (http if http is not None
                      else make_client(timeout, IndexAuth(config.credentials)))
        self._fetch = Fetcher(self._http, retries=retries, backoff=backoff)
        self._work_dir = Path(work_dir).resolve() if work_dir is not None else None
        self.sandbox = sandbox if sandbox is not None else Sandbox(
            limits=Limits(timeout=metadata_build_timeout), work_dir=self._work_dir)
        self._hashes = _local.HashCache()

    # -- project pages ----------------------------------------------------------------------
    def project_page(self, name: str, *,
                     etag: str | None = None) -> ProjectPage | NotModified | None:
        try:
            project = canonicalize_name(name, validate=True)
        except InvalidName:
            return None  # no index can have it; and it must not become a path ("../x")
        index_etag, links_digest = _split_etag(etag)
        links = self._find_links_files(project)
        digest = _files_digest(links) if self.config.find_links else None
        for index_url in self.config.index_urls:
            page = self._index_page(index_url, project, index_etag)
            if page is None:
                continue
            if isinstance(page, NotModified):
                if links_digest == digest:
                    return page
                # The index page held, the find-links did not: the caller needs the whole page.
                page = self._index_page(index_url, project, None)
                assert isinstance(page, ProjectPage)
            return _with_links(page, links, digest)
        if links:
            return ProjectPage(project, links[0].index_url, tuple(links))
        return None

    def _index_page(self, index_url: str, project: NormalizedName,
                    etag: str | None) -> ProjectPage | NotModified | None:
        url = f"{index_url}{project}/"
        if is_file_url(url):
            body = _local.read_file_index_page(url)
            if body is None:
                return None
            files = _pages.parse_html(body, url, project, index_url)
            return ProjectPage(project, index_url, tuple(files))
        headers = {"Accept": _pages.ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        where = Where(url, index_url, project)
        response = self._fetch.get(url, where, headers)
        max_age = _pages.max_age(response.headers.get("Cache-Control"))
        if response.status_code in _MISSING:
            return None
        if response.status_code == 304:
            return NotModified(index_url, max_age)
        if response.status_code != 200:
            raise UpstreamError(f"index {index_url} refused project {project!r}: HTTP "
                                f"{response.status_code}", url=url, project=project)
        page_url = str(response.url)
        try:
            if _pages.is_json(response.headers.get("Content-Type", ""), response.content):
                files = _pages.parse_json(response.content, page_url, project, index_url)
            else:
                files = _pages.parse_html(response.content, page_url, project, index_url)
        except ValueError as exc:  # JSONDecodeError and friends
            raise UpstreamError(f"index {index_url} sent an unreadable page for project "
                                f"{project!r}: {exc}", url=url, project=project) from exc
        return ProjectPage(project, index_url, tuple(files), response.headers.get("ETag"), max_age)

    def _find_links_files(self, project: NormalizedName) -> list[DistFile]:
        files: list[DistFile] = []
        for location in self.config.find_links:
            if is_file_url(location):
                path = _local.file_url_path(location)
                if path.is_dir():
                    files += _local.scan_directory(path, project, location, self._hashes)
                elif path.is_file():
                    files += _pages.parse_html(path.read_bytes(), location, project, location)
                continue
            response = self._fetch.get(location, Where(location, location, project),
                                       {"Accept": "text/html"})
            if response.status_code in _MISSING:
                continue
            if response.status_code != 200:
                raise UpstreamError(f"find-links page {location} answered HTTP "
                                    f"{response.status_code}", url=location, project=project)
            files += _pages.parse_html(response.content, str(response.url), project, location)
        return files

    # -- metadata ---------------------------------------------------------------------------
    def fetch_metadata(self, file: DistFile) -> CoreMetadata:
        if file.metadata_sha256 is not None:
            data = self._pep658(file)
            if data is not None:
                return self._parse(data, file, file.url + ".metadata")
        if file.kind == "wheel":
            return self._parse(self._wheel_metadata(file), file, file.url)
        return self._sdist_metadata(file)

    def _where(self, file: DistFile, url: str | None = None) -> Where:
        return Where(url or file.url, file.index_url or None, file.project)

    def _pep658(self, file: DistFile) -> bytes | None:
        url = file.url + ".metadata"
        if is_file_url(url):
            try:
                data = _local.file_url_path(url).read_bytes()
            except FileNotFoundError:
                return None
        else:
            response = self._fetch.get(url, self._where(file, url), {"Accept-Encoding": "identity"})
            if response.status_code in _MISSING:
                return None  # advertised but absent: the wheel itself still has the answer
            if response.status_code != 200:
                raise UpstreamError(f"{url} answered HTTP {response.status_code}", url=url,
                                    project=file.project)
            data = response.content
        if file.metadata_sha256:
            _verify(data, file.metadata_sha256, self._where(file, url))
        return data

    def _wheel_metadata(self, file: DistFile) -> bytes:
        try:
            if is_file_url(file.url):
                with zipfile.ZipFile(_local.file_url_path(file.url)) as zf:
                    return zf.read(wheel_metadata_member(zf, file))
            try:
                return self._wheel_metadata_by_ranges(file)
            except RangesUnsupported as exc:
                body = exc.body if exc.body is not None else self._get_whole(file)
                if file.sha256:
                    _verify(body, file.sha256, self._where(file))
                with zipfile.ZipFile(io.BytesIO(body)) as zf:
                    return zf.read(wheel_metadata_member(zf, file))
        except (zipfile.BadZipFile, InvalidCoreMetadata, OSError) as exc:
            raise UpstreamError(f"cannot read the metadata of {file.filename} from {file.url}: "
                                f"{exc}", url=file.url, project=file.project) from exc

    def _wheel_metadata_by_ranges(self, file: DistFile) -> bytes:
        where = self._where(file)

        def get_range(spec: str) -> httpx.Response:
            headers = {"Range": spec, "Accept-Encoding": "identity"}
            response = self._fetch.get(file.url, where, headers)
            if response.status_code not in (200, 206, 416):
                raise UpstreamError(f"{file.url} answered HTTP {response.status_code}",
                                    url=file.url, project=file.project)
            return response

        remote = RemoteFile.open(get_range, RANGE_TAIL)
        whole = remote.whole()
        if whole is not None and file.sha256:
            _verify(whole, file.sha256, where)  # small wheel: the tail was all of it
        data = wheel_metadata_by_directory(remote, file, RANGE_TAIL)
        if data is not None:
            return data
        # Anything the directory search does not handle exactly: zipfile reads it (and words
        # the error when the wheel is unusable).
        with zipfile.ZipFile(remote) as zf:
            info = wheel_metadata_member(zf, file)
            later = [i.header_offset for i in zf.infolist() if i.header_offset > info.header_offset]
            end = min(later, default=getattr(zf, "start_dir", remote.size))
            # One request for the member's whole span instead of zipfile's many small reads.
            remote.prefetch(info.header_offset, end)
            return zf.read(info)

    def _get_whole(self, file: DistFile) -> bytes:
        response = self._fetch.get(file.url, self._where(file), {"Accept-Encoding": "identity"})
        if response.status_code != 200:
            raise UpstreamError(f"{file.url} answered HTTP {response.status_code}", url=file.url,
                                project=file.project)
        return response.content

    def _sdist_metadata(self, file: DistFile) -> CoreMetadata:
        with tempfile.TemporaryDirectory(prefix="venvd-sdist-", dir=self._work_dir) as tmp:
            if is_file_url(file.url):
                path = _local.file_url_path(file.url)
                if file.sha256:
                    actual = _local.sha256_path(path)
                    _check(actual, file.sha256, self._where(file))
            else:
                path = Path(tmp) / file.filename
                self._download(file.url, file.sha256, path, self._where(file))
            try:
                pkg_info = read_pkg_info(path)
            except _SDIST_ERRORS as exc:
                raise UpstreamError(f"cannot open sdist {file.filename} from {file.url}: {exc}",
                                    url=file.url, project=file.project) from exc
            if pkg_info is not None and static_pkg_info(pkg_info):
                return self._parse(pkg_info, file, file.url)
            data = self.sandbox.build_metadata(path, package=file.filename)
        try:
            return parse_core_metadata(data, file)
        except InvalidCoreMetadata as exc:
            raise BuildError(f"metadata build of {file.filename} gave unusable metadata: {exc}",
                             package=file.filename, step="read metadata") from exc

    @staticmethod
    def _parse(data: bytes, file: DistFile, source: str) -> CoreMetadata:
        try:
            return parse_core_metadata(data, file)
        except InvalidCoreMetadata as exc:
            raise UpstreamError(f"unusable metadata for {file.filename} from {source}: {exc}",
                                url=source, project=file.project) from exc

    # -- downloads --------------------------------------------------------------------------
    def download(self, url: str, sha256: str, dest: Path) -> None:
        """Fetch `url` to `dest`, verified against `sha256` (required: unverified bytes never ship).

        Raises HashMismatch, UpstreamError or UpstreamTimeout; `dest` is then left untouched.
        """
        if not sha256:
            raise ValueError(f"download of {url} needs the expected sha256")
        self._download(url, sha256, dest, Where(url))

    def _download(self, url: str, sha256: str | None, dest: Path, where: Where) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> tuple[Path, str]:
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            digest = hashlib.sha256()
            try:
                with os.fdopen(fd, "wb") as out:
                    if is_file_url(url):
                        with _local.file_url_path(url).open("rb") as src:
                            while chunk := src.read(_local.CHUNK):
                                out.write(chunk)
                                digest.update(chunk)
                    else:
                        self._stream(url, where, out, digest)
            except BaseException:
                os.unlink(name)
                raise
            return Path(name), digest.hexdigest()

        try:
            part, actual = self._fetch.call(attempt, where)
        except FileNotFoundError as exc:
            raise UpstreamError(f"{url} does not exist", url=url, project=where.project) from exc
        try:
            if sha256:
                _check(actual, sha256, where)
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)

    def _stream(self, url: str, where: Where, out: io.BufferedWriter,
                digest: hashlib._Hash) -> None:
        check = self._redirect_check
        current = url
        for _ in range(_MAX_REDIRECTS):
            with self._http.stream("GET", current, headers={"Accept-Encoding": "identity"},
                                   follow_redirects=check is None) as response:
                if check is not None and response.next_request is not None:
                    following = str(response.next_request.url)
                    problem = check(url, following)
                    if problem:
                        raise UpstreamError(f"{url} redirects to {following}, which {problem}",
                                            url=url, project=where.project)
                    current = following
                    continue
                self._take(url, where, response, out, digest)
                return
        raise UpstreamError(f"{url} redirects more than {_MAX_REDIRECTS} times", url=url,
                            project=where.project)

    @staticmethod
    def _take(url: str, where: Where, response: httpx.Response, out: io.BufferedWriter,
              digest: hashlib._Hash) -> None:
        raise_for_retry(response)
        if response.status_code != 200:
            raise UpstreamError(f"{url} answered HTTP {response.status_code}", url=url,
                                project=where.project)
        # Raw bytes: a server that labels a .tar.gz with Content-Encoding: gzip must not make
        # us hash (and store) the decompressed tar.
        for chunk in response.iter_raw():
            out.write(chunk)
            digest.update(chunk)

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _verify(data: bytes, expected: str, where: Where) -> None:
    _check(hashlib.sha256(data).hexdigest(), expected, where)


def _check(actual: str, expected: str, where: Where) -> None:
    if actual != expected.lower():
        raise HashMismatch(f"sha256 of {where.url} is {actual}, expected {expected.lower()}",
                           url=where.url, project=where.project)


def _split_etag(etag: str | None) -> tuple[str | None, str | None]:
    if not etag:
        return None, None
    index_etag, sep, digest = etag.partition(_ETAG_SEP)
    return (index_etag or None), (digest if sep else None)


def _files_digest(files: list[DistFile]) -> str:
    lines = sorted(f"{f.url} {f.sha256}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


def _with_links(page: ProjectPage, links: list[DistFile], digest: str | None) -> ProjectPage:
    """pip's find-links: added to the index's files (on a shared file name the index's wins)."""
    seen = {f.filename for f in page.files}
    files = page.files + tuple(f for f in links if f.filename not in seen)
    etag = page.etag
    if digest is not None and etag is not None:
        etag = f"{etag}{_ETAG_SEP}{digest}"
    return dataclasses.replace(page, files=files, etag=etag)
