"""Wheels that try to write outside the environment are refused before anything is written."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builder.helpers import HttpFetcher, lock_for, windows_target
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import BuildCache, build_environment
from venvd.errors import BuildError
from venvd.target import Target

Maker = Callable[[Path], Path]


def _symlink_wheel(directory: Path) -> Path:
    """A wheel whose member is a symbolic link (zip mode bits S_IFLNK) to /etc/passwd."""
    wheel = make_wheel(directory, "evil", "1.0",
                       extra_members={"evil/passwd": "/etc/passwd"})
    rebuilt = directory / "rebuilt" / wheel.name
    rebuilt.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "evil/passwd":
                info.external_attr = 0o120777 << 16
            dst.writestr(info, data)
    return rebuilt


def _tampered_wheel(directory: Path) -> Path:
    """A wheel whose member no longer matches its RECORD hash."""
    wheel = make_wheel(directory, "evil", "1.0")
    rebuilt = directory / "rebuilt" / wheel.name
    rebuilt.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"import os; os.system('rm -rf ~')\n"
                         if info.filename == "evil/__init__.py" else data)
    return rebuilt


HOSTILE: dict[str, tuple[Maker, str]] = {
    "traversal": (lambda d: make_wheel(d, "evil", "1.0", extra_members={"../../evil.py": "x"}),
                  "'..'"),
    "absolute path": (lambda d: make_wheel(d, "evil", "1.0",
                                           extra_members={"/tmp/venvd-evil.py": "x"}),
                      "absolute"),
    "backslash traversal": (lambda d: make_wheel(d, "evil", "1.0",
                                                 extra_members={"evil\\..\\..\\x.py": "x"}),
                            "backslash"),
    "data scheme escape": (lambda d: make_wheel(d, "evil", "1.0",
                                                data={"purelib/../../../../evil.py": "x"}),
                           "'..'"),
    "RECORD row escape": (lambda d: make_wheel(
        d, "evil", "1.0", record_extra=["../../../../etc/cron.d/evil,sha256=AAAA,4"]), "RECORD row"),
    "RECORD absolute row": (lambda d: make_wheel(
        d, "evil", "1.0", record_extra=["/etc/passwd,sha256=AAAA,4"]), "RECORD row"),
    "entry point traversal": (lambda d: make_wheel(d, "evil", "1.0",
                                                   console_scripts={"../../evil": "evil:main"}),
                              "entry point name"),
    "entry point with a separator": (lambda d: make_wheel(
        d, "evil", "1.0", console_scripts={"sub/evil": "evil:main"}), "entry point name"),
    "symlink member": (_symlink_wheel, "symbolic link"),
    "RECORD hash mismatch": (_tampered_wheel, "does not match its RECORD hash"),
    "replaces the venv's python": (lambda d: make_wheel(d, "evil", "1.0",
                                                        data={"scripts/python": "#!/bin/sh\n"}),
                                   "venv's own bin/python"),
    "replaces pyvenv.cfg": (lambda d: make_wheel(d, "evil", "1.0",
                                                 data={"data/pyvenv.cfg": "home = /evil\n"}),
                            "pyvenv.cfg"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_wheel_is_refused(case: str, tmp_path: Path, index: LocalIndex,
                                  fetcher: HttpFetcher, monkeypatch: pytest.MonkeyPatch) -> None:
    make, reason = HOSTILE[case]
    system_tmp = tmp_path / "systmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    wheel = make(tmp_path / "dists")
    index.add(wheel)
    good = make_wheel(tmp_path / "dists", "good", "1.0")
    index.add(good)
    lock = lock_for(index, [wheel, good])
    cache = BuildCache(tmp_path / "cache")
    with pytest.raises(BuildError) as err:
        build_environment(lock, Target.current(), cache=cache, fetch=fetcher)
    assert err.value.step == "install" and err.value.package == "evil"
    assert reason in err.value.message
    assert not cache.environments.exists() or not list(cache.environments.iterdir())
    assert not list(cache.fragments.glob(f"{index.files[wheel.name].sha256}/*"))
    assert list(system_tmp.iterdir()) == []  # the staging dirs are gone
    assert not list(tmp_path.rglob("evil.py")) and not Path("/tmp/venvd-evil.py").exists()


def test_entry_point_escape_is_refused_for_windows_targets_too(tmp_path: Path, index: LocalIndex,
                                                               fetcher: HttpFetcher) -> None:
    wheel = make_wheel(tmp_path, "evil", "1.0", console_scripts={"..\\..\\evil": "evil:main"})
    index.add(wheel)
    with pytest.raises(BuildError, match="entry point name"):
        build_environment(lock_for(index, [wheel], target=windows_target()), windows_target(),
                          cache=BuildCache(tmp_path / "cache"), fetch=fetcher)
