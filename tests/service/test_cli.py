"""The `venvd` command as a user runs it: real subprocesses, real local index, real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.index_server import LocalIndex
from tests.support.serving import wait_healthy

VENVD = [sys.executable, "-m", "venvd"]


def run(
    *args: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "VENVD_DATA_DIR": str(data_dir), **(env or {})}
    full_env.pop("VENVD_SERVER", None)
    return subprocess.run([*VENVD, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def test_resolve_in_process_json_and_cache(world: LocalIndex, tmp_path: Path) -> None:
    args = ("resolve", "app", "--python", "3.11", "--platform", "manylinux_2_28_x86_64")
    out = run(*args, "--index-url", world.url, data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {p["name"]: p["version"] for p in doc["packages"]} == {"app": "1.0", "lib": "2.0"}
    again = run(*args, "--index-url", world.url, data_dir=tmp_path / "data")
    assert json.loads(again.stdout)["cached"] is True


def test_resolve_requirements_file_to_output(world: LocalIndex, tmp_path: Path) -> None:
    reqs = tmp_path / "reqs.in"
    reqs.write_text("# comment\napp  # trailing\n-c cons.txt\n")
    (tmp_path / "cons.txt").write_text("lib<2\n")
    lock = tmp_path / "requirements.txt"
    out = run(
        "resolve",
        "-r",
        str(reqs),
        "--python",
        "3.11",
        "--platform",
        "linux_x86_64",
        "--format",
        "requirements",
        "-o",
        str(lock),
        "--index-url",
        world.url,
        data_dir=tmp_path / "data",
    )
    assert out.returncode == 0, out.stderr
    text = lock.read_text()
    assert "lib==1.0" in text and "app==1.0" in text and "--hash=sha256:" in text


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["app>>1"], 2, "app>>1"),
        (["app", "--python", "3.x"], 2, "3.x"),
        (["app", "--platform", "amiga_68k"], 2, "amiga_68k"),
        (["-r", "/nonexistent/reqs.txt"], 2, "/nonexistent/reqs.txt"),
        (["left", "right"], 1, "shared"),
        (["no-such-project"], 1, "no-such-project"),
    ],
)
def test_errors_exit_codes_and_one_line(
    world: LocalIndex, tmp_path: Path, args: list[str], code: int, needle: str
) -> None:
    out = run("resolve", *args, "--index-url", world.url, data_dir=tmp_path / "data")
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr
    assert needle in out.stderr
    assert out.stderr.startswith("venvd: error: ")


def test_unreachable_index_exits_3(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run(
        "resolve",
        "app",
        "--index-url",
        f"http://127.0.0.1:{port}/simple/",
        data_dir=tmp_path / "data",
        env={"VENVD_HTTP_RETRIES": "0"},
    )
    assert out.returncode == 3, out.stderr
    assert f"127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture
def server(world: LocalIndex, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VENVD_DATA_DIR": str(tmp_path / "server-data")}
    proc = subprocess.Popen(
        [*VENVD, "serve", "--port", str(port), "--index-url", world.url, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, lambda: proc.stderr.read() if proc.stderr else "")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()


def test_resolve_against_server(server: str, tmp_path: Path) -> None:
    out = run(
        "resolve",
        "app",
        "--python",
        "2.7.6",
        "--platform",
        "linux_x86_64",
        "--server",
        server,
        data_dir=tmp_path / "client",
    )
    assert out.returncode == 0, out.stderr
    pins = {p["name"]: p["version"] for p in json.loads(out.stdout)["packages"]}
    assert pins == {"app": "1.0", "lib": "1.0", "legacy": "1.0"}
    bad = run("resolve", "left", "right", "--server", server, data_dir=tmp_path / "client")
    assert bad.returncode == 1
    assert "shared" in bad.stderr and "Traceback" not in bad.stderr


def test_create_against_server_gives_a_working_venv(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "env"
    out = run(
        "create",
        str(dest),
        "tool",
        "app",
        "built",
        "--server",
        server,
        data_dir=tmp_path / "client",
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    hello = subprocess.run([str(dest / "bin" / "tool-hello")], capture_output=True, text=True)
    assert hello.stdout.strip() == "hello from tool"
    check = subprocess.run(
        [
            str(dest / "bin" / "python"),
            "-c",
            "import app, lib, built, tool; print(lib.__version__)",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "2.0"
    assert json.loads((dest / "venvd.lock.json").read_text())["packages"]
    refused = run("create", str(dest), "tool", "--server", server, data_dir=tmp_path / "client")
    assert refused.returncode == 2 and "not empty" in refused.stderr


def _other_python(major_minor: str) -> str | None:
    """An interpreter of that version on this machine, if there is one (pyenv's layout or PATH)."""
    import glob
    import shutil

    found = shutil.which(f"python{major_minor}")
    if found and subprocess.run([found, "-c", "pass"], capture_output=True).returncode == 0:
        return found
    candidates = sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{major_minor}*/bin/python{major_minor}"))
    )
    return candidates[-1] if candidates else None


def test_create_refuses_an_interpreter_it_cannot_use(world: LocalIndex, tmp_path: Path) -> None:
    missing = run(
        "create",
        str(tmp_path / "env"),
        "tool",
        "--python",
        "/nonexistent/python",
        "--index-url",
        world.url,
        data_dir=tmp_path / "data",
    )
    assert missing.returncode == 2
    assert "cannot run interpreter /nonexistent/python" in missing.stderr
    python2 = _other_python("2.7")
    if python2 is None:
        pytest.skip("no Python 2.7 interpreter on this machine for the second half")
    old = run(
        "create",
        str(tmp_path / "env"),
        "tool",
        "--python",
        python2,
        "--index-url",
        world.url,
        data_dir=tmp_path / "data",
    )
    assert old.returncode == 2
    assert "needs Python 3.8 or newer" in old.stderr and "Traceback" not in old.stderr
    assert not (tmp_path / "env").exists()


@pytest.mark.parametrize(("command", "env", "needle"), [
    (["serve", "--port", "0"], {"VENVD_CACHE_MAX_SIZE": "lots"}, "VENVD_CACHE_MAX_SIZE"),
    (["serve", "--port", "0"], {"VENVD_HTTP_TIMEOUT": "soon"}, "VENVD_HTTP_TIMEOUT"),
    (["worker"], {"VENVD_BUILD_WORKERS": "many"}, "VENVD_BUILD_WORKERS"),
    (["resolve", "six"], {"VENVD_EXTRA_INDEX_URLS": "not json"}, "extra_index_urls"),
    (["token", "list"], {"VENVD_RESOLUTION_TTL": "forever"}, "VENVD_RESOLUTION_TTL"),
])
def test_a_bad_setting_in_the_environment_is_one_line(
    tmp_path: Path, command: list[str], env: dict[str, str], needle: str
) -> None:
    # Settings come from VENVD_* variables too: a bad one is exit 2 naming it, before anything starts.
    out = run(*command, data_dir=tmp_path / "data", env=env, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("venvd: error: ") and "Traceback" not in out.stderr, out.stderr
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "data").exists()
