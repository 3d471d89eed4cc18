"""Hostile sdists: each fails with a BuildError naming the package, quickly, and leaves nothing
behind (no build directory, no process); the sandbox is the only thing standing between them and
the server, so each one tries for real."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.sandbox.probe import facts, probe_sdist
from venvd.errors import BuildError
from venvd.sandbox import Limits, Sandbox, bwrap_path
from venvd.sandbox._process import process_limit_holds

pytestmark = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")

FAST = Limits(timeout=20, memory_mb=1024, tmp_mb=8, disk_mb=32, file_mb=8, max_processes=32)


def _sandbox(tmp_path: Path, limits: Limits = FAST) -> Sandbox:
    work = tmp_path / "data" / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    return Sandbox(work_dir=work, limits=limits)


def _fails(tmp_path: Path, body: str, name: str, limits: Limits = FAST) -> BuildError:
    sandbox = _sandbox(tmp_path, limits)
    sdist = probe_sdist(tmp_path / "src", body, name=name)
    started = time.monotonic()
    with pytest.raises(BuildError) as err:
        wheel = sandbox.build_wheel(sdist, tmp_path / "out", package=name)
        pytest.fail(f"the hostile build succeeded and saw {facts(wheel)!r}")
    assert time.monotonic() - started < limits.timeout + 10
    assert err.value.package == name and name in err.value.message
    assert sandbox.work_dir is not None and list(sandbox.work_dir.iterdir()) == []
    assert not (tmp_path / "out").exists()
    return err.value


def test_no_network_not_even_loopback(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        error = _fails(tmp_path, f"""
            import socket
            with socket.create_connection(("127.0.0.1", {port}), timeout=3) as s:
                s.sendall(b"stolen")
            return "connected"
        """, "phones-home")
        with pytest.raises(BlockingIOError):
            listener.accept()  # no connection arrived
    assert "ConnectionRefusedError" in (error.log_tail or "") or "OSError" in (error.log_tail or "")


def test_sees_neither_the_data_dir_nor_venvd_variables(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "data" / "venvd.sqlite3"
    secret.parent.mkdir(parents=True)
    secret.write_text("the store")
    monkeypatch.setenv("VENVD_DATABASE_URL", "postgresql://u:hunter2@db/x")
    error = _fails(tmp_path, f"""
        seen = {{k: v for k, v in os.environ.items() if k.startswith("VENVD_")}}
        for path in ({str(secret)!r}, {str(secret.parent)!r}):
            if os.path.exists(path):
                seen[path] = os.listdir(path) if os.path.isdir(path) else open(path).read()
        if not seen:
            raise SystemExit("saw nothing of the server")
        return seen
    """, "snoop")
    assert "saw nothing of the server" in (error.log_tail or "")


def test_cannot_write_outside_its_build_directory(tmp_path: Path) -> None:
    victims = [tmp_path / "escaped", Path(os.path.realpath(sys.prefix)) / "escaped",
               Path("/usr/escaped")]
    error = _fails(tmp_path, f"""
        refused = []
        for path in {[str(v) for v in victims]!r}:
            try:
                with open(path, "w") as f:
                    f.write("pwned")
            except OSError as exc:
                refused.append(type(exc).__name__)
        if len(refused) == {len(victims)}:
            raise SystemExit("every write refused: " + ",".join(refused))
        return refused
    """, "escape-artist")
    assert "every write refused" in (error.log_tail or "")
    assert not any(v.exists() for v in victims)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _no_survivors(marker: str) -> None:
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker) == []


@pytest.mark.skipif(not process_limit_holds(), reason="root without a writable pids cgroup: "
                    "nothing bounds the number of processes")
def test_fork_bomb_is_bounded_and_dies_whole(tmp_path: Path) -> None:
    # Each process forks as fast as it can; children fork once more, then sleep. The process
    # limit (RLIMIT_NPROC; under root, whose processes it exempts, a pids cgroup) stops it.
    error = _fails(tmp_path, """
        import time
        forks = 0
        while True:
            try:
                pid = os.fork()
            except OSError as exc:
                print("fork refused after", forks, "forks:", exc, flush=True)
                raise SystemExit(3)
            if pid == 0:
                try:
                    os.fork()
                except OSError:
                    pass
                os.execv("/bin/sleep", ["sleep", "987655"])
            forks += 1
            if forks > 5000:
                return "unbounded"
    """, "fork-bomb", limits=Limits(timeout=8, memory_mb=512, max_processes=32))
    assert "fork refused" in (error.log_tail or "")
    forks = int((error.log_tail or "").split("fork refused after ")[1].split()[0])
    assert forks <= 40, error.log_tail
    _no_survivors("987655")


def test_filling_the_disk_is_stopped(tmp_path: Path) -> None:
    error = _fails(tmp_path, """
        import sys
        chunk = b"x" * (1024 * 1024)
        for where in ("/tmp/big", "one-big-file"):
            try:
                with open(where, "wb") as f:
                    for _ in range(64):
                        f.write(chunk)
            except OSError as exc:
                print(where, "refused:", exc, flush=True)
        n = 0
        while True:  # many files, each under the file size limit
            with open("fill-%d" % n, "wb") as f:
                f.write(chunk)
            n += 1
    """, "disk-filler")
    tail = error.log_tail or ""
    assert "/tmp/big refused" in tail and "one-big-file refused" in tail
    assert "more than 32 MB" in error.message


def test_never_ending_build_is_killed_at_the_wall_clock(tmp_path: Path) -> None:
    error = _fails(tmp_path, """
        import subprocess, time
        subprocess.Popen(["sleep", "987656"], start_new_session=True)
        time.sleep(1000)
    """, "sleeper", limits=Limits(timeout=2))
    assert "took longer than 2 s" in error.message
    _no_survivors("987656")
