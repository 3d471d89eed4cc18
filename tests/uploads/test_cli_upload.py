"""`venvd upload` and `venvd create` as a user runs them (real subprocesses): in-process on the
embedded default with VENVD_PRIVATE_INDEXES, and against a real server with tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.uploads.conftest import Team

VENVD = [sys.executable, "-m", "venvd"]


def run(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    for name in ("VENVD_SERVER", "VENVD_TOKEN"):
        full.pop(name, None)
    return subprocess.run([*VENVD, *args], capture_output=True, text=True, env=full,
                          timeout=timeout, check=False)


def test_upload_and_create_in_process(upstream: LocalIndex, tmp_path: Path) -> None:
    env = {"VENVD_DATA_DIR": str(tmp_path / "data"), "VENVD_INDEX_URL": upstream.url,
           "VENVD_PRIVATE_INDEXES": json.dumps({"team": []})}
    wheel = make_wheel(tmp_path / "dist", "teamlib", "1.0", requires_dist=["upstreamdep"],
                       files={"teamlib/__init__.py": "import upstreamdep\nANSWER = 42\n"})
    done = run("upload", str(wheel), env=env)
    assert done.returncode == 0, done.stderr
    assert f"uploaded {wheel.name} to team" in done.stderr

    dest = tmp_path / "venv"
    created = run("create", str(dest), "teamlib", env=env)
    assert created.returncode == 0, created.stderr
    check = subprocess.run([str(dest / "bin" / "python"), "-c",
                            "import teamlib; print(teamlib.ANSWER)"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and check.stdout.strip() == "42", check.stderr
    lock = json.loads((dest / "venvd.lock.json").read_text())
    assert {p["name"] for p in lock["packages"]} == {"teamlib", "upstreamdep"}

    again = run("upload", str(wheel), env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad" / "teamlib-2.0-py3-none-any.whl"
    bad.parent.mkdir()
    bad.write_bytes(b"not a zip at all")
    refused = run("upload", str(bad), env=env)
    assert refused.returncode == 2 and "not a valid wheel zip" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    unconfigured = run("upload", str(wheel), env={**env, "VENVD_PRIVATE_INDEXES": "{}"})
    assert unconfigured.returncode == 2 and "VENVD_PRIVATE_INDEXES" in unconfigured.stderr


def test_upload_to_a_server_with_tokens(team: Callable[..., Team], tmp_path: Path) -> None:
    server = team(auth="required")
    build, read = server.token("ci", "build"), server.token("reader", "read")
    wheel = make_wheel(tmp_path, "teamlib", "1.0")
    env = {"VENVD_DATA_DIR": str(tmp_path / "client")}
    no_index = run("upload", str(wheel), "--server", server.url, "--token", build, env=env)
    assert no_index.returncode == 2 and "--index" in no_index.stderr
    denied = run("upload", str(wheel), "--server", server.url, "--index", "team", "--token", read,
                 env=env)
    assert denied.returncode == 4 and "scope" in denied.stderr
    unknown = run("upload", str(wheel), "--server", server.url, "--index", "nope",
                  "--token", build, env=env)
    assert unknown.returncode == 1 and "no private index 'nope'" in unknown.stderr
    done = run("upload", str(wheel), "--server", server.url, "--index", "team", "--token", build,
               env=env)
    assert done.returncode == 0, done.stderr
    assert server.rows() == 1
    page = server.http.get("/team/simple/teamlib/", headers={
        "Authorization": f"Bearer {read}", "Accept": "application/vnd.pypi.simple.v1+json"})
    assert [f["filename"] for f in page.json()["files"]] == [wheel.name]


def test_index_names_that_clash_with_routes_are_refused_at_start(tmp_path: Path) -> None:
    env = {"VENVD_DATA_DIR": str(tmp_path / "data")}
    for args, extra in ((["--private-index", "simple"], {}),
                        (["--private-index", "Team Index"], {}),
                        (["--private-index", "team:not a name!"], {}),
                        ([], {"VENVD_PRIVATE_INDEXES": json.dumps({"v1": []})}),
                        ([], {"VENVD_PRIVATE_INDEXES": json.dumps({"openapi.json": []})})):
        done = run("serve", "--port", "1", *args, env={**env, **extra}, timeout=60)
        assert done.returncode == 2, (args, extra, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "private" in lines[0] and "Traceback" not in done.stderr
    clash = run("serve", "--port", "1", "--private-index", "environments", env=env, timeout=60)
    assert "clashes with the server's own /environments routes" in clash.stderr
