"""Run one sandboxed child to its end: wall clock, disk and process-count guards, its log.

`run_child` waits for the child (bubblewrap, or the bare interpreter for unsafe builds) until the
deadline, kills its whole tree on timeout (its process group and, with bubblewrap, its PID
namespace), and meanwhile checks the build directory's size every half second. When the server
runs as root, RLIMIT_NPROC does not hold inside the user namespace (root's processes are exempt),
so a writable cgroup `pids` controller, when there is one, bounds the number of processes instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ChildResult", "process_limit_holds", "run_child"]

_POLL = 0.5
_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


@dataclasses.dataclass(frozen=True)
class ChildResult:
    returncode: int | None  # None: killed by venvd (see `killed`)
    killed: str | None = None  # "timeout" or "disk"


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None, cwd: Path, log: Path,
              deadline: float, watch: Path, max_disk_bytes: int,
              max_processes: int | None, pass_fds: Sequence[int] = ()) -> ChildResult:
    """Run `cmd` with output to `log` until `deadline` (time.monotonic()); see module docstring."""
    cgroup = _pids_cgroup(max_processes) if max_processes and os.geteuid() == 0 else None
    argv = list(cmd)
    if cgroup is not None:
        # Enter the cgroup before exec, so that no process of the tree starts outside it.
        argv = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup), *argv]
    try:
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    pass_fds=tuple(pass_fds))
            killed: str | None = None
            try:
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        killed = "timeout"
                        break
                    try:
                        proc.wait(timeout=min(_POLL, remaining))
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    if _size(watch, max_disk_bytes) > max_disk_bytes:
                        killed = "disk"
                        break
            finally:
                if proc.poll() is None:
                    _kill_group(proc, cgroup)
        return ChildResult(None if killed else proc.returncode, killed)
    finally:
        if cgroup is not None:
            _remove_cgroup(cgroup)


def process_limit_holds() -> bool:
    """Whether a build's process count is bounded here: RLIMIT_NPROC holds for any uid but root;
    root needs a writable pids cgroup."""
    if os.geteuid() != 0:
        return True
    group = _pids_cgroup(1)
    if group is None:
        return False
    _remove_cgroup(group)
    return True


def _kill_group(proc: subprocess.Popen[bytes], cgroup: Path | None) -> None:
    """Kill the child's process group (and with bubblewrap its PID namespace goes with it); only
    called while the leader is not yet reaped, so its group id cannot have been reused."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if cgroup is not None:
        _kill_cgroup(cgroup)
    proc.wait()


def _size(root: Path, limit: int) -> int:
    """Bytes under `root` (stops counting past `limit`); each file counts at least one block, so
    a flood of empty files is bounded too."""
    total = 0
    stack = [str(root)]
    while stack and total <= limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            total += 4096
                        else:
                            total += max(4096, entry.stat(follow_symlinks=False).st_blocks * 512)
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _pids_cgroup(max_processes: int) -> Path | None:
    for root in _CGROUP_ROOTS:
        if not (root / "cgroup.procs").exists():
            continue
        group = root / f"venvd-build-{secrets.token_hex(6)}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / "pids.max").write_text(str(max_processes))
            return group
        except OSError:
            _remove_cgroup(group)
    return None


def _kill_cgroup(group: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _remove_cgroup(group: Path) -> None:
    for _ in range(100):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            _kill_cgroup(group)
            time.sleep(0.02)
