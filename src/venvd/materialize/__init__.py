"""The client side of an environment: a venvd archive → a ready virtual environment (local work).

    check_interpreter(target_json, python)        # before downloading anything
    result = materialize(archive, dest, python=python, force=False, verify=True)

`materialize` creates the venv skeleton with `python` itself (``python -m venv --without-pip``),
extracts the archive as a stream with checks stricter than PEP 706's data filter (writing files
from a thread pool: creating files is what extraction spends its time on), rewrites the
scripts' placeholder interpreter lines to the venv's python, writes the lock to
``dest/venvd.lock.json`` and verifies the result. `ArchiveLimits` bounds the zstd window, members
and expanded bytes of an archive (the manifest's declared counts are enforced too). It never
talks HTTP and imports no server layer.
"""

from __future__ import annotations

from venvd.materialize._extract import ArchiveLimits
from venvd.materialize._interpreter import check_interpreter
from venvd.materialize._materialize import (
    LOCK_FILENAME,
    MaterializeEvent,
    MaterializeResult,
    materialize,
)

__all__ = [
    "LOCK_FILENAME",
    "ArchiveLimits",
    "MaterializeEvent",
    "MaterializeResult",
    "check_interpreter",
    "materialize",
]
