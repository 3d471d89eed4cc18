"""`venvd resolve --target PY:PLATFORM` given several times: one universal lock, as a user runs it
(real subprocesses, the in-process service over a real local index)."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.service.test_cli import run
from tests.service.test_universal import platforms  # noqa: F401 - the fixture
from tests.support.index_server import LocalIndex
from venvd.target import Target


def test_resolve_for_several_targets(platforms: LocalIndex, tmp_path: Path) -> None:  # noqa: F811
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps(Target.from_shorthand("3.11", "win_amd64").to_json()))
    out = tmp_path / "pylock.toml"
    done = run("resolve", "app", "--target", "3.11:manylinux_2_28_x86_64", "--target-file",
               str(windows), "--format", "pylock", "-o", str(out), "--index-url", platforms.url,
               data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    pylock = tomllib.loads(out.read_text())
    # --target-file targets come first, then --target ones
    assert [e.split(" and ")[0] for e in pylock["environments"]] == [
        'sys_platform == "win32"', 'sys_platform == "linux"']
    markers = {(p["name"], p["version"]): p.get("marker") for p in pylock["packages"]}
    assert markers == {("app", "1.0"): None, ("lib", "1.0"): None,
                       ("linuxonly", "1.0"): 'sys_platform == "linux"',
                       ("native", "1.0"): 'sys_platform == "win32"',
                       ("native", "2.0"): 'sys_platform == "linux"',
                       ("winonly", "1.0"): 'sys_platform == "win32"'}
    again = run("resolve", "app", "--target", "3.11:manylinux_2_28_x86_64", "--target",
                "3.11:win_amd64", "--index-url", platforms.url, data_dir=tmp_path / "data")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["kind"] == "universal" and doc["cached"] is True  # the same two resolutions
    assert len(doc["targets"]) == 2


def test_bad_targets_exit_2_with_one_line(platforms: LocalIndex, tmp_path: Path) -> None:  # noqa: F811
    for args, message in [
        (["--target", ":"], "--target ':': give PY:PLATFORM"),
        (["--target", "3.11:win_amd64", "--target", "3.11:win_amd64"], "are the same target"),
        (["--target", "3.11:win_amd64", "--target", "3.11:linux_x86_64", "--python", "3.11"],
         "cannot be combined with --python/--platform"),
    ]:
        done = run("resolve", "app", *args, "--index-url", platforms.url,
                   data_dir=tmp_path / "data")
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_resolve_for_several_targets_on_a_server(
        platforms: LocalIndex, api: Callable[..., httpx.Client], tmp_path: Path) -> None:  # noqa: F811
    server = str(api(platforms).base_url)
    done = run("resolve", "app", "--target", "3.11:manylinux_2_28_x86_64", "--target",
               "3.12:macosx_14_0_arm64", "--format", "requirements", "--server", server,
               data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert 'native==1.0 ; sys_platform == "darwin" \\\n' in done.stdout
    assert 'linuxonly==1.0 ; sys_platform == "linux" \\\n' in done.stdout
    bad = run("resolve", "native>=2", "--target", "3.11:manylinux_2_28_x86_64", "--target",
              "3.12:macosx_14_0_arm64", "--server", server, data_dir=tmp_path / "data")
    assert bad.returncode == 1, bad.stderr
    assert "for target 1 (CPython 3.12.0 darwin arm64" in bad.stderr


def test_create_from_a_universal_lock_picks_this_interpreters_target(
        platforms: LocalIndex, tmp_path: Path) -> None:  # noqa: F811
    # A universal lock for Windows and this machine's Linux: `venvd create --lock` builds the
    # target this interpreter runs, with nothing to name.
    here = f"{sys.version_info.major}.{sys.version_info.minor}:manylinux_2_17_x86_64"
    lock = tmp_path / "universal.json"
    done = run("resolve", "app", "--target", f"{here.split(':')[0]}:win_amd64", "--target", here,
               "-o", str(lock), "--index-url", platforms.url, data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    made = run("create", str(tmp_path / "env"), "--lock", str(lock), "--index-url", platforms.url,
               data_dir=tmp_path / "data")
    assert made.returncode == 0, made.stderr
    site = next((tmp_path / "env" / "lib").glob("python*/site-packages"))
    installed = {p.name.split("-")[0] for p in site.glob("*.dist-info")}
    assert {"app", "lib", "native", "linuxonly"} <= installed and "winonly" not in installed
    assert next(site.glob("native-*.dist-info")).name.startswith("native-2.0")
    # A lock none of whose targets this interpreter runs: one line naming them, exit 2.
    other = tmp_path / "other.json"
    done = run("resolve", "app", "--target", "3.11:win_amd64", "--target", "3.12:macosx_14_0_arm64",
               "-o", str(other), "--index-url", platforms.url, data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    refused = run("create", str(tmp_path / "env2"), "--lock", str(other), "--index-url",
                  platforms.url, data_dir=tmp_path / "data")
    assert refused.returncode == 2, refused.stderr
    assert "none of the universal lock's targets fits" in refused.stderr
    assert "win32" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "env2").exists()
