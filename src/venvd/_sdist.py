"""Helpers for the child processes that work on sdists: the metadata build (`venvd.index`) and the
wheel build (`venvd.builder`). Both run `python -I -m ...` in a sandbox and import only this."""

from __future__ import annotations

import contextlib
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["build_env_installer", "isolated_builder", "unpack_sdist"]


def unpack_sdist(sdist: Path, dest: Path) -> Path:
    """Unpack `sdist` into `dest` (created); the project directory (the single top-level one, if any).

    Zip members that would land outside `dest` are refused; tar members go through tarfile's PEP 706
    "data" filter (no absolute paths, traversal, links out or device files). Raises RuntimeError.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as zf:
            root = dest.resolve()
            for name in zf.namelist():
                if not (dest / name).resolve().is_relative_to(root):
                    raise RuntimeError(f"sdist member {name!r} points outside the source tree")
            zf.extractall(dest)
    else:
        with tarfile.open(sdist, "r:*") as tf:
            if not hasattr(tarfile, "data_filter"):
                raise RuntimeError(
                    "this Python lacks tarfile's data filter (PEP 706): "
                    "upgrade to 3.11.4 or later to unpack sdists safely"
                )
            tf.extractall(dest, filter="data")
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def build_env_installer() -> str:
    """The installer for isolated build environments: uv when it is installed, else pip."""
    try:
        import uv

        uv.find_uv_bin()
        return "uv"
    except (ImportError, FileNotFoundError):
        return "pip"


@contextlib.contextmanager
def isolated_builder(sdist: Path, src_dir: Path, step: Callable[[str], None]) -> Iterator[Any]:
    """Unpack `sdist` into `src_dir`, make an isolated build environment with the build requirements
    (static and `get_requires_for_build_wheel`) installed, and yield pypa/build's ProjectBuilder in it.

    `step(name)` is called before each step, so the parent process can say which one failed.
    """
    from build import ProjectBuilder
    from build.env import DefaultIsolatedEnv

    step("extract")
    source = unpack_sdist(sdist, src_dir)
    step("create isolated environment")
    with DefaultIsolatedEnv(installer=build_env_installer()) as env:  # type: ignore[arg-type]
        builder = ProjectBuilder.from_isolated_env(env, source)
        step("install build requirements")
        env.install(builder.build_system_requires)
        step("get_requires_for_build_wheel")
        env.install(builder.get_requires_for_build("wheel"))
        yield builder
