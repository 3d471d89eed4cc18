"""Impact fixtures: the store tests' databases (SQLite, and PostgreSQL under the postgres marker),
the service tests' servers, and a diamond of real packages on a real local index::

    top 1.0 ──▶ left ──▶ base<2        base 1.4.2, 2.0 (wheels)
        └────▶ right ─▶ base           solo 1.0 ──▶ base>=2
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.service.conftest import api, database_url, make_service
from tests.store.conftest import raw, store, store_url
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex

__all__ = ["LINUX_311", "api", "database_url", "diamond", "make_service", "raw", "store",
           "store_url"]

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture
def diamond(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "top", "1.0", requires_dist=["left", "right"]))
    index.add(make_wheel(src, "left", "1.0", requires_dist=["base<2"]))
    index.add(make_wheel(src, "right", "1.0", requires_dist=["base"]))
    index.add(make_wheel(src, "solo", "1.0", requires_dist=["base>=2"]))
    for version in ("1.4.2", "2.0"):
        index.add(make_wheel(src, "base", version))
    return index
