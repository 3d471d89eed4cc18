"""The client side of an environment: a venvd archive → a ready virtual environment (local work).

    check_interpreter(target_json, python)        # before downloading anything
    result = materialize(archive, dest, python=python, force=False, verify=True,
                         cache=FileCache.default(), link_mode="auto")

`archive` is a local file or an `ArtifactSource` (the server's artifact, read by range). An
archive whose manifest places its fragments (builder format 3) is unpacked fragment by fragment,
each checked against its sha256; with a `FileCache` (``files-v2`` under the user cache dir) the
fragments the client already holds are linked into the venv (reflink, else hard link; or copies)
and only the others are fetched. Other archives are extracted as one stream. Either way the venv
skeleton is what ``python -m venv --without-pip`` makes (made in this process by the standard
library's `venv` when `python` is the running interpreter, else by `python` itself), every member
is checked more strictly than PEP 706's data filter (files are written from a thread pool:
creating files is what extraction spends its time on), and `materialize` rewrites the scripts'
placeholder interpreter lines to the venv's python, writes the lock to ``dest/venvd.lock.json``
and verifies the result (an import check the cache remembers as passed is not run again).
`ArchiveLimits` bounds the zstd window, members and expanded bytes of an archive (the manifest's
declared counts are enforced too). It never talks HTTP and imports no server layer.
"""

from __future__ import annotations

from venvd.materialize._cache import CACHE_VERSION, FileCache, parse_size
from venvd.materialize._extract import ArchiveLimits
from venvd.materialize._interpreter import check_interpreter
from venvd.materialize._link import LINK_MODES
from venvd.materialize._materialize import (
    LOCK_FILENAME,
    MaterializeEvent,
    MaterializeResult,
    materialize,
)
from venvd.materialize._source import ArtifactSource, FileSource

__all__ = [
    "CACHE_VERSION",
    "LINK_MODES",
    "LOCK_FILENAME",
    "ArchiveLimits",
    "ArtifactSource",
    "FileCache",
    "FileSource",
    "MaterializeEvent",
    "MaterializeResult",
    "check_interpreter",
    "materialize",
    "parse_size",
]
