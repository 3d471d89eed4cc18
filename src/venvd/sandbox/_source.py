"""What can be read from an sdist without running it: its static build requirements."""

from __future__ import annotations

import tarfile
import tomllib
import zipfile
from pathlib import Path

__all__ = ["DEFAULT_REQUIRES", "static_build_requires"]

# pypa/build's (and pip's) default for a project without a [build-system] table: a setup.py
# project built by setuptools' legacy backend.
DEFAULT_REQUIRES = ("setuptools>=40.8.0",)
_MAX_PYPROJECT = 1024 * 1024


def static_build_requires(sdist: Path) -> list[str]:
    """`build-system.requires` of the sdist's top-level pyproject.toml (the default without one).

    Raises ValueError when the pyproject.toml is unreadable or its requires is not a string list.
    """
    data = _top_level_pyproject(sdist)
    if data is None:
        return list(DEFAULT_REQUIRES)
    try:
        table = tomllib.loads(data.decode("utf-8")).get("build-system")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"pyproject.toml is not valid TOML: {exc}") from None
    if table is None:
        return list(DEFAULT_REQUIRES)
    requires = table.get("requires") if isinstance(table, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ValueError("pyproject.toml's build-system.requires is not a list of strings")
    return list(requires)


def _is_top_level(name: str) -> bool:
    parts = name.lstrip("./").split("/")
    return parts[-1] == "pyproject.toml" and len(parts) <= 2


def _top_level_pyproject(sdist: Path) -> bytes | None:
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as zf:
            for info in zf.infolist():
                if _is_top_level(info.filename) and info.file_size <= _MAX_PYPROJECT:
                    return zf.read(info)
        return None
    with tarfile.open(sdist, "r:*") as tf:
        for member in tf:
            if member.isfile() and _is_top_level(member.name) and member.size <= _MAX_PYPROJECT:
                handle = tf.extractfile(member)
                return handle.read() if handle is not None else None
    return None
