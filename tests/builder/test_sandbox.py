"""The sdist build sandbox: clean environment, private dirs, resource limits, time limit."""

from __future__ import annotations

import io
import json
import os
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from venvd.builder._sandbox import build_wheel

from venvd.errors import BuildError

_WHEEL_WRITER = '''
import base64, hashlib, json, os, zipfile

def _write_wheel(wheel_directory, modules):
    dist = "probe-1.0"
    members = dict(modules)
    members[dist + ".dist-info/METADATA"] = "Metadata-Version: 2.1\\nName: probe\\nVersion: 1.0\\n"
    members[dist + ".dist-info/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: t\\n"
                                          "Root-Is-Purelib: true\\nTag: py3-none-any\\n")
    rows = []
    for path, body in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=")
        rows.append("%s,sha256=%s,%d" % (path, digest.decode(), len(body.encode())))
    rows.append(dist + ".dist-info/RECORD,,")
    members[dist + ".dist-info/RECORD"] = "\\n".join(rows) + "\\n"
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path in sorted(members):
            zf.writestr(path, members[path])
    return name

def get_requires_for_build_wheel(config_settings=None):
    return []
'''


def _sdist(directory: Path, build_wheel_body: str) -> Path:
    """An sdist of project `probe` whose in-tree backend's build_wheel runs `build_wheel_body`."""
    backend = _WHEEL_WRITER + "\ndef build_wheel(wheel_directory, config_settings=None, " \
        "metadata_directory=None):\n" + textwrap.indent(textwrap.dedent(build_wheel_body), "    ")
    tree = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\n'
                          'backend-path = ["."]\n',
        "probe_backend.py": backend,
        "PKG-INFO": "Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "probe-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for rel, body in tree.items():
            info = tarfile.TarInfo(f"probe-1.0/{rel}")
            info.size = len(body.encode())
            tf.addfile(info, io.BytesIO(body.encode()))
    return path


def test_build_runs_with_a_clean_environment_private_dirs_and_limits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENVD_SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter3")
    sdist = _sdist(tmp_path, """
        import resource
        facts = {"env": dict(os.environ), "cwd": os.getcwd(),
                 "as": resource.getrlimit(resource.RLIMIT_AS)[0],
                 "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
                 "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0]}
        return _write_wheel(wheel_directory, {"probe.py": "FACTS = " + json.dumps(facts) + "\\n"})
    """)
    wheel = build_wheel(sdist, tmp_path / "out", package="probe", timeout=120, memory_mb=1024)
    assert wheel.parent == tmp_path / "out" and wheel.name == "probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        facts = json.loads(zf.read("probe.py").decode()[len("FACTS = "):])
    env = facts["env"]
    assert "VENVD_SECRET_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert not any("hunter" in value for value in env.values())
    private = Path(env["HOME"]).parent
    assert private.name.startswith("venvd-build-") and Path(env["TMPDIR"]).parent == private
    assert not private.exists()  # removed after the build
    assert facts["as"] == 1024 * 1024 * 1024
    assert facts["cpu"] == 120 and facts["fsize"] == 4 * 1024**3


def test_build_over_its_memory_limit_fails(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path, """
        hog = bytearray(1024 * 1024 * 1024)
        return _write_wheel(wheel_directory, {"probe.py": "X = %d\\n" % len(hog)})
    """)
    with pytest.raises(BuildError) as err:
        build_wheel(sdist, tmp_path / "out", package="probe", timeout=120, memory_mb=400)
    assert err.value.step == "build wheel" and "MemoryError" in (err.value.log_tail or "")


def test_build_past_its_time_limit_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    sdist = _sdist(tmp_path, f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open({str(pid_file)!r}, "w") as f:
            f.write("%d %d" % (os.getpid(), child.pid))
        time.sleep(60)
    """)
    started = time.monotonic()
    with pytest.raises(BuildError) as err:
        build_wheel(sdist, tmp_path / "out", package="probe", timeout=2, memory_mb=1024)
    assert time.monotonic() - started < 20
    assert "took longer than 2 s" in err.value.message and err.value.package == "probe"
    deadline = time.monotonic() + 5
    pids = [int(p) for p in pid_file.read_text().split()]
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed but unreaped child of another process shows as a zombie: that is dead enough.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
