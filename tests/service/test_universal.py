"""Universal locks through the HTTP API: one lock for several targets, in the three formats, and an
environment built from it for one of its targets.

The world (a real local index)::

    app 1.0 ──▶ lib
       ├────▶ native                       native 2.0: a manylinux wheel only
       ├────▶ winonly; sys_platform == "win32"    native 1.0: manylinux, win_amd64 and macOS wheels
       └────▶ linuxonly; sys_platform == "linux"  (a manylinux wheel only)

Targets: Linux x86_64 and Windows AMD64 on Python 3.11, macOS arm64 on 3.12. Linux gets native
2.0; Windows and macOS, which have no wheel of it, native 1.0.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.markers import Marker

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.target import target_from_request

LINUX = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
WINDOWS = {"python": "3.11", "platform": "win_amd64"}
MACOS = {"python": "3.12", "platform": "macosx_14_0_arm64"}
TARGETS = [LINUX, WINDOWS, MACOS]
UV = Path(sys.executable).parent / "uv"


@pytest.fixture
def platforms(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=[
        "lib", "native", 'winonly; sys_platform == "win32"', 'linuxonly; sys_platform == "linux"']))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "winonly", "1.0"))
    index.add(make_wheel(src, "linuxonly", "1.0", tag="py3-none-manylinux_2_17_x86_64"))
    for tag in ("py3-none-manylinux_2_17_x86_64", "py3-none-win_amd64", "py3-none-macosx_11_0_arm64"):
        index.add(make_wheel(src, "native", "1.0", tag=tag))
    index.add(make_wheel(src, "native", "2.0", tag="py3-none-manylinux_2_17_x86_64"))
    return index


def _pins(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["name"], p["version"]) for p in doc["packages"]}


def _package(doc: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    return next(p for p in doc["packages"] if (p["name"], p["version"]) == (name, version))


def _env(target: dict[str, str]) -> dict[str, str]:
    return {**target_from_request(target).marker_environment, "extra": ""}


def test_one_lock_for_three_targets(platforms: LocalIndex, api: Callable[..., httpx.Client],
                                    database_url: str | None) -> None:
    client = api(platforms, database_url=database_url)
    body = {"requirements": ["app"], "targets": TARGETS}
    response = client.post("/v1/resolve", json=body)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["kind"] == "universal" and doc["cached"] is False
    assert _pins(doc) == {("app", "1.0"), ("lib", "1.0"), ("native", "1.0"), ("native", "2.0"),
                          ("winonly", "1.0"), ("linuxonly", "1.0")}
    # used by every target: no marker; by some: the OR of theirs, on the variable that tells them apart
    assert _package(doc, "app", "1.0")["marker"] is None
    assert _package(doc, "native", "2.0")["marker"] == 'sys_platform == "linux"'
    assert _package(doc, "native", "2.0")["targets"] == [0]
    assert _package(doc, "native", "1.0")["marker"] == \
        'sys_platform == "darwin" or sys_platform == "win32"'
    assert _package(doc, "winonly", "1.0")["marker"] == 'sys_platform == "win32"'
    # each package's marker holds on exactly the targets that use it
    for package in doc["packages"]:
        for i, target in enumerate(TARGETS):
            holds = package["marker"] is None or Marker(package["marker"]).evaluate(_env(target))
            assert holds == (i in package["targets"]), (package["name"], i)
    # the files of native 1.0: the Windows and macOS wheels, not the Linux one nobody uses
    files = {f["filename"] for f in _package(doc, "native", "1.0")["files"]}
    assert files == {"native-1.0-py3-none-win_amd64.whl", "native-1.0-py3-none-macosx_11_0_arm64.whl"}
    # each target's lock is the lock that target gets alone (same id, same cache entry)
    for i, target in enumerate(TARGETS):
        alone = client.post("/v1/resolve", json={"requirements": ["app"], "target": target}).json()
        assert alone["cached"] is True
        assert doc["targets"][i]["lock_id"] == alone["id"]
        assert doc["resolution_keys"][i] == alone["resolution_key"]
    again = client.post("/v1/resolve", json=body).json()
    assert again["cached"] is True and again["id"] == doc["id"]


def test_targets_that_agree_give_the_single_target_pins(platforms: LocalIndex,
                                                        api: Callable[..., httpx.Client]) -> None:
    client = api(platforms)
    doc = client.post("/v1/resolve", json={"requirements": ["lib"], "targets": TARGETS}).json()
    alone = client.post("/v1/resolve", json={"requirements": ["lib"], "target": LINUX}).json()
    assert [(p["name"], p["version"], p["marker"]) for p in doc["packages"]] == [("lib", "1.0", None)]
    assert doc["packages"][0]["files"] == alone["packages"][0]["files"]
    assert [t["marker"] for t in doc["targets"]] == [
        'sys_platform == "linux"', 'sys_platform == "win32"', 'sys_platform == "darwin"']


def test_pylock_and_requirements(platforms: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(platforms)
    body = {"requirements": ["app"], "targets": TARGETS}
    pylock = tomllib.loads(client.post("/v1/resolve", json=body, params={"format": "pylock"}).text)
    assert pylock["environments"] == [
        'sys_platform == "linux" and platform_machine == "x86_64" and implementation_name == '
        '"cpython" and python_version == "3.11"',
        'sys_platform == "win32" and platform_machine == "AMD64" and implementation_name == '
        '"cpython" and python_version == "3.11"',
        'sys_platform == "darwin" and platform_machine == "arm64" and implementation_name == '
        '"cpython" and python_version == "3.12"',
    ]
    assert pylock["requires-python"] == ">=3.11"
    entries = {(p["name"], p["version"]): p for p in pylock["packages"]}
    assert "marker" not in entries["app", "1.0"]
    assert entries["winonly", "1.0"]["marker"] == 'sys_platform == "win32"'
    wheels = {w["name"]: w for w in entries["native", "1.0"]["wheels"]}
    assert set(wheels) == {"native-1.0-py3-none-win_amd64.whl",
                           "native-1.0-py3-none-macosx_11_0_arm64.whl"}
    for name, wheel in wheels.items():
        assert wheel["hashes"] == {"sha256": platforms.files[name].sha256}
    text = client.post("/v1/resolve", json=body, params={"format": "requirements"}).text
    assert 'winonly==1.0 ; sys_platform == "win32" \\\n' in text
    assert 'native==1.0 ; sys_platform == "darwin" or sys_platform == "win32" \\\n' in text
    assert "app==1.0 \\\n" in text
    assert f"--hash=sha256:{platforms.files['native-2.0-py3-none-manylinux_2_17_x86_64.whl'].sha256}" \
        in text


@pytest.mark.skipif(not UV.exists(), reason="uv is a test dependency")
@pytest.mark.parametrize("fmt,name", [("requirements", "requirements.txt"), ("pylock", "pylock.toml")])
def test_uv_installs_this_hosts_part(platforms: LocalIndex, api: Callable[..., httpx.Client],
                                     tmp_path: Path, fmt: str, name: str) -> None:
    """uv reads the markers (and hashes) and installs the Linux pins only, on this Linux host."""
    if sys.platform != "linux" or target_from_request("current").marker_environment[
            "platform_machine"] != "x86_64":
        pytest.skip("the host must be one of the lock's targets (Linux x86_64)")
    client = api(platforms)
    host = {"python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "platform": "manylinux_2_28_x86_64"}
    body = {"requirements": ["app"], "targets": [host, WINDOWS if host != WINDOWS else MACOS]}
    lock = tmp_path / name
    response = client.post("/v1/resolve", json=body, params={"format": fmt})
    assert response.status_code == 200, response.text
    lock.write_text(response.text)
    venv = tmp_path / "venv"
    run = subprocess.run([UV, "venv", "--no-config", "--quiet", "--python", sys.executable, venv],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    install = [UV, "pip", "install", "--no-config", "--no-cache", "--python", venv / "bin" / "python",
               "-r", lock]
    if fmt == "requirements":
        install += ["--no-deps", "--require-hashes", "--index-url", platforms.url]
    run = subprocess.run(install, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    listed = subprocess.run([UV, "pip", "list", "--no-config", "--python", venv / "bin" / "python",
                             "--format", "freeze"], capture_output=True, text=True).stdout
    assert sorted(listed.split()) == ["app==1.0", "lib==1.0", "linuxonly==1.0", "native==2.0"]


def test_an_environment_for_one_target(platforms: LocalIndex,
                                       api: Callable[..., httpx.Client]) -> None:
    client = api(platforms)
    doc = client.post("/v1/resolve", json={"requirements": ["app"], "targets": TARGETS}).json()
    lock = {k: v for k, v in doc.items() if k not in ("cached", "resolution_keys", "timings")}
    created = client.post("/v1/environments", json={"lock": lock, "target": WINDOWS})
    assert created.status_code in (200, 202), created.text
    env = created.json()
    assert env["lock_id"] == doc["targets"][1]["lock_id"]
    assert {(p["name"], p["version"]) for p in env["lock"]["packages"]} == {
        ("app", "1.0"), ("lib", "1.0"), ("native", "1.0"), ("winonly", "1.0")}
    alone = client.post("/v1/environments", json={"requirements": ["app"], "target": WINDOWS})
    assert alone.json()["id"] == env["id"]  # the same environment as a Windows-only request
    deadline = time.monotonic() + 120
    done = client.get(f"/v1/environments/{env['id']}").json()
    while done["status"] not in ("ready", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        done = client.get(f"/v1/environments/{env['id']}").json()
    assert done["status"] == "ready", done["error"]
    # the artifact holds the Windows pins (no Linux-only package)
    manifest = str(done["manifest"])
    assert "winonly" in manifest and "linuxonly" not in manifest


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_lock_for_other_targets_is_refused(platforms: LocalIndex,
                                             api: Callable[..., httpx.Client]) -> None:
    client = api(platforms)
    doc = client.post("/v1/resolve", json={"requirements": ["app"], "targets": TARGETS}).json()
    lock = {k: v for k, v in doc.items() if k not in ("cached", "resolution_keys", "timings")}
    other = {"python": "3.11", "platform": "manylinux_2_28_aarch64"}
    error = _error(client.post("/v1/environments", json={"lock": lock, "target": other}))
    assert error["code"] == "invalid_target"
    assert "is not one of the lock's targets" in error["message"]
    assert "win32 AMD64" in error["message"]
    error = _error(client.post("/v1/environments", json={"lock": lock}))
    assert "name one of its 3 targets" in error["message"]
    edited = copy.deepcopy(lock)
    edited.pop("id")
    _package(edited, "native", "1.0")["targets"] = [1]  # macOS no longer gets native
    error = _error(client.post("/v1/environments", json={"lock": edited, "target": MACOS}))
    assert error["code"] == "invalid_lock" and "target 2" in error["message"]


def test_bad_targets(platforms: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(platforms, max_targets=3)

    def post(**body: Any) -> dict[str, Any]:
        return _error(client.post("/v1/resolve", json={"requirements": ["app"], **body}))

    assert "'targets' is empty" in post(targets=[])["message"]
    too_many = post(targets=[*TARGETS, {"python": "3.12", "platform": "win_amd64"}])
    assert too_many["code"] == "limit_exceeded"
    assert too_many["details"]["limit"] == "max_targets"
    assert "4 targets given, more than the 3 allowed" in too_many["message"]
    same = post(targets=[LINUX, WINDOWS, dict(LINUX)])
    assert same["message"].startswith("targets 0 and 2 are the same target")
    assert post(targets=[LINUX, {"python": "3.11", "platform": "nonsense_os"}])[
        "message"].startswith("targets[1]: ")
    assert "not both" in post(target=LINUX, targets=[WINDOWS])["message"]


def test_indistinguishable_targets_that_resolve_differently(
        local_index: Callable[..., LocalIndex], tmp_path: Path,
        api: Callable[..., httpx.Client]) -> None:
    """manylinux_2_17 and manylinux_2_28 share every marker: fine while they agree, 422 when
    glibc decides (tight 2.0 has a manylinux_2_28 wheel only)."""
    index = local_index()
    index.add(make_wheel(tmp_path, "tight", "1.0", tag="py3-none-manylinux_2_17_x86_64"))
    index.add(make_wheel(tmp_path, "tight", "2.0", tag="py3-none-manylinux_2_28_x86_64"))
    index.add(make_wheel(tmp_path, "loose", "1.0"))
    client = api(index)
    old = {"python": "3.11", "platform": "manylinux_2_17_x86_64"}
    agreeing = client.post("/v1/resolve", json={"requirements": ["loose"], "targets": [old, LINUX]})
    assert agreeing.status_code == 200, agreeing.text
    assert [t["marker"] for t in agreeing.json()["targets"]] == [None, None]
    error = _error(client.post("/v1/resolve", json={"requirements": ["tight"],
                                                    "targets": [old, LINUX]}))
    assert error["code"] == "indistinguishable_targets"
    assert error["details"]["targets"] == [0, 1]
    assert "tight 1.0" in error["message"] and "tight 2.0" in error["message"]


def test_a_target_that_cannot_resolve_is_named(platforms: LocalIndex,
                                               api: Callable[..., httpx.Client]) -> None:
    client = api(platforms)
    response = client.post("/v1/resolve", json={
        "requirements": ["native>=2"], "targets": [LINUX, WINDOWS]})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["message"].startswith("for target 1 (CPython 3.11.0 win32 AMD64")
    assert error["details"]["target"] == 1


def test_an_environment_yml_for_several_platforms(platforms: LocalIndex,
                                                  api: Callable[..., httpx.Client]) -> None:
    """The document's python=3.11 is each target's Python unless a target names another."""
    client = api(platforms)
    document = {"kind": "environment.yml",
                "text": "name: web\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - app\n"}
    response = client.post("/v1/resolve", json={
        "document": document,
        "targets": [{"platform": "manylinux_2_28_x86_64"}, {"platform": "win_amd64"}]})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert [t["target"]["marker_environment"]["python_version"] for t in doc["targets"]] == [
        "3.11", "3.11"]
    assert ("winonly", "1.0") in _pins(doc) and ("linuxonly", "1.0") in _pins(doc)
    error = _error(client.post("/v1/resolve", json={"document": document, "targets": [
        {"platform": "manylinux_2_28_x86_64"}, {"python": "3.12", "platform": "win_amd64"}]}))
    assert "3.12" in error["message"], error


def test_a_universal_pylock_builds_for_one_target(platforms: LocalIndex,
                                                  api: Callable[..., httpx.Client]) -> None:
    """The pylock.toml rendering, posted back as a document, gives each target its own pins."""
    client = api(platforms)
    text = client.post("/v1/resolve", json={"requirements": ["app"], "targets": TARGETS},
                       params={"format": "pylock"}).text
    for target, platform_only in ((WINDOWS, "winonly"), (LINUX, "linuxonly")):
        created = client.post("/v1/environments", json={
            "document": {"kind": "pylock.toml", "text": text}, "target": target})
        assert created.status_code in (200, 202), created.text
        pins = {(p["name"], p["version"]) for p in created.json()["lock"]["packages"]}
        native = "2.0" if target is LINUX else "1.0"
        assert pins == {("app", "1.0"), ("lib", "1.0"), ("native", native), (platform_only, "1.0")}
