"""The sandbox's rules, seen from inside a build: environment, view of the files, identity,
limits, time."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.sandbox.probe import facts, probe_sdist
from venvd.errors import BuildError
from venvd.sandbox import Limits, Sandbox, bwrap_path

pytestmark = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")


def test_build_sees_a_clean_environment_private_dirs_and_limits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENVD_SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter3")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    repo = Path(__file__).resolve().parents[2]
    sdist = probe_sdist(tmp_path / "d", f"""
        import resource
        return {{"env": dict(os.environ), "cwd": os.getcwd(), "uid": os.getuid(),
                "gid": os.getgid(), "pid": os.getpid(), "root": sorted(os.listdir("/")),
                "as": resource.getrlimit(resource.RLIMIT_AS)[0],
                "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
                "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
                "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
                "home": os.path.exists(os.path.expanduser("~root/.bashrc")),
                "tmp_path": os.path.exists({str(tmp_path)!r}),
                "repo": os.path.exists({str(repo / "pyproject.toml")!r}),
                "python": sys.executable,
                "cmdlines": [open("/proc/%s/cmdline" % p, "rb").read().decode(errors="replace")
                             for p in os.listdir("/proc") if p.isdigit()]}}
    """)
    work = tmp_path / "work"
    work.mkdir()
    sandbox = Sandbox(work_dir=work, limits=Limits(timeout=60, memory_mb=1024, file_mb=64,
                                                   max_processes=50))
    wheel = sandbox.build_wheel(sdist, tmp_path / "out", package="probe")
    assert wheel.parent == tmp_path / "out" and wheel.name == "probe-1.0-py3-none-any.whl"
    seen = facts(wheel)
    assert isinstance(seen, dict)
    env = seen["env"]
    assert not any(k.startswith("VENVD_") for k in env)
    assert "AWS_SECRET_ACCESS_KEY" not in env and "HTTPS_PROXY" not in env
    assert not any("hunter" in value for value in env.values())
    assert env["HOME"] == "/tmp/home" and env["TMPDIR"] == "/tmp"
    assert seen["cwd"].startswith("/build/src/")  # the build dir, not the server's paths
    assert seen["uid"] == seen["gid"] == 65534  # an unprivileged uid
    assert seen["pid"] < 10  # its own PID namespace
    # Only what the interpreter needs: not the test's files, the repository, or the home.
    assert not seen["tmp_path"] and not seen["repo"] and not seen["home"]
    assert not any(str(work) in cmdline for cmdline in seen["cmdlines"])  # not even its name
    assert seen["as"] == 1024 * 1024 * 1024 and seen["cpu"] == 60
    assert seen["fsize"] == 64 * 1024 * 1024 and seen["nproc"] == 50
    assert list(work.iterdir()) == []  # its private directory is removed


def test_build_over_its_memory_limit_fails(tmp_path: Path) -> None:
    sdist = probe_sdist(tmp_path, """
        hog = bytearray(1024 * 1024 * 1024)
        return len(hog)
    """)
    with pytest.raises(BuildError) as err:
        Sandbox(limits=Limits(timeout=60, memory_mb=400)).build_wheel(
            sdist, tmp_path / "out", package="probe")
    assert err.value.step == "build wheel" and "MemoryError" in (err.value.log_tail or "")


def test_metadata_build_failure_names_the_step(tmp_path: Path) -> None:
    sdist = probe_sdist(tmp_path, "raise RuntimeError('needs a compiler xyz')")
    with pytest.raises(BuildError) as err:
        Sandbox().build_metadata(sdist, package="probe-1.0.tar.gz")
    assert err.value.package == "probe-1.0.tar.gz"
    assert err.value.step == "get_requires_for_build_wheel"
    assert "needs a compiler xyz" in (err.value.log_tail or "")


def test_server_refuses_sdist_builds_without_bubblewrap(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from venvd.sandbox import _isolation, _sandbox

    monkeypatch.setattr(_sandbox, "bwrap_path", lambda: None)
    monkeypatch.setattr(_isolation, "bwrap_path", lambda: None)
    sdist = probe_sdist(tmp_path, "return {'pid': os.getpid(), 'env': sorted(os.environ)}")
    with pytest.raises(BuildError) as err:
        Sandbox().build_wheel(sdist, tmp_path / "out", package="probe")
    assert err.value.package == "probe" and "bubblewrap" in err.value.message
    assert "--unsafe-builds" in err.value.message
    # The operator's --unsafe-builds (or the embedded default) builds as pip would, still with a
    # clean environment.
    monkeypatch.setenv("VENVD_SECRET_TOKEN", "hunter2")
    wheel = Sandbox(without_bwrap="allow").build_wheel(sdist, tmp_path / "out", package="probe")
    seen = facts(wheel)
    assert isinstance(seen, dict) and seen["pid"] > 10
    assert not any(k.startswith("VENVD_") for k in seen["env"])


def test_embedded_default_warns_once_and_builds_without_bubblewrap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from venvd.sandbox import _sandbox

    monkeypatch.setattr(_sandbox, "bwrap_path", lambda: None)
    monkeypatch.setattr(_sandbox, "_warned", _sandbox.threading.Event())
    sdist = probe_sdist(tmp_path, "return 'built'")
    sandbox = Sandbox(without_bwrap="warn")
    with caplog.at_level("WARNING", logger="venvd.sandbox"):
        for n in range(2):
            sandbox.build_wheel(sdist, tmp_path / f"out{n}", package="probe")
    warnings = [r for r in caplog.records if "without a sandbox" in r.getMessage()]
    assert len(warnings) == 1


def test_unsafe_build_time_limit_kills_its_children(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from venvd.sandbox import _sandbox

    monkeypatch.setattr(_sandbox, "bwrap_path", lambda: None)
    pid_file = tmp_path / "pids"
    sdist = probe_sdist(tmp_path, f"""
        import subprocess, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open({str(pid_file)!r}, "w") as f:
            f.write("%d %d" % (os.getpid(), child.pid))
        time.sleep(60)
    """)
    started = time.monotonic()
    with pytest.raises(BuildError) as err:
        Sandbox(without_bwrap="allow", limits=Limits(timeout=2)).build_wheel(
            sdist, tmp_path / "out", package="probe")
    assert time.monotonic() - started < 20
    assert "took longer than 2 s" in err.value.message and err.value.package == "probe"
    pids = [int(p) for p in pid_file.read_text().split()]
    deadline = time.monotonic() + 5
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
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


assert sys.platform  # the probe bodies use sys from the backend's globals


def test_data_dir_inside_a_mounted_directory_stays_hidden(tmp_path: Path) -> None:
    # A data dir inside the server's venv (mounted for the interpreter) is covered by a tmpfs.
    data = Path(sys.prefix).resolve() / f"venvd-test-data-{os.getpid()}"
    data.mkdir()
    try:
        (data / "store.sqlite3").write_text("secret")
        sdist = probe_sdist(tmp_path, f"return os.listdir({str(data)!r})")
        wheel = Sandbox(hidden=[data]).build_wheel(sdist, tmp_path / "out", package="probe")
        assert facts(wheel) == []
    finally:
        (data / "store.sqlite3").unlink()
        data.rmdir()


def test_service_wiring_of_unsafe_builds(tmp_path: Path) -> None:
    from venvd.service import Service, Settings

    def policy(**kwargs: object) -> str:
        embedded = bool(kwargs.pop("embedded", False))
        settings = Settings(data_dir=tmp_path / "d", **kwargs)  # type: ignore[arg-type]
        with Service.open(settings, embedded=embedded) as service:
            assert service.sandbox.requirements is not None  # venvd's own indexes
            return service.sandbox.without_bwrap

    assert policy() == "refuse"  # `venvd serve`
    assert policy(unsafe_builds=True) == "allow"  # `venvd serve --unsafe-builds`
    assert policy(embedded=True) == "warn"  # the in-process default of the CLI
