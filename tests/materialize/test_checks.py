"""Import checks remembered in the client cache (`venvd.materialize._checks`): a venv made of the same
fragments for the same interpreter is not imported again; a project whose dependency closure is
unchanged is skipped in a different environment; a changed closure, a failure or no cache means
the import runs. Each test module logs its own import to a file, so the tests see whether the
child interpreter really imported it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tests.builder.helpers import HttpFetcher, lock_for
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import BuildCache, build_environment
from venvd.errors import BuildError
from venvd.lock import Lock
from venvd.materialize import FileCache, materialize
from venvd.target import Target


class _Env:
    def __init__(self, tmp_path: Path, index: LocalIndex) -> None:
        self.tmp = tmp_path
        self.index = index
        self.log = tmp_path / "imports.log"
        self.wheels: dict[tuple[str, str], Path] = {}
        self.count = 0

    def wheel(self, name: str, version: str, *, requires: tuple[str, ...] = (),
              body: str = "") -> None:
        code = f"open({str(self.log)!r}, 'a').write({name!r} + '\\n')\n{body}"
        path = make_wheel(self.tmp / "src", name, version, requires_dist=list(requires),
                          files={f"{name}/__init__.py": code})
        self.index.add(path)
        self.wheels[name, version] = path

    def archive(self, pins: dict[str, str], roots: list[str],
                edges: dict[str, tuple[str, ...]] | None) -> Path:
        paths = [self.wheels[name, version] for name, version in pins.items()]
        lock = lock_for(self.index, paths, roots)
        if edges is not None:
            lock = dataclasses.replace(lock, packages=tuple(
                dataclasses.replace(p, dependencies=edges.get(p.name, ())) for p in lock.packages))
        assert isinstance(lock, Lock)
        return build_environment(lock, Target.current(), cache=BuildCache(self.tmp / "bc"),
                                 fetch=HttpFetcher()).path

    def imported(self, archive: Path, cache: FileCache | None) -> list[str]:
        """The modules the import check imported while making a new venv of `archive`."""
        self.log.write_text("")
        self.count += 1
        dest = self.tmp / f"venv{self.count}"
        try:
            materialize(archive, dest, cache=cache)
        finally:
            _check_modes(dest)
        return sorted(self.log.read_text().split())


def _check_modes(dest: Path) -> None:
    """Nothing venvd made (the skeleton, made in a thread while the umask is read, included) has a
    permission bit the process umask takes away."""
    mask = os.umask(0o022)
    os.umask(mask)
    for path in [dest, *dest.rglob("*")] if dest.exists() else []:
        if not path.is_symlink():
            assert path.stat().st_mode & mask == 0, path


@pytest.fixture
def env(tmp_path: Path, index: LocalIndex) -> _Env:
    made = _Env(tmp_path, index)
    made.wheel("app", "1.0", requires=("lib",), body="import lib\n")
    made.wheel("lib", "1.0")
    made.wheel("lib", "2.0")
    made.wheel("extra", "1.0")
    return made


EDGES = {"app": ("lib",)}


def test_the_same_environment_again_is_not_imported_again(env: _Env, tmp_path: Path) -> None:
    archive = env.archive({"app": "1.0", "lib": "1.0"}, ["app"], EDGES)
    cache = FileCache(tmp_path / "cache")
    assert env.imported(archive, cache) == ["app", "lib"]
    assert env.imported(archive, cache) == []
    # Without a cache nothing is remembered; after `clean` the check runs again.
    assert env.imported(archive, None) == ["app", "lib"]
    cache.clean()
    assert env.imported(archive, cache) == ["app", "lib"]


def test_a_project_whose_closure_is_unchanged_is_skipped_in_another_environment(
        env: _Env, tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache")
    first = env.archive({"app": "1.0", "lib": "1.0"}, ["app"], EDGES)
    assert env.imported(first, cache) == ["app", "lib"]
    # app + extra: only extra is new.
    second = env.archive({"app": "1.0", "extra": "1.0", "lib": "1.0"}, ["app", "extra"], EDGES)
    assert env.imported(second, cache) == ["extra"]
    # app with another lib: app's closure changed, so app is checked again; extra's did not.
    third = env.archive({"app": "1.0", "extra": "1.0", "lib": "2.0"}, ["app", "extra"], EDGES)
    assert env.imported(third, cache) == ["app", "lib"]


def test_a_lock_without_edges_keys_each_project_by_the_whole_environment(
        env: _Env, tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache")
    first = env.archive({"app": "1.0", "lib": "1.0"}, ["app"], None)
    assert env.imported(first, cache) == ["app", "lib"]
    assert env.imported(first, cache) == []
    # Without edges, lib is not known to be app's: another lib is another key for app.
    other = env.archive({"app": "1.0", "lib": "2.0"}, ["app"], None)
    assert env.imported(other, cache) == ["app", "lib"]


def test_a_failed_check_is_not_remembered(env: _Env, tmp_path: Path) -> None:
    env.wheel("broken", "1.0", body="raise ImportError('boom')\n")
    archive = env.archive({"broken": "1.0"}, ["broken"], {})
    cache = FileCache(tmp_path / "cache")
    for _ in range(2):
        with pytest.raises(BuildError, match="boom"):
            env.imported(archive, cache)
        assert env.log.read_text() == "broken\n"
