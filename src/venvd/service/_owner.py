"""Who owns a build: a process identity stored with the build, and whether that process still lives.

An owner is (host, pid, start identity, token). The start identity tells a live process from a later
one that got the same pid (Linux: the boot id and the process's start time in clock ticks); the token
is random per `Service`, so that a Service closed in a process that still runs is known dead too.
Only owners on this host can be judged: a build owned by another host is never taken over here.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import threading
from pathlib import Path

__all__ = ["Owner", "owner_is_dead"]

# Tokens of the Services open in this process (a Service registers on open, leaves on close).
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str
    token: str

    @classmethod
    def new(cls) -> Owner:
        """A fresh owner for this process, registered as live until `release()`."""
        pid = os.getpid()
        owner = cls(socket.gethostname(), pid, process_start(pid) or "", secrets.token_hex(16))
        with _LIVE_LOCK:
            _LIVE.add(owner.token)
        return owner

    def release(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self.token)

    def columns(self) -> dict[str, str | int]:
        """The store's owner_* fields for this owner."""
        return {
            "owner_host": self.host,
            "owner_pid": self.pid,
            "owner_start": self.start,
            "owner_token": self.token,
        }


def owner_is_dead(pid: int | None, start: str | None, token: str | None) -> bool:
    """True when the process (of this host) recorded as (pid, start, token) surely no longer runs
    the build: the pid is gone, belongs to a later process, or is this very process while that
    token's Service is closed. False when it may still be alive (or nothing is recorded)."""
    if pid is None or token is None:
        return False
    now = process_start(pid)
    if now is None:
        return True  # no such process
    if pid == os.getpid() and (now == start or not start):
        with _LIVE_LOCK:
            return token not in _LIVE
    if now and start:
        return now != start  # another process got the pid since
    # No start identity on this platform: the pid's existence is all there is to go on.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def process_start(pid: int) -> str | None:
    """The start identity of process `pid` ("<boot id>/<start ticks>"), "" where the platform does
    not tell it, None when no process `pid` exists or it has exited (a zombie; on platforms with
    /proc)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return ""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ""
    # Field 22 (starttime), counted after the command name, which may itself hold spaces or ")".
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20:
        return ""
    if fields[0] in ("Z", "X"):
        return None  # a zombie (killed, not yet reaped by its parent) runs nothing any more
    return f"{_boot_id()}/{fields[19]}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
