"""Builds that fail on a bug, or whose builder dies each time, are not retried forever: each start
counts an attempt in the record, and after `build_max_attempts` the build stays failed."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fleet._queue_support import LINUX_311
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings


@pytest.fixture
def index(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    served = local_index()
    served.add(make_wheel(tmp_path / "dists", "tool", "1.0"))
    return served


def test_a_build_failing_on_a_bug_is_retried_a_bounded_number_of_times(
    index: LocalIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=index.url,
                                    http_retries=1, build_max_attempts=3))
    try:
        real_download = service.index.download
        buggy = [True]

        def download(*args: Any, **kwargs: Any) -> Any:
            if buggy[0]:
                raise KeyError("a bug in the downloader")
            return real_download(*args, **kwargs)

        monkeypatch.setattr(service.index, "download", download)
        body = {"requirements": ["tool"], "target": LINUX_311}
        attempts = []
        for _ in range(5):
            doc = service.environments.create_from_json(body)
            final = service.environments.wait(doc["id"], timeout=60)
            assert final["status"] == "failed" and final["error"]["code"] == "internal_error"
            record = service.store.get_environment(doc["id"])
            assert record is not None
            attempts.append(record.attempts)
        assert attempts == [1, 2, 3, 3, 3]

        # A failure of the index (not a bug) is retried, and resets the count.
        buggy[0] = False
        service.store.update_environment(
            doc["id"], error={"code": "upstream_error", "message": "503", "details": {}})
        doc = service.environments.create_from_json(body)
        assert service.environments.wait(doc["id"], timeout=60)["status"] == "ready"
        record = service.store.get_environment(doc["id"])
        assert record is not None and record.attempts == 1
    finally:
        service.close()


def test_a_worker_gives_up_a_build_whose_builder_died_too_often(
    index: LocalIndex, tmp_path: Path, rabbitmq_url: str, unique_queue: str
) -> None:
    service = Service.open(
        Settings(data_dir=tmp_path / "data", index_url=index.url, queue_url=rabbitmq_url,
                 queue_name=unique_queue, build_max_attempts=3),
        relay=False,
    )
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        env_id = "d" * 64
        service.store.create_environment(env_id, "lock", "target", status="building")
        service.store.update_environment(
            env_id, attempts=3, owner_host=socket.gethostname(), owner_pid=int(dead.stdout),
            owner_start="gone", owner_token="dead-owner",
        )
        assert service.environments.run_job(env_id) == "gave up"
        record = service.store.get_environment(env_id)
        assert record is not None and record.status == "failed"
        assert record.error["code"] == "internal_error"
        assert "started 3 times" in record.error["message"]
        assert service.environments.run_job(env_id) == "skipped"  # a redelivery of it
        assert service.environments.run_job("e" * 64) == "dropped"  # no record
    finally:
        service.close()
