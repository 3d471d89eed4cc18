"""Start-up clean-up: temporary files that no live writer uses any more (left by a killed process)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

from venvd.objects import TEMP_PREFIX

__all__ = ["remove_orphan_temps"]

_log = logging.getLogger("venvd.service")



def _is_temporary(name: str) -> bool:
    """The builder's `.tmp-*` names, and the index client's `.<file>.<random>.part` downloads."""
    return name.startswith(TEMP_PREFIX) or (name.startswith(".") and name.endswith(".part"))


def remove_orphan_temps(data_dir: Path, older_than: float) -> list[Path]:
    """Remove the temporary files and directories that no live writer uses: `.tmp-*` and `.*.part`
    names under data_dir/cache and anything under data_dir/tmp, untouched for `older_than` seconds
    (a live writer keeps its temp files fresh, and no step of a build outlives the build timeout).
    The paths removed; errors are logged, never raised."""
    removed: list[Path] = []
    cutoff = time.time() - older_than
    candidates: list[Path] = []
    cache = data_dir / "cache"
    for root, dirs, files in os.walk(cache):
        for name in [*dirs, *files]:
            if _is_temporary(name):
                candidates.append(Path(root) / name)
        dirs[:] = [d for d in dirs if not _is_temporary(d)]
    with contextlib.suppress(OSError):
        candidates.extend((data_dir / "tmp").iterdir())
    for path in candidates:
        try:
            if _newest_mtime(path) > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except FileNotFoundError:
            continue
        except OSError:
            _log.exception("cannot remove the leftover temporary %s", path)
    if removed:
        _log.warning("removed %d leftover temporary file(s) under %s", len(removed), data_dir)
    return removed


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                try:
                    newest = max(newest, (Path(root) / name).lstat().st_mtime)
                except FileNotFoundError:
                    continue
    return newest
