"""The files of a request's direct references (``name @ URL#sha256=...``), ready for the resolver.

The request already passed the server's allow-list (`ResolveRequest.create`). Here each file's
core metadata is found by its hash (memory, then the store: metadata is immutable per file), else
the file is downloaded whole and checked against its hash (HashMismatch on a mismatch, before
anything reads it), and its metadata read from the verified bytes: a wheel's METADATA, an sdist's
PKG-INFO when final (PEP 643), else the sandboxed metadata build, as for index files. The metadata
is then stored by hash, so the next resolution naming the same file downloads nothing. The
download lands in the builder's content-addressed download cache (`downloads`, wheels-v1) when
given, so the build of the lock does not fetch it again.

A file whose name is no wheel or sdist name, or is another project's, or a wheel whose tags the
target does not accept, is refused before any download.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from venvd.dist import CoreMetadata, DistFile
from venvd.errors import HashMismatch, InvalidRequirement, NoCompatibleDistribution, UpstreamError
from venvd.index import IndexClient
from venvd.resolver._direct import DirectFile
from venvd.service._source import Memo
from venvd.store import Store
from venvd.target import Target

if TYPE_CHECKING:
    from venvd.builder import BuildCache

__all__ = ["direct_files"]


def direct_files(requirements: Iterable[Requirement], target: Target, *, index: IndexClient,
                 store: Store, memo: Memo, work_dir: Path | None = None,
                 downloads: BuildCache | None = None) -> dict[NormalizedName, DirectFile]:
    """The file and metadata of each direct reference among `requirements` whose marker holds
    for `target`, by canonical project name. Raises InvalidRequirement (a file that is not this
    project's wheel or sdist, whose metadata names another project or version, or that cannot be
    read),
    NoCompatibleDistribution (a wheel for another platform), HashMismatch / UpstreamError (the
    download), BuildError (an sdist's metadata build)."""
    from venvd.inputs import parse_direct

    found: dict[NormalizedName, DirectFile] = {}
    for req in requirements:
        if not req.url or not target.evaluate(req.marker):
            continue
        reference = parse_direct(req)  # canonical already: ResolveRequest.create checked it
        text = str(req)
        file = DistFile.from_filename(reference.filename, reference.url,
                                      sha256=reference.sha256)
        if file is None:
            raise InvalidRequirement(text, f"{reference.filename!r} is not a wheel or sdist file "
                                     "name (name-version.tar.gz, name-version-tags.whl)")
        if file.project != reference.name:
            raise InvalidRequirement(text, f"{reference.filename} is a file of {file.project}, "
                                     f"not of {reference.name}")
        if file.kind == "wheel" and target.tag_rank(file.tags) is None:
            tags = ", ".join(sorted(str(t) for t in file.tags)[:3])
            best = target.compatible_tags[0] if target.compatible_tags else "none"
            raise NoCompatibleDistribution(
                f"direct reference {text}: the wheel's tags ({tags}) do not fit the target "
                f"(best tag {best})", package=reference.name)
        previous = found.get(reference.name)
        if previous is not None:
            if previous[0].url != file.url or previous[0].sha256 != file.sha256:
                raise InvalidRequirement(text, f"{reference.name} is given by two different "
                                         "direct references; one project, one file")
            continue
        metadata = _metadata(file, text, index=index, store=store, memo=memo, work_dir=work_dir,
                             downloads=downloads)
        found[reference.name] = (
            DistFile(project=file.project, filename=file.filename, url=file.url,
                     version=file.version, kind=file.kind, tags=file.tags, sha256=file.sha256,
                     requires_python=metadata.requires_python),
            metadata)
    return found


def _metadata(file: DistFile, text: str, *, index: IndexClient, store: Store, memo: Memo,
              work_dir: Path | None, downloads: BuildCache | None) -> CoreMetadata:
    key = file.cache_key
    known = memo.metadata(key) or store.get_metadata(key)
    if (known is not None and canonicalize_name(known.name) == file.project
            and known.version == file.version):
        memo.put_metadata(key, known)
        return known
    assert file.sha256 is not None
    with contextlib.ExitStack() as stack:
        if downloads is not None:
            # Into the builder's content-addressed download cache: the build finds it there.
            path = downloads.cached_file(file.sha256, file.filename, None)
            if path is None:
                path = downloads.wheel_path(file.sha256, file.filename)
                index.download(file.url, file.sha256, path)  # HashMismatch: nothing kept
                downloads.share(path)  # the other nodes' builds read it from the object store
        else:
            if work_dir is not None:
                work_dir.mkdir(parents=True, exist_ok=True)
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="venvd-direct-",
                                                                  dir=work_dir))
            path = Path(tmp) / file.filename
            index.download(file.url, file.sha256, path)  # HashMismatch before anything reads it
        local = DistFile(project=file.project, filename=file.filename, url=path.as_uri(),
                         version=file.version, kind=file.kind, tags=file.tags,
                         sha256=file.sha256)
        try:  # name and version checked against the file name
            metadata = index.fetch_metadata(local)
        except HashMismatch:
            raise
        except UpstreamError as exc:  # the verified file itself is unusable: the reference's fault
            reason = exc.message.replace(local.url, file.url)
            raise InvalidRequirement(text, f"its file is unusable: {reason}") from None
    store.put_metadata(key, metadata)
    memo.put_metadata(key, metadata)
    return metadata
