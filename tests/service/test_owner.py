"""Whether a build's recorded owner still lives: pid gone, pid reused, or a closed Service."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from venvd.service._owner import Owner, owner_is_dead, process_start

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def test_a_live_service_of_this_process_is_alive_until_released() -> None:
    owner = Owner.new()
    assert owner.pid == os.getpid() and owner.start == process_start(os.getpid())
    assert not owner_is_dead(owner.pid, owner.start, owner.token)
    owner.release()
    assert owner_is_dead(owner.pid, owner.start, owner.token)


def test_another_process_is_alive_while_it_runs_and_dead_after() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = process_start(child.pid)
        assert start
        assert not owner_is_dead(child.pid, start, "token")
        # The same pid with another start identity: a later process got the pid.
        assert owner_is_dead(child.pid, start + "0", "token")
    finally:
        child.kill()
        child.wait()
    assert owner_is_dead(child.pid, start, "token")


def test_nothing_recorded_is_never_dead() -> None:
    assert not owner_is_dead(None, None, None)
    assert not owner_is_dead(os.getpid(), None, None)
