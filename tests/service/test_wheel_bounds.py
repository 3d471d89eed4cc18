"""The wheel bounds are server settings that reach every build."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def test_max_wheel_expanded_size_setting_refuses_a_big_wheel(
        local_index: Callable[..., LocalIndex], make_service: Callable[..., Service],
        tmp_path: Path) -> None:
    index = local_index()
    index.add(make_wheel(tmp_path / "src", "big", "1.0",
                         files={"big/__init__.py": "x = 1\n" * 5000}))
    service = make_service(index, max_wheel_expanded_size=10_000)
    doc = service.environments.create_from_json({"requirements": ["big"], "target": LINUX_311})
    deadline = time.monotonic() + 60
    while (status := service.environments.status(doc["id"]))["status"] not in ("ready", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["status"] == "failed"
    assert status["error"]["details"]["package"] == "big"
    assert "max_wheel_expanded_size" in status["error"]["message"]
    cache = service.settings.data_dir / "cache"
    assert not list(cache.glob("fragments-v1/*/*")) and not list(cache.glob("wheels-v1/*/*/*"))
