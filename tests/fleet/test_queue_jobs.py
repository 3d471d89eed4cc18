"""The worker's side of a job and the relay, in one process on the real broker: a build owned by a
process of another host is left alone while that owner renews its lease, and taken over (by the
relay's re-published job) once the lease has run out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet._queue_support import LINUX_311
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.queue import BuildQueue
from venvd.service import Service, Settings
from venvd.service._jobs import QueueJobs
from venvd.service._owner import owner_is_dead, process_start


@pytest.fixture
def index(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    served = local_index()
    served.add(make_wheel(tmp_path / "dists", "tool", "1.0"))
    return served


def test_a_build_of_a_silent_owner_on_another_host_is_republished_and_taken_over(
    index: LocalIndex, tmp_path: Path, rabbitmq_url: str, unique_queue: str
) -> None:
    service = Service.open(
        Settings(data_dir=tmp_path / "data", index_url=index.url, queue_url=rabbitmq_url,
                 queue_name=unique_queue, build_lease_seconds=1, queue_sweep_seconds=1),
        relay=False,  # rounds run by hand below
    )
    queue = BuildQueue(rabbitmq_url, unique_queue)
    try:
        jobs = service.environments.jobs
        assert isinstance(jobs, QueueJobs)
        doc = service.environments.create_from_json({"requirements": ["tool"], "target": LINUX_311})
        env_id = doc["id"]
        assert doc["status"] == "queued" and queue.depth() == 1  # published; nobody consumes
        service.store.update_environment(
            env_id, status="building", owner_host="another-host", owner_pid=1,
            owner_start="boot/1", owner_token="foreign",
        )
        assert service.environments.run_job(env_id) == "held"  # its lease is fresh
        assert jobs.sweep() == []

        time.sleep(1.5)  # the foreign owner writes nothing: its lease runs out
        assert jobs.sweep() == [env_id]
        assert jobs.sweep() == []  # published once per period
        assert queue.depth() == 2
        assert service.environments.run_job(env_id) == "built"
        record = service.store.get_environment(env_id)
        assert record is not None and record.status == "ready", record
        assert record.owner_token == service.owner.token and record.attempts == 1
        assert service.environments.run_job(env_id) == "skipped"  # the other copy of the job
    finally:
        queue.close()
        service.close()


def test_a_killed_owner_not_yet_reaped_is_dead() -> None:
    """kill -9 closes the owner's broker connection (its job is redelivered at once) before its
    parent reaps it: a zombie runs nothing, and its build must be taken over, not skipped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = process_start(child.pid)
        assert start and not owner_is_dead(child.pid, start, "token")
        os.kill(child.pid, signal.SIGKILL)
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":  # not waited for: a zombie
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert process_start(child.pid) is None
        assert owner_is_dead(child.pid, start, "token")
    finally:
        child.kill()
        child.wait()
